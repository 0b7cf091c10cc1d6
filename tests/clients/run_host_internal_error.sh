#!/usr/bin/env bash
# Linux on --backend host where the host KVM cannot run it (boot label): the
# host's instruction emulator gives up on the kernel's `lock cmpxchg16b`, and
# `softkvm run` must say so: exit status 4, KVM_EXIT_INTERNAL_ERROR with
# KVM_INTERNAL_ERROR_EMULATION and the disassembled instruction on stderr.
# Uses the uncompressed vmlinux (extract-vmlinux) so the run takes about a
# minute instead of decompressing at the emulator's speed. A host KVM that
# runs the kernel further (the marker or another exit) is reported as a SKIP.
# Usage: run_host_internal_error.sh BUILD_DIR TIMEOUT
set -u
build=$1 timeout_s=$2
kernel=${SKVM_BOOT_KERNEL:-$(ls /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -1)}
extract=$(ls /usr/src/linux-source-*/scripts/extract-vmlinux 2>/dev/null | tail -1)
[ -n "$kernel" ] || { echo "SKIP: no /boot/vmlinuz-*-cloud-amd64"; exit 77; }
[ -n "$extract" ] || { echo "SKIP: no extract-vmlinux (linux-source package)"; exit 77; }
if [ ! -c /dev/kvm ] || [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
  echo "SKIP: --backend host needs a readable and writable /dev/kvm"; exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sh "$extract" "$kernel" >"$tmp/vmlinux" 2>/dev/null || { echo "SKIP: extract-vmlinux failed"; exit 77; }
timeout "$timeout_s" "$build/softkvm" run --backend host -k "$tmp/vmlinux" -m 256 </dev/null >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc -eq 4 ] && grep -q "KVM_EXIT_INTERNAL_ERROR" "$tmp/err" &&
   grep -q "KVM_INTERNAL_ERROR_EMULATION" "$tmp/err" && grep -q "instruction: lock cmpxchg16b" "$tmp/err"; then
  echo "ok: host KVM internal error reported:"; grep -A2 "guest stopped" "$tmp/err"; grep "instruction:" "$tmp/err"
  exit 0
fi
if [ $rc -eq 4 ] && grep -q "KVM_EXIT_INTERNAL_ERROR" "$tmp/err"; then
  echo "FAIL: internal error reported, but not the expected emulation failure:"; cat "$tmp/err"; exit 1
fi
if [ $rc -eq 124 ]; then
  echo "SKIP: no result within ${timeout_s} s (this host KVM emulates slowly, more so under load); last output:"
else
  echo "SKIP: this host KVM did not stop on cmpxchg16b (exit $rc); last output:"
fi
tail -3 "$tmp/out"; exit 77
