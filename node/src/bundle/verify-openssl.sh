#!/usr/bin/env bash
# Checks a Gongxin evaluator bundle with OpenSSL 3 and bash alone (no Gongxin software).
# Usage: bash verify-openssl.sh [BUNDLE_DIR]   (default: the directory this script is in)
# Exit 0 when everything verifies; otherwise prints the first bad file and exits 1.
set -euo pipefail
B=${1:-$(cd "$(dirname "$0")" && pwd)}
ID=1234567812345678
fail() { echo "FAILED: $1: $2" >&2; exit 1; }
hex() { od -An -v -tx1 | tr -d ' \n'; }
unhex() { local h=$1 out=""; while [ -n "$h" ]; do out+="\\x${h:0:2}"; h=${h:2}; done; printf "%b" "$out"; }
verify_sig() { # key msg sig
  openssl pkeyutl -verify -pubin -inkey "$1" -rawin -in "$2" -sigfile "$3" -digest sm3 \
    -pkeyopt "distid:$ID" >/dev/null 2>&1 || fail "$3" "SM2 signature does not verify"
}
# RFC 9162 Merkle tree head with SM3 over leaf hashes held in array LH (hex).
mth() { # start count
  local s=$1 n=$2
  if [ "$n" -eq 0 ]; then printf '' | openssl dgst -sm3 -binary | hex; return; fi
  if [ "$n" -eq 1 ]; then printf '%s' "${LH[$s]}"; return; fi
  local k=1; while [ $((k * 2)) -lt "$n" ]; do k=$((k * 2)); done
  local l r; l=$(mth "$s" "$k"); r=$(mth $((s + k)) $((n - k)))
  { printf '\x01'; unhex "$l"; unhex "$r"; } | openssl dgst -sm3 -binary | hex
}
for keyfile in "$B"/keys/*.pem; do
  code=$(basename "$keyfile" .pem)
  LH=()
  n=0
  while [ -f "$B/entries/$code/$n.bin" ]; do
    leaf="$B/entries/$code/$n.bin"
    verify_sig "$keyfile" "$leaf" "$B/entries/$code/$n.sig"
    want=$(sed -n 's/^payload-sm3 //p' "$leaf")
    for p in "$B/payloads/$code/$n".*; do
      [ -e "$p" ] || continue
      got=$(openssl dgst -sm3 -binary "$p" | hex)
      [ "$got" = "$want" ] || fail "$p" "SM3 $got differs from payload-sm3 $want in the signed leaf"
    done
    LH[$n]=$({ printf '\x00'; cat "$leaf"; } | openssl dgst -sm3 -binary | hex)
    n=$((n + 1))
  done
  checked=0
  for note in "$B/checkpoints/$code"/*.note; do
    [ -e "$note" ] || continue
    size=$(basename "$note" .note)
    verify_sig "$keyfile" "$note" "${note%.note}.sig"
    [ "$(sed -n 2p "$note")" = "$size" ] || fail "$note" "size line differs from the file name"
    [ "$size" -le "$n" ] || fail "$note" "covers $size leaves but the bundle has $n"
    root=$(sed -n 3p "$note" | openssl base64 -d -A | hex)
    [ "$(mth 0 "$size")" = "$root" ] || fail "$note" "root differs from the root re-derived from the leaves"
    checked=$((checked + 1))
  done
  [ "$checked" -gt 0 ] || fail "$B/checkpoints/$code" "no signed checkpoint"
  echo "OK $code: $n leaves, $checked checkpoints verified with OpenSSL"
done
