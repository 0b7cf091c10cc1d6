#!/usr/bin/env bash
# How `softkvm run` ends for guests that do not simply halt, on one backend:
# isa-debug-exit status, unhandled ports (all ones, traced), and the diagnostics for a triple fault and an
# unexpected MMIO (exit reason, RIP, instruction bytes). Exits 77 (SKIP) for
# --backend host when /dev/kvm is unusable.
# Usage: run_guest_status.sh BUILD_DIR BACKEND GUEST_DIR
set -u
build=$1 backend=$2 guests=$3
if [ "$backend" = host ] && { [ ! -c /dev/kvm ] || [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; }; then
  echo "SKIP: --backend host needs a readable and writable /dev/kvm"
  exit 77
fi
failures=0
# expect GUEST STATUS SUBSTRING...: every substring must appear in stderr.
expect() {
  local guest=$1 want=$2
  shift 2
  local err rc
  err=$("$build/softkvm" run --flat "$guests/$guest.bin" --backend "$backend" --verbose 2>&1 >/dev/null)
  rc=$?
  if [ $rc -ne "$want" ]; then
    echo "FAIL: $guest exited $rc, expected $want; stderr: $err"; failures=$((failures + 1)); return
  fi
  for needle in "$@"; do
    if [[ "$err" != *"$needle"* ]]; then
      echo "FAIL: $guest stderr lacks '$needle': $err"; failures=$((failures + 1)); return
    fi
  done
  echo "ok: $guest -> $rc"
}
expect debug_exit 85 "softkvm: debug-exit value 0x2a"
expect unhandled_port 0 "softkvm: unhandled in  port 0x0080 -> 0xff" \
  "softkvm: unhandled out port 0x0081 <- 0xff (ignored)" "softkvm: guest halted after"
expect triple_fault 4 "KVM_EXIT_SHUTDOWN" "rip=0x10005" "rax=0x5a5a" "code at rip (gpa 0x10005): 0f 0b" "instruction: ud2"
expect mmio_write 4 "KVM_EXIT_MMIO" "write of 4 bytes at gpa 0x20000000, value 0x1234"
[ $failures -eq 0 ] || exit 1
