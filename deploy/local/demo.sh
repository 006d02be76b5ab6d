#!/usr/bin/env bash
# 单节点演示 Single-node demo: one county node (芙蓉区 430102) end to end on the sample data in deploy/sample/.
#
#   deploy/local/demo.sh DIR
#
# Builds the binaries (cargo build --locked, debug), initialises a node in DIR/430102, runs it in the background,
# validates and imports the sample exports (re-importing one to show nothing is duplicated), queries an entity,
# shows the signed log head, exports an evaluator bundle to DIR/bundle and verifies it with `gongxin` and with
# OpenSSL alone, then stops the node.
#
# DIR must be empty or missing, or hold a previous run of this demo (then that run is replaced).
# GONGXIN_NODE_BIN and GONGXIN_BIN, when both set, name the binaries to use and nothing is built.
set -euo pipefail

# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

CODE=430102
MARKER=.gongxin-demo
# Everything this demo creates inside DIR, and nothing else is ever removed.
DEMO_ENTRIES=("$CODE" bundle rejects "$MARKER")

usage() {
    echo "用法 usage: $0 DIR" >&2
    exit 2
}

[[ $# -eq 1 && -n "$1" ]] || usage
DIR="$1"

# Refuse anything but an empty/missing DIR or a previous demo run; remove only the entries this demo creates.
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
    if [[ ! -f "$DIR/$MARKER" ]]; then
        die "$DIR 不是空目录，也不是以前的演示目录；拒绝使用 (not empty and not a previous demo; refusing to touch it)"
    fi
    local pidfile="$DIR/$CODE/node.pid"
    if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        die "上次演示的节点仍在运行 the previous demo's node is still running (pid $(cat "$pidfile")); stop it first: kill $(cat "$pidfile")"
    fi
    local leftover
    leftover="$(cd "$DIR" && ls -A | grep -vxF -e "$CODE" -e bundle -e rejects -e "$MARKER" || true)"
    if [[ -n "$leftover" ]]; then
        die "$DIR 含有不属于演示的文件，拒绝清理 (holds files the demo did not create, refusing to clean it): $(echo $leftover)"
    fi
    info "清理上次演示 removing the previous demo run in $DIR"
    local e
    for e in "${DEMO_ENTRIES[@]}"; do
        rm -rf -- "${DIR:?}/$e"
    done
    : >"$DIR/$MARKER"
}

NODE_CHILD=""
cleanup() {
    if [[ -n "$NODE_CHILD" ]] && kill -0 "$NODE_CHILD" 2>/dev/null; then
        echo "停止节点（异常退出）stopping the node after a failure (pid $NODE_CHILD)" >&2
        kill -TERM "$NODE_CHILD" 2>/dev/null || true
        wait "$NODE_CHILD" 2>/dev/null || true
    fi
}
trap cleanup EXIT

START=$SECONDS

step "0. 准备目录与程序 Prepare the directory and the binaries"
prepare_dir
resolve_bins
DD="$DIR/$CODE"
LIC="$GX_SAMPLE/${CODE}_license.csv"
PEN="$GX_SAMPLE/${CODE}_penalty.csv"
mkdir -p "$DIR/rejects"

step "1. 初始化县级节点 芙蓉区 $CODE  Initialise the county node"
gxnode init --code "$CODE" --data-dir "$DD"
gxnode config check --data-dir "$DD"

step "2. 后台启动节点 Start the node in the background (log: $DD/node.log)"
RUST_LOG="${RUST_LOG:-info}" "$NODE_BIN" run --data-dir "$DD" >"$DD/node.log" 2>&1 &
NODE_CHILD=$!
wait_admin "$DD" "$NODE_CHILD" 60
info "节点已就绪 node ready: child pid $NODE_CHILD, node.pid $(cat "$DD/node.pid"), admin socket $DD/admin.sock"
[[ "$(cat "$DD/node.pid")" == "$NODE_CHILD" ]] || die "node.pid ($(cat "$DD/node.pid")) is not the started process ($NODE_CHILD)"

step "3. 离线校验部门导出文件（故意含错误行，退出码 1）Validate a department export offline (has bad rows on purpose)"
gx_allow_rejects validate --kind license "$LIC"

step "4. 导入行政许可和行政处罚 Import the licence and penalty exports (rejected rows go to $DIR/rejects/)"
gx_allow_rejects import --data-dir "$DD" --kind license "$LIC" --rejects "$DIR/rejects/${CODE}_license.rejects.csv"
gx_allow_rejects import --data-dir "$DD" --kind penalty "$PEN" --rejects "$DIR/rejects/${CODE}_penalty.rejects.csv"
SIZE1="$(log_size "$DD")"
info "日志条目数 log size: $SIZE1"

step "5. 重复导入同一文件：不会重复入库 Import the licence file again: nothing is duplicated"
gx_allow_rejects import --data-dir "$DD" --kind license "$LIC" --rejects "$DIR/rejects/${CODE}_license.again.rejects.csv"
SIZE2="$(log_size "$DD")"
[[ "$SIZE1" == "$SIZE2" ]] || die "log grew from $SIZE1 to $SIZE2 on a repeated import"
info "日志条目数不变 log size unchanged: $SIZE2"

USCC="$(pick_uscc "$CODE")"
step "6. 查询主体 Query one entity: $USCC"
gx query --data-dir "$DD" --uscc "$USCC"

step "7. 日志头与最新签名检查点 Log head and the latest signed checkpoint"
gx log show --data-dir "$DD"

step "8. 导出评估证据包 Export the evaluator bundle to $DIR/bundle"
gx export-bundle --data-dir "$DD" --out "$DIR/bundle"

step "9. 离线核验证据包 Verify the bundle offline with gongxin"
gx verify-bundle "$DIR/bundle"

step "10. 仅用 OpenSSL 核验 Verify the bundle with OpenSSL alone"
bash "$DIR/bundle/verify-openssl.sh" "$DIR/bundle"

step "11. 停止节点 Stop the node (SIGTERM)"
kill -TERM "$NODE_CHILD"
RC=0
wait "$NODE_CHILD" || RC=$?
NODE_CHILD=""
[[ $RC -eq 0 ]] || die "the node exited with $RC after SIGTERM (see $DD/node.log)"
info "节点已正常退出 node stopped cleanly"

step "完成 Done in $((SECONDS - START)) s. 数据目录 data dir: $DD  证据包 bundle: $DIR/bundle"
