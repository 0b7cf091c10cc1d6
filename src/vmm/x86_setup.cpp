// SDM Vol. 3A, 4.5 "4-Level Paging"; 3.4.5 "Segment Descriptors";
// 9.8.5 "Initializing IA-32e Mode".
#include "vmm/x86_setup.h"

#include <algorithm>
#include <cstring>
#include <iterator>

namespace skvm::vmm {
namespace {

constexpr uint64_t kGiB = 1ull << 30;
constexpr uint64_t kPteP = 1ull << 0;
constexpr uint64_t kPteRw = 1ull << 1;
constexpr uint64_t kPtePs = 1ull << 7;
constexpr uint64_t kPteAddrMask = 0x000ffffffffff000ull;

// Flat descriptors: 64-bit code (L=1, D=0, G=1, P=1, DPL 0, type 0xb) and
// 32-bit writable data (D/B=1, G=1, P=1, type 0x3), base 0, limit 0xfffff.
constexpr uint64_t kGdt[] = {
    0,
    0x00af9b000000ffffull,
    0x00cf93000000ffffull,
};

void store_u64(uint8_t* mem, uint64_t addr, uint64_t value) {
  // SAFETY: callers pass addresses of the fixed low-memory layout, all below
  // 0x8000, and mem_size >= 1 MiB is checked by write_long_mode_tables.
  std::memcpy(mem + addr, &value, sizeof value);
}

std::optional<uint64_t> load_u64(const uint8_t* mem, uint64_t mem_size, uint64_t addr) {
  if (addr > mem_size || mem_size - addr < 8) return std::nullopt;
  uint64_t value;
  // SAFETY: addr + 8 <= mem_size checked above.
  std::memcpy(&value, mem + addr, sizeof value);
  return value;
}

uint64_t mapped_gib(uint64_t mem_size) {
  return std::clamp<uint64_t>((mem_size + kGiB - 1) / kGiB, 1, kMaxMappedGiB);
}

kvm_segment flat_segment(uint16_t selector, uint8_t type, bool code64) {
  kvm_segment s{};
  s.base = 0;
  s.limit = 0xffffffff;
  s.selector = selector;
  s.type = type;
  s.present = 1;
  s.dpl = 0;
  s.db = code64 ? 0 : 1;
  s.s = 1;
  s.l = code64 ? 1 : 0;
  s.g = 1;
  return s;
}

kvm_segment real_segment(uint8_t type) {
  kvm_segment s{};
  s.base = 0;
  s.limit = 0xffff;
  s.selector = 0;
  s.type = type;
  s.present = 1;
  s.s = 1;
  return s;
}

}  // namespace

uint64_t load_address(GuestMode mode) {
  return mode == GuestMode::kLong ? kFlatLoadAddr : kBootSectorAddr;
}

uint64_t max_image_size(GuestMode mode, uint64_t mem_size) {
  if (mode == GuestMode::kReal) {
    const uint64_t top = std::min(mem_size, kRealModeLimit);
    return top > kBootSectorAddr ? top - kBootSectorAddr : 0;
  }
  const uint64_t top = std::min(mem_size, mapped_gib(mem_size) * kGiB);
  return top > kFlatLoadAddr + kStackReserve ? top - kFlatLoadAddr - kStackReserve : 0;
}

void write_long_mode_tables(uint8_t* mem, uint64_t mem_size) {
  if (mem_size < kRealModeLimit) return;  // the CLI rejects --mem below 1 MiB
  for (size_t i = 0; i < std::size(kGdt); ++i) store_u64(mem, kGdtAddr + 8 * i, kGdt[i]);
  std::memset(mem + kPml4Addr, 0, 0x1000);
  std::memset(mem + kPdptAddr, 0, 0x1000);
  store_u64(mem, kPml4Addr, kPdptAddr | kPteP | kPteRw);
  const uint64_t gib = mapped_gib(mem_size);
  for (uint64_t g = 0; g < gib; ++g) {
    const uint64_t pd = kFirstPdAddr + g * 0x1000;
    store_u64(mem, kPdptAddr + 8 * g, pd | kPteP | kPteRw);
    for (uint64_t i = 0; i < 512; ++i) {
      const uint64_t frame = g * kGiB + (i << 21);
      store_u64(mem, pd + 8 * i, frame | kPteP | kPteRw | kPtePs);
    }
  }
}

void set_long_mode_sregs(kvm_sregs& sregs) {
  sregs.cs = flat_segment(kCode64Selector, 0xb, true);
  const kvm_segment data = flat_segment(kData64Selector, 0x3, false);
  sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
  sregs.gdt.base = kGdtAddr;
  sregs.gdt.limit = static_cast<uint16_t>(sizeof kGdt - 1);
  sregs.cr3 = kPml4Addr;
  sregs.cr4 = kCr4Pae;
  sregs.cr0 = kCr0Pe | kCr0Mp | kCr0Et | kCr0Ne | kCr0Wp | kCr0Pg;
  sregs.efer = kEferLme | kEferLma;
}

void set_real_mode_sregs(kvm_sregs& sregs) {
  sregs.cs = real_segment(0xb);
  const kvm_segment data = real_segment(0x3);
  sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
}

kvm_regs entry_regs(GuestMode mode, uint64_t mem_size) {
  kvm_regs regs{};
  regs.rflags = 0x2;
  regs.rip = load_address(mode);
  if (mode == GuestMode::kReal) {
    regs.rsp = kBootSectorAddr;
  } else {
    regs.rsp = std::min(mem_size, mapped_gib(mem_size) * kGiB) & ~0xfull;
  }
  return regs;
}

std::optional<uint64_t> linear_to_physical(const uint8_t* mem, uint64_t mem_size,
                                           const kvm_sregs& sregs, uint64_t linear) {
  if (!(sregs.cr0 & kCr0Pg)) return linear & 0xffffffffull;
  if (!(sregs.efer & kEferLma) || !(sregs.cr4 & kCr4Pae)) return std::nullopt;
  uint64_t table = sregs.cr3 & kPteAddrMask;
  // Levels: PML4 (bits 47:39), PDPT (38:30, 1 GiB pages), PD (29:21, 2 MiB), PT.
  for (int shift = 39; shift >= 12; shift -= 9) {
    const auto entry = load_u64(mem, mem_size, table + 8 * ((linear >> shift) & 0x1ff));
    if (!entry || !(*entry & kPteP)) return std::nullopt;
    const uint64_t base = *entry & kPteAddrMask;
    if (shift == 12 || ((shift == 30 || shift == 21) && (*entry & kPtePs))) {
      const uint64_t page_mask = (1ull << shift) - 1;
      return (base & ~page_mask) | (linear & page_mask);
    }
    table = base;
  }
  return std::nullopt;
}

}  // namespace skvm::vmm
