// Runs one guest on one backend: memory map, load, mode setup, the KVM_RUN
// loop (IO and MMIO exits recorded, completed with the header's data and
// resumed) up to the final exit, then the final state.
//
// Guest-physical map (identical on both backends):
//   slot 0  0x000000..0x0c0000  RAM (GDT 0x1000, page tables 0x2000..0x4fff,
//                               real-mode code 0x7c00, flat code 0x10000,
//                               stacks 0x7000 / 0x80000)
//   slot 1  0x100000..0x200000  RAM
//   slot 2  0x0f0000..0x100000  read-only, 0xa5 bytes (readonly-slot: yes)
//   anything else               unbacked: MMIO exits (e.g. 0xc0000)
//
// Canonical exit records (what expect-io / expect-mmio lines must say):
//   out port=0x3f8 size=1 count=2 data=41 42
//   in port=0x60 size=1 count=1
//   write gpa=0xc0000 len=4 data=78 56 34 12
//   read gpa=0xc0000 len=4
#pragma once

#include <string>
#include <vector>

#include "guest_spec.h"
#include "kvm_abi.h"

namespace skvm::test {

inline constexpr uint64_t kLowRamSize = 0xc0000;
inline constexpr uint64_t kHighRamGpa = 0x100000;
inline constexpr uint64_t kHighRamSize = 0x100000;
inline constexpr uint64_t kReadonlyGpa = 0xf0000;
inline constexpr uint64_t kReadonlySize = 0x10000;

struct GuestRun {
  std::string error;   // setup or run failure (then nothing below is valid)
  std::string exit;    // hlt | shutdown | internal-error | other(N)
  std::vector<std::string> io;
  std::vector<std::string> mmio;
  kvm_regs regs{};
  kvm_sregs sregs{};
  std::vector<uint8_t> low;   // slot 0 at the end
  std::vector<uint8_t> high;  // slot 1 at the end
};

GuestRun run_guest(const GuestSpec& spec, const Backend& backend);

// Reads a register named in an `expect:` line; false for an unknown name.
bool read_register(const GuestRun& run, const std::string& name, uint64_t* value);

}  // namespace skvm::test
