#!/usr/bin/env bash
# 本机联邦 Local federation on loopback: the province 430000, the cities 430100 (长沙市) and 430300 (湘潭市), and
# the counties 430102 (芙蓉区), 430104 (岳麓区) under 长沙市 and 430302 (雨湖区), 430321 (湘潭县) under 湘潭市.
#
#   deploy/local/federation.sh up DIR [--tls P]  fresh CA, keys, certificates, configs and registry; start all
#   deploy/local/federation.sh down DIR          stop every running node of DIR (SIGTERM, wait)
#   deploy/local/federation.sh start DIR CODE    start one node (e.g. after `stop`)
#   deploy/local/federation.sh stop DIR CODE     stop one node
#   deploy/local/federation.sh status DIR        which nodes run, with their pids
#   deploy/local/federation.sh demo DIR [--keep] [--tls P]
#                                                up, import the sample data at the four counties, wait until the
#                                                province holds all of it, show the province's view, then down
#                                                (unless --keep)
#
# --tls P chooses the federation's TLS profile: ecdsa (default) or sm2 (国密 SM2/SM3/SM4, RFC 8998): the CA, every
# certificate and every node's `tls_profile` follow it.
#
# Each node's data dir is DIR/<code>; its pid is in DIR/<code>/node.pid (written by the node), its log in
# DIR/<code>/node.log. `up` and `demo` need DIR empty or missing, or holding a stopped earlier federation made by
# this script (which is then replaced). GONGXIN_NODE_BIN and GONGXIN_BIN, when both set, name the binaries to use
# and nothing is built. GONGXIN_FED_TIMEOUT (seconds, default 120) bounds the wait in `demo`.
set -euo pipefail

# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PROVINCE=430000
CITIES=(430100 430300)
COUNTIES=(430102 430104 430302 430321)
CODES=("$PROVINCE" "${CITIES[@]}" "${COUNTIES[@]}")
declare -A PARENT=([430100]=430000 [430300]=430000 [430102]=430100 [430104]=430100 [430302]=430300 [430321]=430300)
declare -A SAMPLE_EXT=([430102]=csv [430104]=csv [430302]=xlsx [430321]=csv)
MARKER=.gongxin-federation

