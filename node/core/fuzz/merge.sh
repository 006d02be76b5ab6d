#!/usr/bin/env bash
# Merges the inputs a long run found (long-run.sh) into a target's corpus with libFuzzer's minimising merge:
# the corpus is replaced by the smallest set of inputs that keeps every feature of the old corpus and the new
# inputs. Every input is run once, so a crashing one stops the merge.
# Usage: node/core/fuzz/merge.sh TARGET [OUT_DIR]   (OUT_DIR default: /tmp/gongxin-fuzz)
set -euo pipefail
cd "$(dirname "$0")"
t="${1:?usage: merge.sh TARGET [OUT_DIR]}"
out="${2:-/tmp/gongxin-fuzz}"
bin="target/x86_64-unknown-linux-gnu/release/$t"
max_len=8192
[ "$t" = sheet_xlsx ] && max_len=65536
merged="$out/merged/$t"
rm -rf "$merged"
mkdir -p "$merged" "$out/new/$t"
"$bin" -merge=1 -max_len="$max_len" -rss_limit_mb=2048 -timeout=20 "$merged" "corpus/$t" "$out/new/$t" \
  >"$out/$t.merge.log" 2>&1
rm -rf "corpus/$t"
cp -r "$merged" "corpus/$t"
echo "$t: $(ls "corpus/$t" | wc -l) files, $(du -sk "corpus/$t" | cut -f1) KiB"
