// The expectation header of a nasm guest (tests/guest/<family>/<name>.asm).
// Comment lines `; key: value` at the top of the file, before the first
// non-comment line:
//   ; mode: long                 real (loaded at 0x7c00) | prot32 | long (0x10000)
//   ; backends: soft             run only there (default: soft host); say why
//   ; expect: rax=0x1234 rflags=0x246    registers (kvm_regs names) and
//                                        cr0 cr2 cr3 cr4 efer, cs ds es ss fs gs (selectors)
//   ; expect-mem: 0x20000 = 01 02 03 04
//   ; expect-exit: hlt           hlt | shutdown | internal-error (suberror
//                                KVM_INTERNAL_ERROR_EMULATION): the final exit
//   ; expect-io: out port=0x3f8 size=1 count=1 data=41   every port exit, in order
//   ; expect-mmio: write gpa=0xc0000 len=4 data=78 56 34 12   every MMIO exit, in order
//   ; expect-mmio: read gpa=0xc0000 len=2
//   ; io-in: port=0x60 data=aa bb          bytes returned to IN on that port
//   ; mmio-in: data=11 22                  bytes returned to MMIO reads
//   ; readonly-slot: yes         a read-only slot at 0xf0000 (64 KiB of 0xa5)
// IO and MMIO exits are completed and the guest resumed; the run ends at the
// first hlt, shutdown or internal-error exit.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "vm.h"

namespace skvm::test {

struct MemExpectation {
  uint64_t gpa;
  std::vector<uint8_t> bytes;
};

struct GuestSpec {
  std::string family;   // directory under tests/guest
  std::string name;     // file name without .asm
  std::string source;   // path of the .asm
  std::string binary;   // path of the assembled flat binary
  Mode mode = Mode::kLong;
  bool on_soft = true;
  bool on_host = true;
  std::vector<std::pair<std::string, uint64_t>> regs;  // in header order
  std::vector<MemExpectation> mem;
  std::string exit = "hlt";
  std::vector<std::string> io;    // canonical form, see guest_runner.h
  std::vector<std::string> mmio;  // canonical form
  bool check_io = false;          // expect-io present (or io-in given)
  bool check_mmio = false;
  std::map<uint16_t, std::vector<uint8_t>> io_in;
  std::vector<uint8_t> mmio_in;
  bool readonly_slot = false;
  std::string error;  // a malformed header
};

// Parses the header of `source`. Errors go to spec.error.
GuestSpec parse_guest(const std::string& source, const std::string& family,
                      const std::string& name, const std::string& binary);

// Every tests/guest/<family>/<name>.asm under `src_dir`, sorted.
std::vector<GuestSpec> discover_guests(const std::string& src_dir, const std::string& bin_dir);

// Lower-case, single spaces, trimmed.
std::string normalize(const std::string& s);

}  // namespace skvm::test