usage() {
    sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

is_code() {
    local c
    for c in "${CODES[@]}"; do [[ "$c" == "$1" ]] && return 0; done
    return 1
}

# Absolute path of an existing federation dir made by this script.
existing_dir() {
    [[ -d "$1" && -f "$1/$MARKER" ]] || die "$1 不是本脚本创建的联邦目录 is not a federation directory made by this script (no $MARKER)"
    (cd "$1" && pwd -P)
}

# Prints the pid of the node serving DIR/CODE, or nothing if it is not running. The pid comes from node.pid and
# is trusted only if that process is alive and is a gongxin node serving exactly that data dir (pids get reused).
node_pid() {
    local dd="$1/$2" pid
    [[ -f "$dd/node.pid" ]] || return 0
    pid="$(tr -dc '0-9' <"$dd/node.pid")"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
    if [[ -r "/proc/$pid/cmdline" ]]; then
        local cmd
        cmd="$(tr '\0' '\n' <"/proc/$pid/cmdline")"
        grep -qxF -- "run" <<<"$cmd" && grep -qxF -- "$dd" <<<"$cmd" || return 0
    fi
    echo "$pid"
}

# Starts DIR/CODE in the background (no wait). The node's stdout and stderr go to node.log (appended), so this
# script's own output pipes are not held open by the nodes. Sets LAST_CHILD.
spawn_node() {
    local dd="$1/$2"
    [[ -f "$dd/gongxin.toml" ]] || die "$dd is not an initialised node"
    if [[ -n "$(node_pid "$1" "$2")" ]]; then
        die "节点 $2 已在运行 node $2 is already running (pid $(node_pid "$1" "$2"))"
    fi
    printf '\n---- %s start %s\n' "$(date -u +%FT%TZ)" "$2" >>"$dd/node.log"
    RUST_LOG="${RUST_LOG:-info}" "$NODE_BIN" run --data-dir "$dd" </dev/null >>"$dd/node.log" 2>&1 &
    LAST_CHILD=$!
}

start_nodes() {
    local dir="$1" c
    shift
    local -A child=()
    for c in "$@"; do
        spawn_node "$dir" "$c"
        child[$c]=$LAST_CHILD
        STARTED+=("$c")
    done
    for c in "$@"; do
        wait_admin "$dir/$c" "${child[$c]}" 60
        info "已启动 started $c  pid $(node_pid "$dir" "$c")"
    done
}

# SIGTERM to every given node that runs, then wait (up to 30 s each) until they are gone.
stop_nodes() {
    local dir="$1" c pid i failed=0
    shift
    local -A pids=()
    for c in "$@"; do
        pid="$(node_pid "$dir" "$c")"
        if [[ -n "$pid" ]]; then
            kill -TERM "$pid" 2>/dev/null || true
            pids[$c]=$pid
        fi
    done
    for c in "$@"; do
        pid="${pids[$c]:-}"
        if [[ -z "$pid" ]]; then
            info "未运行 not running: $c"
            continue
        fi
        for ((i = 0; i < 300; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            printf '错误 error: node %s (pid %s) did not stop within 30 s after SIGTERM; see %s\n' "$c" "$pid" "$dir/$c/node.log" >&2
            failed=1
        else
            info "已停止 stopped $c (pid $pid)"
        fi
    done
    return $failed
}

# Empty/missing DIR, or a stopped federation made by this script (replaced: only the entries it creates are
# removed). Sets DIR to its absolute path.
prepare_dir() {
    if [[ -e "$DIR" && ! -d "$DIR" ]]; then
        die "$DIR exists and is not a directory"
    fi
    mkdir -p "$DIR"
    DIR="$(cd "$DIR" && pwd -P)"
    if [[ -z "$(ls -A "$DIR")" ]]; then
        : >"$DIR/$MARKER"
        return
    fi
    [[ -f "$DIR/$MARKER" ]] || die "$DIR 不是空目录，也不是本脚本创建的联邦目录；拒绝使用 (not empty and not a federation made by this script; refusing to touch it)"
    local c running=""
    for c in "${CODES[@]}"; do
        [[ -n "$(node_pid "$DIR" "$c")" ]] && running+=" $c"
    done
    [[ -z "$running" ]] || die "$DIR 中仍有节点在运行 nodes of $DIR are still running:$running; run: $0 down $DIR"
    local known=(pki rejects lists "$MARKER" "${CODES[@]}") leftover
    leftover="$(cd "$DIR" && ls -A | grep -vxF "$(printf '%s\n' "${known[@]}")" || true)"
    [[ -z "$leftover" ]] || die "$DIR 含有不属于联邦的文件，拒绝清理 (holds files this script did not create, refusing to clean it): $(echo $leftover)"
    info "清理上次的联邦 removing the previous federation in $DIR"
    local e
    for e in "${known[@]}"; do
        rm -rf -- "${DIR:?}/$e"
    done
    : >"$DIR/$MARKER"
}

cmd_up() {
    local t0=$SECONDS c
    step "0. 准备目录与程序 Prepare the directory and the binaries"
    prepare_dir
    resolve_bins

    step "1. 新建联邦 CA、节点密钥和证书 Federation CA, node keys and TLS certificates (tls_profile = $TLS)"
    quiet gx pki ca init --dir "$DIR/pki" --algorithm "$TLS"
    info "CA: $DIR/pki/ca.pem ($TLS)"
    for c in "${CODES[@]}"; do
        quiet gxnode init --code "$c" --data-dir "$DIR/$c"
        quiet gx pki issue node --ca-dir "$DIR/pki" --code "$c" --out "$DIR/$c/tls" --stem node
        info "$c: $DIR/$c/node.pub.pem, $DIR/$c/tls/node.pem"
    done
    for c in "${CODES[@]}"; do
        mkdir -p "$DIR/$c/anchor"
        cp "$DIR/pki/ca.pem" "$DIR/$c/anchor/ca.pem"
        cp "$DIR/$PROVINCE/node.pub.pem" "$DIR/$c/anchor/province.pub.pem"
    done

    step "2. 选择本机空闲端口并写入 [federation] 配置 Pick free loopback ports, write the [federation] sections"
    local -A port=()
    local ports
    read -r -a ports < <(python3 -c 'import socket
s = [socket.socket() for _ in range(3)]
for x in s: x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))')
    port[$PROVINCE]=${ports[0]}
    port[${CITIES[0]}]=${ports[1]}
    port[${CITIES[1]}]=${ports[2]}
    for c in "${CODES[@]}"; do
        {
            printf '\n# 由 deploy/local/federation.sh 添加 / added by deploy/local/federation.sh\n'
            printf '[federation]\n'
            printf 'province_key = "anchor/province.pub.pem"\n'
            printf 'ca_cert = "anchor/ca.pem"\n'
            printf 'tls_cert = "tls/node.pem"\n'
            printf 'tls_key = "tls/node.key"\n'
            [[ -n "${port[$c]:-}" ]] && printf 'listen = "127.0.0.1:%s"\n' "${port[$c]}"
            if [[ -n "${PARENT[$c]:-}" ]]; then
                printf 'parent_code = "%s"\n' "${PARENT[$c]}"
                printf 'parent_addr = "127.0.0.1:%s"\n' "${port[${PARENT[$c]}]}"
            fi
            printf 'sync_interval_seconds = 1\n'
            printf 'tls_profile = "%s"\n' "$TLS"
        } >>"$DIR/$c/gongxin.toml"
        quiet gxnode config check --data-dir "$DIR/$c"
        local desc=()
        [[ -n "${port[$c]:-}" ]] && desc+=("listen 127.0.0.1:${port[$c]}")
        [[ -n "${PARENT[$c]:-}" ]] && desc+=("parent ${PARENT[$c]} at 127.0.0.1:${port[${PARENT[$c]}]}")
        info "$c: ${desc[*]}"
    done

    step "3. 启动省级节点并登记全部节点 Start the province, register every node, apply the registry"
    start_nodes "$DIR" "$PROVINCE"
    for c in "${CODES[@]}"; do
        local args=(registry add --data-dir "$DIR/$PROVINCE" --code "$c" --key "$DIR/$c/node.pub.pem" --cert "$DIR/$c/tls/node.pem")
        [[ -n "${PARENT[$c]:-}" ]] && args+=(--parent "${PARENT[$c]}")
        quiet gx "${args[@]}"
    done
    gx registry apply --data-dir "$DIR/$PROVINCE"

    step "4. 启动市级节点，等它们收到名册，再启动县级节点 Start the cities, wait for them to hold the registry, start the counties"
    start_nodes "$DIR" "${CITIES[@]}"
    # A city accepts a county only once the registry has reached it by down-sync; starting the counties after
    # that spares them a refused first contact and the reconnect backoff that follows.
    wait_registry "${CITIES[@]}"
    start_nodes "$DIR" "${COUNTIES[@]}"

    step "联邦已启动 Federation up in $((SECONDS - t0)) s: $DIR  (停止 stop: $0 down $DIR)"
}

cmd_down() {
    DIR="$(existing_dir "$DIR")"
    resolve_bins_quiet
    step "停止联邦 Stopping the federation in $DIR"
    # Counties first, the province last: children stop pushing before their parents go away.
    stop_nodes "$DIR" "${COUNTIES[@]}" "${CITIES[@]}" "$PROVINCE"
}

cmd_start() {
    DIR="$(existing_dir "$DIR")"
    is_code "$CODE" || die "$CODE is not a node of this federation (${CODES[*]})"
    resolve_bins_quiet
    start_nodes "$DIR" "$CODE"
}

cmd_stop() {
    DIR="$(existing_dir "$DIR")"
    is_code "$CODE" || die "$CODE is not a node of this federation (${CODES[*]})"
    stop_nodes "$DIR" "$CODE"
}

cmd_status() {
    DIR="$(existing_dir "$DIR")"
    local c pid
    for c in "${CODES[@]}"; do
        pid="$(node_pid "$DIR" "$c")"
        if [[ -n "$pid" ]]; then
            printf '%s  运行中 running, pid %s\n' "$c" "$pid"
        else
            printf '%s  已停止 stopped\n' "$c"
        fi
    done
}

# start/down reuse binaries without building; `up` builds unless told which to use.
resolve_bins_quiet() {
    NODE_BIN="${GONGXIN_NODE_BIN:-$GX_ROOT/target/debug/gongxin-node}"
    CLI_BIN="${GONGXIN_BIN:-$GX_ROOT/target/debug/gongxin}"
    [[ -x "$NODE_BIN" && -x "$CLI_BIN" ]] || die "binaries not found ($NODE_BIN, $CLI_BIN); run \`$0 up\` first or set GONGXIN_NODE_BIN and GONGXIN_BIN"
    unset GONGXIN_DATA_DIR
}

registry_version() {
    "$CLI_BIN" peer list --data-dir "$DIR/$1" -o json 2>/dev/null | json_field registry_version 2>/dev/null || true
}

# Waits (up to 60 s) until every given node holds the province's current registry version.
wait_registry() {
    local want c have i
    want="$(registry_version "$PROVINCE")"
    [[ "$want" =~ ^[0-9]+$ ]] || die "cannot read the registry version of the province (gongxin peer list --data-dir $DIR/$PROVINCE)"
    for c in "$@"; do
        for ((i = 0; ; i++)); do
            have="$(registry_version "$c")"
            [[ "$have" == "$want" ]] && break
            ((i < 600)) || die "节点 $c 60 秒内未收到名册 node $c did not receive registry version $want within 60 s (has '${have}'); see $DIR/$c/node.log"
            sleep 0.1
        done
        info "$c 已有名册 holds registry version $want"
    done
}

# One poll: compares each county's own log size with the province's mirror of it. Prints a progress line;
# returns 0 when the province holds every county's log in full.
province_complete() {
    local peers c own
    peers="$("$CLI_BIN" peer list --data-dir "$DIR/$PROVINCE" -o json 2>/dev/null)" || peers='{}'
    local own_sizes=()
    for c in "${COUNTIES[@]}"; do
        own="$(log_size "$DIR/$c")"
        own_sizes+=("$c=$own")
    done
    python3 - "$peers" "${own_sizes[@]}" <<'PY'
import json, sys
try:
    logs = {l["origin"]: l["size"] for l in json.loads(sys.argv[1]).get("logs", [])}
except (ValueError, KeyError, TypeError):
    logs = {}
want = dict(a.split("=") for a in sys.argv[2:])
parts, done = [], True
for county, size in want.items():
    have = logs.get(county, 0)
    parts.append(f"{county} {have}/{size}")
    done = done and have == int(size)
print("  省级已有 province holds: " + ", ".join(parts), flush=True)
sys.exit(0 if done else 1)
PY
}

cmd_demo() {
    local t0=$SECONDS c
    cmd_up

    step "5. 在四个县级节点导入样例数据（故意含错误行，退出码 1）Import the sample exports at the four counties (bad rows on purpose)"
    mkdir -p "$DIR/rejects"
    local t_import=$SECONDS
    for c in "${COUNTIES[@]}"; do
        local kind
        for kind in license penalty; do
            local f="$GX_SAMPLE/${c}_${kind}.${SAMPLE_EXT[$c]}"
            gx_allow_rejects import --data-dir "$DIR/$c" --kind "$kind" "$f" --rejects "$DIR/rejects/${c}_${kind}.rejects.csv"
        done
    done
    local t_sync=$SECONDS

    local limit="${GONGXIN_FED_TIMEOUT:-120}"
    step "6. 等待省级节点收齐各县数据（最长 ${limit} 秒）Wait until the province holds every county's log (up to ${limit} s)"
    local deadline=$((SECONDS + limit))
    until province_complete; do
        if ((SECONDS >= deadline)); then
            for c in "${CODES[@]}"; do
                printf -- '---- %s/node.log (last lines)\n' "$DIR/$c" >&2
                tail -n 8 "$DIR/$c/node.log" >&2 || true
            done
            die "省级节点 ${limit} 秒内未收齐各县数据 the province did not receive every county's log within ${limit} s (node logs above; raise GONGXIN_FED_TIMEOUT to wait longer)"
        fi
        sleep 1
    done
    info "同步完成 synced: $((SECONDS - t_sync)) s after the imports (imports took $((t_sync - t_import)) s)"

    step "7. 省级视图：各节点与日志 The province's view: peers and the logs it holds"
    gx peer list --data-dir "$DIR/$PROVINCE"

    local uscc
    uscc="$(pick_uscc 430321)"
    step "8. 在省级节点查询湘潭县的主体 Query, at the province, an entity of 湘潭县 430321: $uscc"
    gx query --data-dir "$DIR/$PROVINCE" --uscc "$uscc"

    step "9. 联合惩戒核查：省级发布措施清单，芙蓉区认定名单，湘潭县核查 Joint punishment: the province publishes the measure catalogue, 芙蓉区 430102 lists $uscc, 湘潭县 430321 checks it"
    gx catalogue publish --data-dir "$DIR/$PROVINCE"
    local authority
    authority="$(pick_uscc 430102)"
    mkdir -p "$DIR/lists"
    python3 - "$uscc" "$authority" >"$DIR/lists/430102.json" <<'PY'
import json, sys
print(json.dumps({
    "kind": "list_entry",
    "subject": {"name": "样例主体", "category": "法人及非法人组织", "uscc": sys.argv[1]},
    "list_type": "严重失信主体名单",
    "reason": "拒不履行生效判决（演示）",
    "basis": "国发〔2016〕33号",
    "decision_doc_no": "芙发改信用〔2026〕1号（演示）",
    "start": "2026-01-01",
    "end": "2099-12-31",
    "authority": "长沙市芙蓉区发展和改革局",
    "authority_uscc": sys.argv[2],
}, ensure_ascii=False))
PY
    gx record add --data-dir "$DIR/430102" "$DIR/lists/430102.json"
    local check_deadline=$((SECONDS + limit))
    until gx check --data-dir "$DIR/430321" --uscc "$uscc" --measure 政府采购 -o json 2>/dev/null | grep -q '"decision":"restrict"'; do
        ((SECONDS < check_deadline)) || die "湘潭县 ${limit} 秒内未收到芙蓉区的名单 430321 did not receive 430102's list entry within ${limit} s"
        sleep 1
    done
    gx check --data-dir "$DIR/430321" --uscc "$uscc" --measure 政府采购

    if [[ "$KEEP" == 1 ]]; then
        step "联邦保持运行 Federation left running (--keep). 停止 stop: $0 down $DIR"
    else
        step "10. 停止联邦 Stop the federation"
        stop_nodes "$DIR" "${COUNTIES[@]}" "${CITIES[@]}" "$PROVINCE"
    fi
    step "完成 Done in $((SECONDS - t0)) s"
}

# On a failed `up`/`demo`, stop the nodes this run started (unless --keep, to leave them for inspection).
STARTED=()
on_exit() {
    local rc=$?
    if [[ $rc -ne 0 && "${SUBCOMMAND:-}" =~ ^(up|demo)$ && "${KEEP:-0}" != 1 && ${#STARTED[@]} -gt 0 ]]; then
        echo "失败，停止本次启动的节点 failed; stopping the nodes this run started: ${STARTED[*]}" >&2
        stop_nodes "$DIR" "${STARTED[@]}" >&2 || true
    fi
}
trap on_exit EXIT

[[ $# -ge 2 ]] || usage
SUBCOMMAND="$1"
DIR="$2"
[[ -n "$DIR" ]] || usage
KEEP=0
TLS=ecdsa
# Options after DIR: --keep (demo only) and --tls ecdsa|sm2 (up and demo), in any order.
parse_opts() {
    local allow_keep="$1"
    shift
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --keep) [[ "$allow_keep" == 1 ]] || usage; KEEP=1 ;;
            --tls)
                [[ $# -ge 2 ]] || usage
                case "$2" in
                    sm2 | ecdsa) TLS="$2" ;;
                    *) die "--tls $2: 只能是 sm2 或 ecdsa / use sm2 or ecdsa" ;;
                esac
                shift
                ;;
            *) usage ;;
        esac
        shift
    done
}
case "$SUBCOMMAND" in
    up)
        parse_opts 0 "${@:3}"
        cmd_up # leaves the nodes running; on failure they are stopped (see on_exit)
        ;;
    down)
        [[ $# -eq 2 ]] || usage
        cmd_down
        ;;
    start | stop)
        [[ $# -eq 3 ]] || usage
        CODE="$3"
        "cmd_$SUBCOMMAND"
        ;;
    status)
        [[ $# -eq 2 ]] || usage
        cmd_status
        ;;
    demo)
        parse_opts 1 "${@:3}"
        cmd_demo
        ;;
    *) usage ;;
esac
