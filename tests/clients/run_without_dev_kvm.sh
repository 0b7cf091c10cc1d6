#!/usr/bin/env bash
# `softkvm exec` on a host without /dev/kvm: in a private mount namespace
# whose /dev is an empty tmpfs, the client must fail on its own (no device)
# and succeed under `softkvm exec --` with the expected output.
# Exits 77 (ctest SKIP) when mount namespaces are not permitted.
# Usage: run_without_dev_kvm.sh BUILD_DIR CLIENT EXPECTED_FILE
set -u
build=$1 client=$2 expected=$3
if ! unshare -m true 2>/dev/null; then
  echo "SKIP: cannot create a mount namespace here (needs root or user namespaces)"
  exit 77
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
unshare -m sh -c '
  mount -t tmpfs none /dev || exit 77
  "$2" >/dev/null 2>&1
  direct=$?
  if [ $direct -ne 77 ]; then echo "FAIL: without /dev/kvm the client exited $direct, expected 77"; exit 1; fi
  "$1/softkvm" exec -- "$2" >"$3"
' sh "$build" "$client" "$out"
rc=$?
[ $rc -eq 77 ] && { echo "SKIP: cannot mount a tmpfs on /dev in the namespace"; exit 77; }
[ $rc -ne 0 ] && { echo "FAIL: status $rc"; exit 1; }
if ! cmp -s "$expected" "$out"; then
  echo "FAIL: output without /dev/kvm differs from $expected:"; diff "$expected" "$out"; exit 1
fi
echo "ok: $(basename "$client") runs on softkvm with no /dev/kvm at all"
