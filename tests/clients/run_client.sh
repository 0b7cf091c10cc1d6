#!/usr/bin/env bash
# Runs a plain KVM client (only <linux/kvm.h>) on softkvm through
# `softkvm exec --` and, when the host's /dev/kvm is usable, directly on it;
# both outputs must equal the expected text byte for byte.
# Usage: run_client.sh BUILD_DIR CLIENT EXPECTED_FILE [ARGS for the softkvm run...]
set -u
build=$1 client=$2 expected=$3
shift 3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0

"$build/softkvm" exec -- "$client" "$@" >"$tmp/soft.out" 2>"$tmp/soft.err"
rc=$?
if [ $rc -ne 0 ]; then
  echo "FAIL: softkvm exec -- $(basename "$client") exited $rc"; cat "$tmp/soft.err"; status=1
fi
if ! cmp -s "$expected" "$tmp/soft.out"; then
  echo "FAIL: softkvm output differs from $expected:"; diff "$expected" "$tmp/soft.out"; status=1
else
  echo "ok: softkvm output matches $(basename "$expected")"
fi

if [ ! -c /dev/kvm ] || [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
  echo "SKIP host half: /dev/kvm is missing or not readable and writable"
  exit $status
fi
"$client" >"$tmp/host.out" 2>"$tmp/host.err"
rc=$?
if [ $rc -eq 77 ]; then
  echo "SKIP host half: host KVM unusable: $(cat "$tmp/host.err")"
  exit $status
fi
if [ $rc -ne 0 ]; then
  echo "FAIL: host run exited $rc"; cat "$tmp/host.err"; status=1
fi
if ! cmp -s "$tmp/host.out" "$tmp/soft.out"; then
  echo "FAIL: softkvm and host /dev/kvm outputs differ (< host, > softkvm):"
  diff "$tmp/host.out" "$tmp/soft.out"; status=1
else
  echo "ok: softkvm output is byte-for-byte the host's"
fi
exit $status
