#!/usr/bin/env bash
# The long fuzz run of issue 9: one target until 10 million executions or one CPU-hour (3600 s of the fuzzer's
# own user+system time, so a run on a busy machine is not cut short by wall time), at nice 19. New inputs go to
# a fresh directory beside the corpus; merge them afterwards with merge.sh. Build first:
#   (cd node/core && cargo +nightly fuzz build)
# Usage: node/core/fuzz/long-run.sh TARGET [OUT_DIR]   (OUT_DIR default: /tmp/gongxin-fuzz)
# Writes OUT_DIR/TARGET.log (libFuzzer's output and final statistics, then "rc= cpu_s= wall_s=").
set -uo pipefail
cd "$(dirname "$0")"
t="${1:?usage: long-run.sh TARGET [OUT_DIR]}"
out="${2:-/tmp/gongxin-fuzz}"
bin="target/x86_64-unknown-linux-gnu/release/$t"
[ -x "$bin" ] || { echo "no fuzz binary $bin: run (cd node/core && cargo +nightly fuzz build)" >&2; exit 1; }
max_len=8192
[ "$t" = sheet_xlsx ] && max_len=65536
mkdir -p "$out/new/$t" "artifacts/$t"
log="$out/$t.log"
start=$(date +%s)
nice -n 19 "$bin" "$out/new/$t" "corpus/$t" -max_len="$max_len" -rss_limit_mb=2048 -timeout=20 \
  -print_final_stats=1 -runs=10000000 -artifact_prefix="artifacts/$t/" >"$log" 2>&1 &
pid=$!
tck=$(getconf CLK_TCK)
cpu=0
while kill -0 "$pid" 2>/dev/null; do
  sleep 10
  # Fields 14 and 15 of /proc/PID/stat: user and system time in clock ticks.
  read -r -a st <"/proc/$pid/stat" 2>/dev/null || break
  cpu=$(((st[13] + st[14]) / tck))
  [ "$cpu" -ge 3600 ] && kill -INT "$pid"
done
wait "$pid"
rc=$?
echo "rc=$rc cpu_s=$cpu wall_s=$(($(date +%s) - start))" >>"$log"
# libFuzzer exits 0 after -runs, and 72 when interrupted by SIGINT (after printing its statistics): both are
# clean ends; anything else is a crash, a leak, a timeout or an out-of-memory, with the input in artifacts/.
[ "$rc" -eq 0 ] || [ "$rc" -eq 72 ]
