#!/usr/bin/env bash
# `make demo`'s initramfs (tools/initramfs/init) without a terminal: the
# shell's commands come from a pipe, as in
#   echo 'echo HI; poweroff -f' | softkvm run -k KERNEL -i INITRD --console virtio
# Passes when the guest's shell prints HI on its own line and the machine
# powers off (exit status 0) within TIMEOUT seconds.
# Usage: run_demo_pipe.sh BUILD_DIR CONSOLE(serial|virtio) TIMEOUT
# Exits 77 with a reason when the kernel or busybox is missing.
set -u
build=$1 console=$2 timeout_s=$3
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
kernel=${SKVM_BOOT_KERNEL:-$(ls /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -1)}
if [ -z "$kernel" ] || [ ! -r "$kernel" ]; then
  echo "SKIP: no /boot/vmlinuz-*-cloud-amd64 (tools/install-deps.sh demo installs linux-image-cloud-amd64)"
  exit 77
fi
[ -x /bin/busybox ] || { echo "SKIP: no /bin/busybox (install busybox-static)"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$root/tools/make-initramfs.sh" "$tmp/initrd.cpio.gz" >/dev/null || exit 1
echo 'echo HI; poweroff -f' | timeout "$timeout_s" "$build/softkvm" run -k "$kernel" -i "$tmp/initrd.cpio.gz" \
  --console "$console" >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc -eq 0 ] && tr -d '\r' <"$tmp/out" | grep -qx "HI"; then
  echo "ok: piped 'echo HI; poweroff -f' ran in the demo shell (--console $console)"
  exit 0
fi
echo "demo pipe (--console $console): exit status $rc, HI line $(tr -d '\r' <"$tmp/out" | grep -cx HI) time(s)"
echo "--- last guest output:"; tail -15 "$tmp/out"
echo "--- stderr:"; tail -15 "$tmp/err"
exit 1
