// Shared fixture for the mmu/events/state unit tests: a Cpu over FakeBus and
// helpers to build page tables, descriptor tables and mode setups in guest
// RAM.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>

#include "cpu/core.h"
#include "cpu/mmu/mmu_impl.h"
#include "fake_bus.h"

namespace skvm::cpu::testing {

inline constexpr uint64_t kP = 1, kRw = 2, kUs = 4, kA = 0x20, kD = 0x40, kPs = 0x80, kG = 0x100;
inline constexpr uint64_t kNx = 1ull << 63;

class MmuTest : public ::testing::Test {
 protected:
  MmuTest() : bus_(4 << 20), cpu_(bus_) {
    // CPUID: long mode, NX, 1 GiB pages, 36-bit physical addresses.
    bus_.set_cpuid(0, 0, 0xd, 0x756e6547, 0x6c65746e, 0x49656e69);  // GenuineIntel
    bus_.set_cpuid(1, 0, 0, 0, 0, 1u << 17);                           // PSE-36
    bus_.set_cpuid(0x80000000u, 0, 0x80000008u, 0, 0, 0);
    bus_.set_cpuid(0x80000001u, 0, 0, 0, 0, (1u << 29) | (1u << 20) | (1u << 26));
    bus_.set_cpuid(0x80000008u, 0, 36, 0, 0, 0);
    tlb_flush_all(cpu_);
  }

  CpuState& s() { return cpu_.state(); }
  Signals& sig() { return cpu_.signals(); }
  void clear_signals() { cpu_.signals() = Signals{}; }

  // Flat protected mode segments (CPL 0, 32-bit) without paging.
  void flat_protected32() {
    s().cr0 = kCr0PE | kCr0ET;
    for (auto& seg : s().seg) {
      seg = Segment{};
      seg.limit = 0xffffffff;
      seg.g = 1;
      seg.db = 1;
      seg.type = 3;
      seg.selector = 0x10;
    }
    s().seg[kCs].type = 0xb;
    s().seg[kCs].selector = 0x8;
  }

  // 64-bit mode with 4-level paging rooted at `cr3` (tables built by map4).
  void long_mode(uint64_t cr3) {
    flat_protected32();
    s().cr4 = kCr4PAE;
    s().efer = kEferLME | kEferLMA | kEferNXE;
    s().cr0 = kCr0PE | kCr0ET | kCr0PG | kCr0WP;
    s().cr3 = cr3;
    s().seg[kCs].l = 1;
    s().seg[kCs].db = 0;
    tlb_flush_all(cpu_);
  }

  // Allocate a zeroed page-table page from a bump allocator (from 1 MiB).
  uint64_t alloc_page() {
    uint64_t p = next_table_;
    next_table_ += 4096;
    std::memset(bus_.ram() + p, 0, 4096);
    return p;
  }

  // 4-level mapping: la -> gpa with the leaf at `level` (1 = 4 KiB,
  // 2 = 2 MiB, 3 = 1 GiB). Intermediate entries get P|RW|US|`upper`.
  void map4(uint64_t cr3, uint64_t la, uint64_t gpa, uint64_t leaf_flags, int leaf_level = 1,
            uint64_t upper = kP | kRw | kUs) {
    uint64_t table = cr3;
    for (int level = 4; level > leaf_level; --level) {
      uint64_t idx = (la >> (12 + 9 * (level - 1))) & 0x1ff;
      uint64_t e = bus_.peek<uint64_t>(table + idx * 8);
      if (!(e & kP)) {
        e = alloc_page() | upper;
        bus_.poke<uint64_t>(table + idx * 8, e);
      }
      table = e & 0xffffffffff000ull;
    }
    uint64_t idx = (la >> (12 + 9 * (leaf_level - 1))) & 0x1ff;
    bus_.poke<uint64_t>(table + idx * 8, gpa | leaf_flags | (leaf_level > 1 ? kPs : 0));
  }

  // Address of the 4-level leaf entry for la (4 KiB mapping).
  uint64_t pte_addr4(uint64_t cr3, uint64_t la, int leaf_level = 1) {
    uint64_t table = cr3;
    for (int level = 4; level > leaf_level; --level) {
      uint64_t idx = (la >> (12 + 9 * (level - 1))) & 0x1ff;
      table = bus_.peek<uint64_t>(table + idx * 8) & 0xffffffffff000ull;
    }
    return table + ((la >> (12 + 9 * (leaf_level - 1))) & 0x1ff) * 8;
  }

  FakeBus bus_;
  Cpu cpu_;
  uint64_t next_table_ = 1 << 20;
};

// Build an 8-byte code/data segment descriptor.
inline uint64_t make_desc(uint32_t base, uint32_t limit, unsigned type, unsigned dpl, bool s = true,
                          bool present = true, bool db = true, bool g = false, bool l = false) {
  uint64_t d = (limit & 0xffff) | (uint64_t{base & 0xffffff} << 16) | (uint64_t{type & 0xf} << 40) |
               (uint64_t{s} << 44) | (uint64_t{dpl & 3} << 45) | (uint64_t{present} << 47) |
               (uint64_t{(limit >> 16) & 0xf} << 48) | (uint64_t{l} << 53) | (uint64_t{db} << 54) |
               (uint64_t{g} << 55) | (uint64_t{base >> 24} << 56);
  return d;
}

}  // namespace skvm::cpu::testing
