#!/usr/bin/env bash
# Linux boot time, softkvm vs QEMU TCG (issue 6 benchmark): launch to the
# boot-test marker ("BOOT-TEST-MARKER: userspace done", printed by
# tools/initramfs/boot-test-init after its checks), then power-off, with the
# same kernel, initramfs, disk and command line (softkvm's defaults are the
# same parameters), REPS repetitions each.
# Usage: bench/boot/run.sh BUILD_DIR [REPS]
set -u
build=$(cd "${1:?usage: bench/boot/run.sh BUILD_DIR [REPS]}" && pwd)
reps=${2:-3}
root=$(cd "$(dirname "$0")/../.." && pwd)
kernel=${SKVM_BOOT_KERNEL:-$(ls /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -1)}
[ -r "$kernel" ] || { echo "bench/boot: no /boot/vmlinuz-*-cloud-amd64 (tools/install-deps.sh)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$root/tools/make-initramfs.sh" "$tmp/initrd.cpio.gz" "$root/tools/initramfs/boot-test-init" >/dev/null || exit 1
truncate -s 16M "$tmp/disk.img"
params="console=ttyS0 earlyprintk=ttyS0 reboot=k panic=-1 i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd"

# time_to_marker LABEL COMMAND...: seconds from launch to the marker line.
time_to_marker() {
  local label=$1
  shift
  local start end
  start=$(date +%s.%N)
  "$@" </dev/null 2>/dev/null | while IFS= read -r line; do
    if [[ "$line" == *"BOOT-TEST-MARKER: userspace done"* ]]; then
      date +%s.%N >"$tmp/marker"
    fi
  done
  if [ -s "$tmp/marker" ]; then
    end=$(cat "$tmp/marker")
    rm -f "$tmp/marker"
    awk -v l="$label" -v s="$start" -v e="$end" 'BEGIN { printf "%s %.3f\n", l, e - s }'
  else
    echo "$label n/a"
  fi
}

echo "# Linux boot to the marker — $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(basename "$kernel"), load $(cut -d' ' -f1 /proc/loadavg)"
for ((i = 1; i <= reps; i++)); do
  time_to_marker softkvm timeout 300 "$build/softkvm" run -k "$kernel" -i "$tmp/initrd.cpio.gz" -m 256 \
    --disk "$tmp/disk.img"
  if command -v qemu-system-x86_64 >/dev/null; then
    time_to_marker qemu-tcg timeout 300 qemu-system-x86_64 -accel tcg -M pc -m 256 -nographic -no-reboot \
      -kernel "$kernel" -initrd "$tmp/initrd.cpio.gz" -append "$params" \
      -drive "file=$tmp/disk.img,if=virtio,format=raw"
  fi
done | awk '
  { if ($2 != "n/a") { sum[$1] += $2; n[$1]++; all[$1] = all[$1] " " sprintf("%.2f", $2) } else fail[$1]++ }
  END {
    printf "| %-10s | %-28s | %8s |\n", "runner", "seconds (each run)", "mean"
    printf "|------------|------------------------------|----------|\n"
    for (k in n) printf "| %-10s | %-28s | %8.2f |\n", k, all[k], sum[k] / n[k]
    for (k in fail) printf "| %-10s | %d run(s) did not reach the marker |\n", k, fail[k]
    if (n["softkvm"] && n["qemu-tcg"])
      printf "\nsoftkvm / QEMU TCG boot time: %.2f (below 1: softkvm is faster)\n", (sum["softkvm"] / n["softkvm"]) / (sum["qemu-tcg"] / n["qemu-tcg"])
  }'
