#!/usr/bin/env bash
# The Linux boot test (ctest label `boot`): Debian's cloud kernel with the
# busybox initramfs of tools/initramfs/boot-test-init, on softkvm (BACKEND
# soft|host) or on QEMU TCG (BACKEND qemu, the oracle for the initramfs and
# the command line). Passes when the guest prints every BOOT-TEST line and
# the marker within TIMEOUT seconds.
# Usage: run_boot_test.sh BUILD_DIR BACKEND CPUS TIMEOUT [--entry 64|16] [--console serial|virtio]
#                         [--known-failure REASON]
#   --entry: softkvm's bzImage entry (64-bit boot protocol by default).
#   --console virtio: the guest's console is softkvm's virtio-console (hvc0):
#   /init's BOOT-TEST lines must then come through it (the UART carries
#   only the early boot log, earlyprintk).
#   --known-failure: the case is listed as not passing yet. A failure then
#   prints REASON and exits 77 (ctest SKIP); a pass fails the test (remove
#   the mark). Exits 77 with a reason when the kernel or busybox is missing.
set -u
build=$1 backend=$2 cpus=$3 timeout_s=$4
shift 4
known_failure=
entry=()
console=()
while [ $# -gt 0 ]; do
  case $1 in
    --known-failure) known_failure=$2; shift 2 ;;
    --entry) entry=(--entry "$2"); shift 2 ;;
    --console) console=(--console "$2"); shift 2 ;;
    *) echo "run_boot_test.sh: unknown option $1"; exit 2 ;;
  esac
done
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
"$root/tools/make-initramfs.sh" "$tmp/initrd.cpio.gz" "$root/tools/initramfs/boot-test-init" >/dev/null || exit 1
truncate -s 16M "$tmp/disk.img"
params="console=ttyS0 earlyprintk=ttyS0 reboot=k panic=-1 i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd"
case $backend in
  qemu)
    command -v qemu-system-x86_64 >/dev/null || { echo "SKIP: qemu-system-x86_64 not installed"; exit 77; }
    timeout "$timeout_s" qemu-system-x86_64 -accel tcg -M pc -m 256 -smp "$cpus" -nographic -no-reboot \
      -kernel "$kernel" -initrd "$tmp/initrd.cpio.gz" -append "$params" \
      -drive "file=$tmp/disk.img,if=virtio,format=raw" </dev/null >"$tmp/out" 2>"$tmp/err"
    rc=$? ;;
  *)
    timeout "$timeout_s" "$build/softkvm" run --backend "$backend" "${entry[@]}" "${console[@]}" -k "$kernel" -i "$tmp/initrd.cpio.gz" \
      -c "$cpus" -m 256 --disk "$tmp/disk.img" --verbose --stats </dev/null >"$tmp/out" 2>"$tmp/err"
    rc=$? ;;
esac
missing=()
for want in "BOOT-TEST: uname: Linux" "BOOT-TEST: cpus: $cpus" "BOOT-TEST: ls: bin dev init" \
            "BOOT-TEST: arithmetic: 42" "BOOT-TEST: disk: written by the guest" "BOOT-TEST-MARKER: userspace done"; do
  grep -qF "$want" "$tmp/out" || missing+=("$want")
done
# With the virtio console, /init's lines must have come through hvc0 (the
# UART carries only the early boot log): --stats counts the hvc0 bytes.
if [ "${console[1]:-serial}" = virtio ]; then
  hvc=$(sed -n 's/.*virtio-console \([0-9]*\) bytes out.*/\1/p' "$tmp/err")
  need=$(grep "BOOT-TEST" "$tmp/out" | wc -c)
  [ "${hvc:-0}" -ge "$need" ] || missing+=("init output on hvc0 ($need bytes; --stats: ${hvc:-no} virtio-console bytes)")
fi
if ((${#missing[@]} == 0)) && [ $rc -eq 0 ]; then
  if [ -n "$known_failure" ]; then
    echo "FAIL: unexpected pass on $backend -c $cpus: remove --known-failure ($known_failure)"
    exit 1
  fi
  echo "ok: boot test on $backend with $cpus CPU(s)${console[1]:+, --console ${console[1]}}"
  grep -A12 -e "--stats:" "$tmp/err" | grep -v "exits per\|unhandled"
  exit 0
fi
echo "boot test on $backend -c $cpus: exit status $rc; missing: ${missing[*]}"
echo "--- last guest output:"; tail -15 "$tmp/out"
echo "--- stderr:"; grep -v "unhandled" "$tmp/err" | tail -15
if [ -n "$known_failure" ]; then
  echo "SKIP (known failure): $known_failure"
  exit 77
fi
exit 1
