// Linux x86 boot protocol (Documentation/x86/boot.rst): the bzImage 64-bit
// entry and vmlinux ELF, with a zero page (struct boot_params) holding the
// e820 map, the command line and the initrd.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vmm/boot.h"
#include "vmm/guest_memory.h"

namespace skvm::vmm {

enum class KernelFormat { kBzImage, kElf64, kMultiboot, kUnknown };

// Recognises a kernel image: bzImage ("HdrS" at 0x202), a Multiboot v1
// header in the first 8 KiB, or an x86-64 ELF executable.
KernelFormat detect_kernel_format(const std::vector<uint8_t>& image);

struct LinuxBootConfig {
  std::string cmdline;
  const std::vector<uint8_t>* initrd = nullptr;  // nullable
  std::string initrd_name = "-i";                // for error messages
  uint64_t rsdp_addr = 0;                        // 0: none
  bool entry16 = false;  // bzImage: real-mode setup code entry (boot.rst "THE REAL-MODE KERNEL HEADER")
};

// The e820 map the VMM reports for `mem_size` bytes of RAM (boot.h layout):
// RAM below the EBDA, the EBDA and BIOS area reserved, RAM from 1 MiB.
struct E820Entry {
  uint64_t addr;
  uint64_t size;
  uint32_t type;  // 1 RAM, 2 reserved
};
std::vector<E820Entry> e820_map(uint64_t mem_size);

// Loads a bzImage (64-bit boot protocol, boot.rst "64-bit BOOT PROTOCOL") or
// an x86-64 vmlinux ELF into `mem`, writes the zero page, command line,
// initrd, BIOS data area, GDT and identity page tables. Throws VmmError
// (naming "-k", "-i" or "-p") when the image is not loadable.
EntryState load_linux(const GuestMemory& mem, const std::vector<uint8_t>& kernel,
                      const LinuxBootConfig& config);

// The 16-bit entry's firmware image (firmware/bios16.asm) and where its
// E820 table lives; exposed for tests.
inline constexpr uint64_t kBios16Int15Offset = 0x10;
inline constexpr uint64_t kBios16E820CountOffset = 0x100;
inline constexpr uint64_t kBios16E820TableOffset = 0x104;

// Where an initrd of `size` bytes goes: page aligned, as high as possible
// below min(RAM, 4 GiB, initrd_addr_max + 1), above `low`. Throws VmmError
// naming `who` when it does not fit.
uint64_t place_initrd(uint64_t mem_size, uint64_t size, uint64_t low, uint64_t addr_max,
                      const std::string& who);

}  // namespace skvm::vmm
