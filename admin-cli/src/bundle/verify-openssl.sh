#!/usr/bin/env bash
# Checks a Gongxin evaluator bundle with OpenSSL 3 and bash alone (no Gongxin software).
# Usage: bash verify-openssl.sh [BUNDLE_DIR]   (default: the directory this script is in)
# Exit 0 when everything verifies; otherwise prints the first bad file and exits 1.
# A federation bundle (one with registry.json) gets the extra checks of VERIFYING.md §4.
set -euo pipefail
B=${1:-$(cd "$(dirname "$0")" && pwd)}
ID=1234567812345678
fail() { echo "FAILED: $1: $2" >&2; exit 1; }
hex() { od -An -v -tx1 | tr -d ' \n'; }
unhex() { local h=$1 out=""; while [ -n "$h" ]; do out+="\\x${h:0:2}"; h=${h:2}; done; printf "%b" "$out"; }
sm3hex() { openssl dgst -sm3 -binary "$@" | hex; }
# Keys of an origin: every key of its history in a federation bundle, else its one key.
keys_of() { # code
  if [ -d "$B/keys/$1" ]; then ls "$B/keys/$1"/*.pem; else echo "$B/keys/$1.pem"; fi
}
verify_sig() { # code msg sig [name]: signed by any key of the origin; a failure names the name or sig
  local k
  for k in $(keys_of "$1"); do
    openssl pkeyutl -verify -pubin -inkey "$k" -rawin -in "$2" -sigfile "$3" -digest sm3 \
      -pkeyopt "distid:$ID" >/dev/null 2>&1 && return 0
  done
  fail "${4:-$3}" "SM2 signature does not verify with the key(s) of $1"
}
# Bytes [offset, offset + count) of a file (entries/<code>/<first>.pack holds leaf, signature, payload, ...).
cut_bytes() { # file offset count
  dd if="$1" bs=65536 iflag=skip_bytes,count_bytes skip="$2" count="$3" status=none
}
# RFC 9162 Merkle tree head with SM3 over leaf hashes held in array LH (hex).
mth() { # start count
  local s=$1 n=$2
  if [ "$n" -eq 0 ]; then printf '' | sm3hex; return; fi
  if [ "$n" -eq 1 ]; then printf '%s' "${LH[$s]}"; return; fi
  local k=1; while [ $((k * 2)) -lt "$n" ]; do k=$((k * 2)); done
  local l r; l=$(mth "$s" "$k"); r=$(mth $((s + k)) $((n - k)))
  { printf '\x01'; unhex "$l"; unhex "$r"; } | sm3hex
}
check_root() { # note: the root on line 3 must be the root of the first <size> leaves
  local note=$1 size
  size=$(sed -n 2p "$note")
  [ "$size" -le "$n" ] || fail "$note" "covers $size leaves but the bundle has $n"
  [ "$(mth 0 "$size")" = "$(sed -n 3p "$note" | openssl base64 -d -A | hex)" ] ||
    fail "$note" "root differs from the root re-derived from the leaves"
}
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
FED=0; [ -f "$B/registry.json" ] && FED=1
if [ $FED = 0 ]; then
  for d in reports audit proofs; do
    [ ! -e "$B/$d" ] || fail "$B/registry.json" "missing: the bundle has $d/, which only a federation bundle has"
  done
fi
PROVINCE=""
declare -A REPORT_SM3=()
if [ $FED = 1 ]; then
  # The province is the node without a parent; its log publishes the registry and the reports.
  for k in "$B"/keys/*.pem; do
    c=$(basename "$k" .pem)
    grep -q "\"code\":\"$c\",\"name\":\"[^\"]*\",\"level\":\"[^\"]*\",\"keys\"" "$B/registry.json" && PROVINCE=$c
  done
  [ -n "$PROVINCE" ] || fail "$B/registry.json" "names no province node with a key in keys/"
fi
for keyfile in "$B"/keys/*.pem; do
  code=$(basename "$keyfile" .pem)
  if [ $FED = 1 ]; then
    # Every key must be the registry's: each base64 line of the PEM appears in registry.json.
    for k in $(keys_of "$code") "$keyfile"; do
      for line in $(grep -v -- '-----' "$k"); do
        grep -qF "$line" "$B/registry.json" || fail "$k" "key is not in registry.json (a bundle mixing federations?)"
      done
    done
  fi
  # Packs: <first>.idx lists "<index> <leaf bytes> <signature bytes> <payload bytes|-> <ext|->" per entry;
  # <first>.pack holds those bytes back to back; the next pack starts at the entry after the last one.
  LH=()
  n=0
  reg="" reg_sm3=""
  REPORT_SM3=()
  while [ -f "$B/entries/$code/$n.idx" ]; do
    idx="$B/entries/$code/$n.idx" pack="$B/entries/$code/$n.pack"
    [ -f "$pack" ] || fail "$pack" "missing (its .idx is present)"
    off=0
    while read -r i ll sl pl _ <&3; do
      # Only decimal lengths reach arithmetic (bash would evaluate anything else as an expression).
      [[ $i =~ ^[0-9]+$ && $ll =~ ^[0-9]+$ && $sl =~ ^[0-9]+$ && $pl =~ ^([0-9]+|-)$ ]] ||
        fail "$idx" "line for entry $n is not '<index> <leaf> <signature> <payload|-> <ext|->'"
      [ "$i" = "$n" ] || fail "$idx" "lists entry $i where entry $n belongs"
      name="$pack#$i"
      cut_bytes "$pack" "$off" "$ll" >"$TMP/leaf"
      off=$((off + ll))
      cut_bytes "$pack" "$off" "$sl" >"$TMP/sig"
      off=$((off + sl))
      verify_sig "$code" "$TMP/leaf" "$TMP/sig" "$name"
      want=$(sed -n 's/^payload-sm3 //p' "$TMP/leaf")
      if [ "$pl" != - ]; then
        cut_bytes "$pack" "$off" "$pl" >"$TMP/payload"
        off=$((off + pl))
        got=$(sm3hex "$TMP/payload")
        [ "$got" = "$want" ] || fail "$name" "payload SM3 $got differs from payload-sm3 $want in the signed leaf"
      fi
      case $(sed -n 's/^kind //p' "$TMP/leaf") in
        registry) reg=$i reg_sm3=$want ;;
        audit_report) REPORT_SM3[$i]=$want ;;
      esac
      LH[$n]=$({ printf '\x00'; cat "$TMP/leaf"; } | sm3hex)
      n=$((n + 1))
    done 3<"$idx"
    [ "$(wc -c <"$pack")" -eq "$off" ] || fail "$pack" "size differs from the sum of the lengths in its .idx"
  done
  checked=0
  for note in "$B/checkpoints/$code"/*.note; do
    [ -e "$note" ] || continue
    size=$(basename "$note" .note)
    verify_sig "$code" "$note" "${note%.note}.sig"
    [ "$(sed -n 2p "$note")" = "$size" ] || fail "$note" "size line differs from the file name"
    check_root "$note"
    checked=$((checked + 1))
  done
  if [ $FED = 1 ] && [ $checked = 0 ] && [ $n = 0 ]; then
    echo "OK $code: nothing held"
    continue
  fi
  [ "$checked" -gt 0 ] || fail "$B/checkpoints/$code" "no signed checkpoint"
  audited=""
  if [ -f "$B/audit/$code.note" ]; then
    # The audited checkpoint: signed by the origin, and its root is the root of the same leaves, so it is
    # consistent with every later checkpoint checked above.
    verify_sig "$code" "$B/audit/$code.note" "$B/audit/$code.sig"
    check_root "$B/audit/$code.note"
    audited=", audited checkpoint $(sed -n 2p "$B/audit/$code.note") consistent"
  fi
  if [ "$code" = "$PROVINCE" ]; then
    # registry.json is the payload of the newest registry leaf; every report the payload of an audit_report leaf.
    [ -n "$reg" ] || fail "$B/registry.json" "the province log publishes no registry"
    [ "$(sm3hex "$B/registry.json")" = "$reg_sm3" ] ||
      fail "$B/registry.json" "differs from the registry published at entry $reg of entries/$code/"
    for i in "${!REPORT_SM3[@]}"; do
      r="$B/reports/$i.json"
      [ -f "$r" ] || fail "$r" "missing: leaf $i of the province log is an audit report"
      [ "$(sm3hex "$r")" = "${REPORT_SM3[$i]}" ] ||
        fail "$r" "differs from the report published at entry $i of entries/$code/"
      # The signed bytes: the report with its final "signature" value emptied.
      # (GNU sed keeps the missing final newline, so the bytes are exactly the signed ones.)
      sed -E 's/,"signature":"[A-Za-z0-9+\/=]+"}$/,"signature":""}/' "$r" >"$TMP/signed"
      verify_sig "$code" "$TMP/signed" "$B/reports/$i.sig"
    done
    for r in "$B"/reports/*.json; do
      [ -e "$r" ] || continue
      i=$(basename "$r" .json)
      [ -n "${REPORT_SM3[$i]:-}" ] || fail "$r" "not published in the province log"
    done
  fi
  echo "OK $code: $n leaves, $checked checkpoints verified with OpenSSL$audited"
done
