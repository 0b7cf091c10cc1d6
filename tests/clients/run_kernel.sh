#!/usr/bin/env bash
# `softkvm run -k KERNEL -i module.txt -p ...` on one backend: stdout must
# equal the expected text and the exit status must be 0 (the guest powers
# off through ACPI). Exits 77 (ctest SKIP) for the host backend when
# /dev/kvm is unusable.
# Usage: run_kernel.sh BUILD_DIR BACKEND KERNEL EXPECTED_FILE MODULE_FILE [softkvm run options...]
set -u
build=$1 backend=$2 kernel=$3 expected=$4 module=$5
shift 5
if [ "$backend" = host ] && { [ ! -c /dev/kvm ] || [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; }; then
  echo "SKIP: --backend host needs a readable and writable /dev/kvm"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$module" "$tmp/module.txt"
(cd "$tmp" && "$build/softkvm" run -k "$kernel" -i module.txt --backend "$backend" "$@" </dev/null >"$tmp/out" 2>"$tmp/err")
rc=$?
status=0
if [ $rc -ne 0 ]; then
  if [ "$backend" = host ] && grep -q "cannot open /dev/kvm\|KVM_CREATE_VM" "$tmp/err"; then
    echo "SKIP: host KVM unusable: $(cat "$tmp/err")"
    exit 77
  fi
  echo "FAIL: softkvm run -k --backend $backend exited $rc"; cat "$tmp/err"; status=1
fi
if ! cmp -s "$expected" "$tmp/out"; then
  echo "FAIL: guest output differs from $expected:"; diff "$expected" "$tmp/out"; status=1
else
  echo "ok: $(basename "$kernel") on --backend $backend"
fi
exit $status
