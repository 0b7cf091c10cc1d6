// What a loader hands the machine: the guest-physical layout of the PC the
// VMM builds, and the CPU state the boot vCPU enters the guest with.
//
// Guest-physical layout for -k (kernels):
//   0x00000  real-mode IVT / BIOS data area (0x40e = EBDA segment, 0x413 = base KiB)
//   0x00500  GDT (Linux: 0x10 code64, 0x18 data; Multiboot: 0x08 code32, 0x10 data)
//   0x01000  PML4, 0x02000 PDPT, 0x03000.. page directories (x86_setup.h)
//   0x07000  Linux zero page (struct boot_params)
//   0x09000  Multiboot info, memory map, modules, strings (to 0x9fc00)
//   0x10000  16-bit entry: the bzImage's real-mode setup code (0x1000:0000)
//   0x20000  kernel command line (Linux)
//   0x9fc00  EBDA: MP floating pointer + MP configuration table
//   0xe0000  ACPI: RSDP, XSDT, RSDT, FADT, FACS, MADT, DSDT (reserved in e820)
//   0xf0000  16-bit entry: the tiny firmware (firmware/bios16.asm: IRET, INT 15h E820)
//   0x100000 kernel (bzImage protected-mode part, vmlinux/Multiboot at their addresses)
//   top of RAM: initrd / Multiboot module (page aligned)
#pragma once

#include <cstdint>

namespace skvm::vmm {

inline constexpr uint64_t kBdaEbdaSegment = 0x40e;
inline constexpr uint64_t kBdaBaseMemKiB = 0x413;
inline constexpr uint64_t kZeroPageAddr = 0x7000;
inline constexpr uint64_t kSetupAddr = 0x10000;    // 16-bit entry: real-mode setup code (segment 0x1000)
inline constexpr uint64_t kBios16Addr = 0xf0000;   // 16-bit entry: firmware (F000:0000)
inline constexpr uint64_t kMultibootInfoAddr = 0x9000;
inline constexpr uint64_t kMultibootInfoEnd = 0x9fc00;
inline constexpr uint64_t kCmdlineAddr = 0x20000;
inline constexpr uint64_t kCmdlineMax = 0x10000;  // up to 0x30000
inline constexpr uint64_t kEbdaAddr = 0x9fc00;
inline constexpr uint64_t kEbdaEnd = 0xa0000;
inline constexpr uint64_t kBiosAddr = 0xe0000;
inline constexpr uint64_t kBiosEnd = 0x100000;
inline constexpr uint64_t kHighMemAddr = 0x100000;
inline constexpr uint64_t kLapicAddr = 0xfee00000;
inline constexpr uint64_t kIoapicAddr = 0xfec00000;

enum class EntryMode { kLong64, kProtected32, kReal16 };

// The boot vCPU's state at entry. The machine turns it into KVM_SET_SREGS /
// KVM_SET_REGS (flat segments with these selectors, GDT at kGdtAddr).
struct EntryState {
  EntryMode mode = EntryMode::kLong64;
  uint64_t rip = 0;
  uint64_t rsp = 0;
  uint64_t rax = 0;
  uint64_t rbx = 0;
  uint64_t rsi = 0;
  uint16_t code_selector = 0;  // kLong64/kProtected32
  uint16_t data_selector = 0;
  uint16_t real_segment = 0;       // kReal16: DS = ES = FS = GS = SS = real_segment
  uint16_t real_code_segment = 0;  // kReal16: CS
  const char* loader = "";     // "bzImage (64-bit boot protocol)", ... for --verbose
};

}  // namespace skvm::vmm
