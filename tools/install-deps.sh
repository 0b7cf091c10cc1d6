#!/usr/bin/env bash
# Installs the Debian packages softkvm needs to build and test, if missing.
# Usage: tools/install-deps.sh [build|demo|bench]
set -euo pipefail
want=(cmake ninja-build g++ clang nasm libgtest-dev libgmock-dev pkg-config make)
want+=(libcli11-dev libzydis-dev)  # src/vmm: command line, diagnostics
want+=(libclang-rt-14-dev)          # clang ASan+UBSan runtime (make test-asan)
# The Linux boot test of `make test` (boot.soft.c1) and `make demo` boot
# Debian's cloud kernel with a busybox initramfs.
want+=(linux-image-cloud-amd64 busybox-static cpio)
case "${1:-build}" in
  bench) want+=(qemu-system-x86 valgrind) ;;
  build|demo) ;;
  *) echo "install-deps: unknown set '$1' (build, demo or bench)" >&2; exit 2 ;;
esac
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
