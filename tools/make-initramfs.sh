#!/usr/bin/env bash
# Builds a busybox initramfs (newc cpio, gzip) for `softkvm run -i`.
# Usage: tools/make-initramfs.sh OUT.cpio.gz [INIT_SCRIPT]
#   INIT_SCRIPT defaults to tools/initramfs/init (the demo's shell);
#   tools/initramfs/boot-test-init is the boot test's.
# Needs busybox-static (/bin/busybox); adds the virtio modules of the newest
# /lib/modules/*-cloud-amd64 (or KVERSION) so the guest can see virtio disks
# and the virtio console (`softkvm run --console virtio`, hvc0).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: make-initramfs.sh OUT.cpio.gz [INIT_SCRIPT]}
init=${2:-$here/initramfs/init}
busybox=${BUSYBOX:-/bin/busybox}
[ -x "$busybox" ] || { echo "make-initramfs: $busybox missing (apt-get install busybox-static)" >&2; exit 1; }
if command -v ldd >/dev/null && ldd "$busybox" >/dev/null 2>&1; then
  echo "make-initramfs: $busybox is dynamically linked (install busybox-static)" >&2; exit 1
fi
[ -f "$init" ] || { echo "make-initramfs: init script $init missing" >&2; exit 1; }
kver=${KVERSION:-$(ls /lib/modules 2>/dev/null | grep -- -amd64 | sort -V | tail -1 || true)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp"/{bin,sbin,dev,proc,sys,tmp,mnt,lib/modules}
cp "$busybox" "$tmp/bin/busybox"
cp "$init" "$tmp/init"
chmod 755 "$tmp/init"
if [ -n "$kver" ]; then
  for m in drivers/virtio/virtio.ko drivers/virtio/virtio_ring.ko drivers/virtio/virtio_mmio.ko \
           drivers/virtio/virtio_pci_legacy_dev.ko drivers/virtio/virtio_pci_modern_dev.ko \
           drivers/virtio/virtio_pci.ko drivers/block/virtio_blk.ko drivers/char/virtio_console.ko; do
    f=/lib/modules/$kver/kernel/$m
    if [ -f "$f" ]; then cp "$f" "$tmp/lib/modules/"; elif [ -f "$f.xz" ]; then xz -dc "$f.xz" >"$tmp/lib/modules/$(basename "$m")"; fi
  done
fi
# /dev/console must exist before devtmpfs is mounted (the kernel opens it for
# init's stdin/stdout): a device node, so root is needed to make it.
if [ "$(id -u)" -eq 0 ]; then
  mknod -m 600 "$tmp/dev/console" c 5 1
else
  echo "make-initramfs: not root: no /dev/console node (init starts without a console until devtmpfs)" >&2
fi
(cd "$tmp" && { find . -mindepth 1 | sort | cpio -o -H newc --quiet; } | gzip -9 >"$tmp.cpio.gz")
mv "$tmp.cpio.gz" "$out"
echo "make-initramfs: $out ($(stat -c %s "$out") bytes, init $(basename "$init"), modules ${kver:-none})"
