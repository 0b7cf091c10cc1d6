// Guest state for the flat-binary loader: where things go in guest memory and
// the register/segment state `softkvm run --flat` enters the guest with.
//
// Long mode (--mode long):
//   0x00500  GDT: null, 0x08 64-bit code, 0x10 flat data
//   0x01000  PML4, 0x02000 PDPT, 0x03000.. one page directory per GiB,
//            2 MiB pages identity-mapping max(1 GiB, RAM rounded up to a GiB)
//   0x10000  the flat binary; RIP = 0x10000
//   RSP = top of guest RAM (16-byte aligned); CR0.PE|PG (+MP, ET, NE, WP),
//   CR4.PAE, EFER.LME|LMA, RFLAGS = 0x2.
// Real mode (--mode real): the binary at 0x7c00, CS:IP = 0000:7c00,
//   SS:SP = 0000:7c00, all other segments 0.
#pragma once

#include "vmm/kvm_abi.h"

#include <cstddef>
#include <cstdint>
#include <optional>

namespace skvm::vmm {

enum class GuestMode { kLong, kReal };

inline constexpr uint64_t kGdtAddr = 0x500;
inline constexpr uint64_t kPml4Addr = 0x1000;
inline constexpr uint64_t kPdptAddr = 0x2000;
inline constexpr uint64_t kFirstPdAddr = 0x3000;
inline constexpr uint64_t kMaxMappedGiB = 4;
inline constexpr uint64_t kFlatLoadAddr = 0x10000;
inline constexpr uint64_t kBootSectorAddr = 0x7c00;
inline constexpr uint64_t kRealModeLimit = 0x100000;  // what real mode can reach
inline constexpr uint16_t kCode64Selector = 0x08;
inline constexpr uint16_t kData64Selector = 0x10;

inline constexpr uint64_t kCr0Pe = 1ull << 0;
inline constexpr uint64_t kCr0Mp = 1ull << 1;
inline constexpr uint64_t kCr0Et = 1ull << 4;
inline constexpr uint64_t kCr0Ne = 1ull << 5;
inline constexpr uint64_t kCr0Wp = 1ull << 16;
inline constexpr uint64_t kCr0Pg = 1ull << 31;
inline constexpr uint64_t kCr4Pae = 1ull << 5;
inline constexpr uint64_t kEferLme = 1ull << 8;
inline constexpr uint64_t kEferLma = 1ull << 10;

// Guest-physical address where the binary is loaded for `mode`.
uint64_t load_address(GuestMode mode);

// Largest binary that fits in `mem_size` bytes of guest RAM for `mode`
// (0 when nothing fits). Long mode keeps kStackReserve below the top of RAM.
uint64_t max_image_size(GuestMode mode, uint64_t mem_size);
inline constexpr uint64_t kStackReserve = 64 * 1024;

// Writes the GDT and the identity-mapping page tables into guest RAM.
// `mem` is the host mapping of guest-physical 0..mem_size (mem_size >= 1 MiB).
void write_long_mode_tables(uint8_t* mem, uint64_t mem_size);

// Turns the vCPU's reset state (KVM_GET_SREGS) into the entry state.
void set_long_mode_sregs(kvm_sregs& sregs);
void set_real_mode_sregs(kvm_sregs& sregs);

// Entry registers (general purpose, RIP, RFLAGS).
kvm_regs entry_regs(GuestMode mode, uint64_t mem_size);

// Linear -> guest-physical for diagnostics, from the guest's own page tables
// in `mem` (no paging, or 4-level long-mode paging; nullopt for a not-present
// mapping, a table outside RAM, or a paging mode the walker does not know).
std::optional<uint64_t> linear_to_physical(const uint8_t* mem, uint64_t mem_size,
                                           const kvm_sregs& sregs, uint64_t linear);

}  // namespace skvm::vmm
