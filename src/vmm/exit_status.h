// Process exit statuses of `softkvm run` (documented in src/vmm/README.md).
// Even values belong to the VMM, odd values to the guest's isa-debug-exit.
#pragma once

#include <cstdint>

namespace skvm::vmm {

inline constexpr int kExitGuestHalted = 0;   // the guest executed HLT
inline constexpr int kExitUsage = 2;         // bad command line, file or backend
inline constexpr int kExitGuestFailed = 4;   // shutdown, internal error, MMIO, KVM_RUN error
inline constexpr int kExitGuestPowerOff = 0; // the guest powered off (ACPI S5)
inline constexpr int kExitGuestReset = 6;    // the guest reset the machine (default; --reset-status)
inline constexpr int kExitUserQuit = 8;      // Ctrl-A x on the console

// isa-debug-exit as QEMU implements it (hw/misc/debugexit.c): a write of v to
// the port ends the VM with status (v << 1) | 1. The shell keeps the low 8
// bits, so v = 0 -> 1, v = 1 -> 3, v = 0x7f -> 255, v = 0x80 -> 1.
inline constexpr int debug_exit_status(uint32_t value) {
  return static_cast<int>(((value << 1) | 1u) & 0xffu);
}

}  // namespace skvm::vmm
