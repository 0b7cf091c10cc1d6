// Guest page-table walker (SDM Vol. 3A chapter 4): no paging, 32-bit (PSE,
// PSE-36), PAE and 4-level paging. Internal to mmu/.
#pragma once

#include <cstdint>

#include "cpu/core.h"

namespace skvm::cpu {

// #PF error code bits (SDM Vol. 3A 4.7).
inline constexpr uint32_t kPfPresent = 1u << 0;
inline constexpr uint32_t kPfWrite = 1u << 1;
inline constexpr uint32_t kPfUser = 1u << 2;
inline constexpr uint32_t kPfRsvd = 1u << 3;
inline constexpr uint32_t kPfFetch = 1u << 4;

enum class WalkAccess : uint8_t { kRead, kWrite, kFetch };

struct WalkResult {
  uint64_t gpa = 0;         // physical address of the linear address
  bool writable = false;    // a write with the walk's privilege would be allowed
  bool executable = false;  // a fetch with the walk's privilege would be allowed
  bool dirty = false;       // leaf D bit is set (after the walk's own update)
  bool global = false;      // leaf G bit with CR4.PGE
};

// Translate `la`. `user` selects user-mode permission checks. With
// `update_ad`, accessed bits (and the dirty bit for writes) are set in the
// guest tables atomically, as the hardware does, once the access is known to
// be allowed. On failure returns false and the #PF error code in *error.
bool walk(Cpu& cpu, uint64_t la, WalkAccess access, bool user, bool update_ad, WalkResult* out,
          uint32_t* error);

// True when CR0.PG is set.
inline bool paging_enabled(const CpuState& s) { return (s.cr0 & kCr0PG) != 0; }

}  // namespace skvm::cpu
