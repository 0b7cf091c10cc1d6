// Multiboot v1 (Multiboot Specification 0.6.96): header scan, a.out-kludge
// and ELF32 loading, the information structure with memory map, command line
// and modules, and the 32-bit protected-mode entry state.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vmm/boot.h"
#include "vmm/guest_memory.h"

namespace skvm::vmm {

inline constexpr uint32_t kMultibootBootloaderMagic = 0x2BADB002;  // spec 3.2: EAX at entry

struct MultibootModule {
  const std::vector<uint8_t>* data;
  std::string string;  // the module's command line (spec 3.3 "mods_addr")
};

struct MultibootConfig {
  std::string cmdline;
  std::vector<MultibootModule> modules;
};

// Loads a Multiboot v1 kernel and writes its information structure at
// kMultibootInfoAddr. Throws VmmError (naming -k or -i) when the header asks
// for what this loader cannot provide or the image does not fit.
EntryState load_multiboot(const GuestMemory& mem, const std::vector<uint8_t>& kernel,
                          const MultibootConfig& config);

}  // namespace skvm::vmm
