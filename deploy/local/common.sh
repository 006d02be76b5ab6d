# Shared helpers for deploy/local/demo.sh and deploy/local/federation.sh. Sourced, not run.
# shellcheck shell=bash

GX_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
GX_SAMPLE="$GX_ROOT/deploy/sample"

# Step header, Chinese and English.
step() {
    printf '\n==== %s\n' "$*"
}

info() {
    printf '  %s\n' "$*"
}

die() {
    printf '错误 error: %s\n' "$*" >&2
    exit 1
}

# Sets NODE_BIN and CLI_BIN. With GONGXIN_NODE_BIN and GONGXIN_BIN both set (tests pass their own binaries)
# nothing is built; otherwise `cargo build --locked` builds the two binaries in target/debug.
resolve_bins() {
    if [[ -n "${GONGXIN_NODE_BIN:-}" && -n "${GONGXIN_BIN:-}" ]]; then
        NODE_BIN="$GONGXIN_NODE_BIN"
        CLI_BIN="$GONGXIN_BIN"
        info "使用指定的程序 using the given binaries: $NODE_BIN, $CLI_BIN"
    else
        command -v cargo >/dev/null || die "cargo not found; install the Rust toolchain or set GONGXIN_NODE_BIN and GONGXIN_BIN"
        (cd "$GX_ROOT" && cargo build --locked -p gongxin-node -p gongxin-admin-cli)
        NODE_BIN="${GONGXIN_NODE_BIN:-$GX_ROOT/target/debug/gongxin-node}"
        CLI_BIN="${GONGXIN_BIN:-$GX_ROOT/target/debug/gongxin}"
    fi
    [[ -x "$NODE_BIN" ]] || die "node binary $NODE_BIN is not executable"
    [[ -x "$CLI_BIN" ]] || die "CLI binary $CLI_BIN is not executable"
    # The scripts always pass --data-dir explicitly; an operator's GONGXIN_DATA_DIR must not leak in.
    unset GONGXIN_DATA_DIR
}

gx() { "$CLI_BIN" "$@"; }
gxnode() { "$NODE_BIN" "$@"; }

# Runs a gongxin command whose exit 1 ("ran and found problems", e.g. rejected rows) is expected.
# Any other non-zero exit (usage error 2, node unreachable 3) aborts the script.
gx_allow_rejects() {
    local rc=0
    "$CLI_BIN" "$@" || rc=$?
    if [[ $rc -ne 0 && $rc -ne 1 ]]; then
        die "gongxin $* exited with $rc"
    fi
    if [[ $rc -eq 1 ]]; then
        info "（退出码 1：有被拒绝的行，符合预期 exit 1: some rows rejected, as expected）"
    fi
    return 0
}

# Reads one top-level field of the JSON document on stdin.
json_field() {
    python3 -c 'import json,sys; v=json.load(sys.stdin)[sys.argv[1]]; print(v if not isinstance(v,(dict,list)) else json.dumps(v, ensure_ascii=False))' "$1"
}

# Prints the log size of the node in DATA_DIR.
log_size() {
    "$CLI_BIN" log show --data-dir "$1" -o json | json_field size
}

# Waits until the node in DATA_DIR answers on its admin socket. Fails early if process PID (optional) exits.
wait_admin() {
    local dd="$1" pid="${2:-}" limit="${3:-60}" i
    for ((i = 0; i < limit * 10; i++)); do
        if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
            printf '%s\n' "---- $dd/node.log" >&2
            tail -n 30 "$dd/node.log" >&2 || true
            die "节点已退出 the node in $dd exited during start-up (see $dd/node.log)"
        fi
        if [[ -S "$dd/admin.sock" ]] && "$CLI_BIN" log show --data-dir "$dd" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
    done
    die "节点未就绪 the node in $dd did not answer on $dd/admin.sock within ${limit}s (see $dd/node.log)"
}

# Prints a unified social credit code that is the subject of accepted rows in both sample files of COUNTY
# (a licence and a penalty), so a query shows both kinds; falls back to any accepted licence subject.
# CSV samples only (UTF-8 with or without BOM, or GB18030).
pick_uscc() {
    local county="$1" lic="$GX_SAMPLE/${1}_license.csv" pen="$GX_SAMPLE/${1}_penalty.csv"
    local lic_json pen_json
    lic_json="$("$CLI_BIN" validate --kind license "$lic" -o json || true)"
    pen_json="$("$CLI_BIN" validate --kind penalty "$pen" -o json || true)"
    python3 - "$lic" "$pen" "$lic_json" "$pen_json" <<'PY'
import csv, json, sys

def subjects(path, report):
    bad = {e["row"] for e in json.loads(report)["errors"]}
    raw = open(path, "rb").read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("gb18030")
    rows = csv.reader(text.splitlines())
    header = next(rows)
    col = next(i for i, h in enumerate(header) if "统一社会信用代码" in h and "机关" not in h and "单位" not in h)
    out = []
    for n, row in enumerate(rows, start=1):
        code = row[col].strip() if col < len(row) else ""
        if n not in bad and len(code) == 18 and code != "00000000000000000X":
            out.append(code)
    return out

lic = subjects(sys.argv[1], sys.argv[3])
pen = set(subjects(sys.argv[2], sys.argv[4]))
both = [c for c in lic if c in pen]
pick = both[0] if both else (lic[0] if lic else "")
if not pick:
    sys.exit("no usable unified social credit code in " + sys.argv[1])
print(pick)
PY
}

# Runs a command, showing its output (stdout and stderr) only if it fails.
quiet() {
    local out rc=0
    out="$("$@" 2>&1)" || rc=$?
    if [[ $rc -ne 0 ]]; then
        printf '%s\n' "$out" >&2
        die "$* exited with $rc"
    fi
}
