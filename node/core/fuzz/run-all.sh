#!/usr/bin/env bash
# Runs every fuzz target for SECONDS_EACH seconds (default 20) on its corpus; fails on the first crash
# (the crashing input is left in fuzz/artifacts/<target>/).
# Usage (from anywhere): node/core/fuzz/run-all.sh [SECONDS_EACH]
set -uo pipefail
cd "$(dirname "$0")/.."
secs="${1:-20}"
log="$(mktemp)"
for t in leaf_decode checkpoint_parse registry_json record_payload sheet_csv sheet_xlsx bundle_verify wire_convert store_import; do
  max_len=8192
  [ "$t" = sheet_xlsx ] && max_len=65536
  echo "== fuzz $t for ${secs}s"
  cargo +nightly fuzz run "$t" "fuzz/corpus/$t" -- -max_total_time="$secs" -max_len="$max_len" \
    -rss_limit_mb=2048 -timeout=20 -print_final_stats=1 >"$log" 2>&1
  rc=$?
  grep -E "^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)|^Done" "$log" || true
  if [ "$rc" -ne 0 ]; then
    tail -n 60 "$log" >&2
    echo "fuzz target $t failed (exit $rc)" >&2
    exit 1
  fi
done
rm -f "$log"
