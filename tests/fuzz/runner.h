// Runs a fuzz Program on one oracle and reports the final state:
// - a KVM backend (tests/support: soft = softkvm's C ABI, host = /dev/kvm),
//   the program assembled into a guest exactly as its regression .asm;
// - natively on the host CPU, the body between a loader and a saver, with
//   the data region and the stack mapped at the guest addresses so that
//   addresses computed by the body are the same numbers: 64-bit programs in
//   the process's own 64-bit code segment, 32-bit programs in compatibility
//   mode (Linux's 32-bit user code segment, selector 0x23, entered with a far
//   return from code mapped below 2 GiB, left with a far return to 0x33).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backend.h"
#include "program.h"

namespace skvm::fuzz {

struct Outcome {
  std::string error;  // the harness failed (then nothing below is valid)
  std::string exit;   // hlt | shutdown | internal-error | io | mmio | fault | hang | other(N)
  uint64_t regs[16] = {};  // ModRM order
  uint64_t rflags = 0;
  uint64_t rip = 0;  // guest backends only
  std::vector<uint8_t> data;   // the data region
  std::vector<uint8_t> stack;  // kStackBytes below the initial stack pointer
  // Only the low 32 bits of the eight legacy registers are defined (the
  // native oracle in compatibility mode): compare() checks just those.
  bool regs32 = false;
};

inline constexpr uint64_t kStackBytes = 0x400;

Outcome run_on_backend(const Program& p, const test::Backend& backend);

// False (with the reason) when the native oracle cannot run here.
bool native_available(std::string* why);
Outcome run_native(const Program& p);

// Empty when `a` (softkvm) and `b` (the oracle) agree; otherwise one line
// per difference. With `native`, RIP is not compared and RFLAGS only in the
// bits user code can observe (arithmetic flags and DF).
std::string compare(const Outcome& a, const Outcome& b, bool native);

// Bit `bit` of register `reg` (0 eax, 1 ebx, 2 ecx, 3 edx) of CPUID leaf
// `leaf` in the backend's KVM_GET_SUPPORTED_CPUID.
bool supported_cpuid_bit(const test::Backend& backend, uint32_t leaf, uint32_t sub, int reg, int bit);

}  // namespace skvm::fuzz
