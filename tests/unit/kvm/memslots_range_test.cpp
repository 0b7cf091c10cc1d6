// Memslots::lookup_range (cpu::Bus::lookup_range): the run of pages that
// lookup() describes alike, which the soft MMU caches between generations.
#include <gtest/gtest.h>

#include <cstdint>

#include "kvm/memslots.h"

namespace skvm::kvm {
namespace {

constexpr uint64_t kUa = 0x7f0000000000ull;

TEST(MemslotsRange, PageInsideASlotGetsTheWholeSlot) {
  Memslots m;
  ASSERT_EQ(m.set({0, 0, 0x100000, 0x40000, kUa}), 0);
  cpu::PhysRange r = m.lookup_range(0x123000);
  EXPECT_EQ(r.first, 0x100000u);
  EXPECT_EQ(r.last, 0x13f000u);
  EXPECT_EQ(reinterpret_cast<uint64_t>(r.page.host), kUa);
  EXPECT_TRUE(r.page.writable);
  EXPECT_FALSE(r.page.dirty_log);
  // The same answer as lookup() for the page.
  EXPECT_EQ(reinterpret_cast<uint64_t>(m.lookup(0x123000).host), kUa + 0x23000);
}

TEST(MemslotsRange, FlagsOfTheSlotAreCarried) {
  Memslots m;
  ASSERT_EQ(m.set({1, KVM_MEM_READONLY, 0, 0x2000, kUa}), 0);
  ASSERT_EQ(m.set({2, KVM_MEM_LOG_DIRTY_PAGES, 0x10000, 0x1000, kUa + 0x10000}), 0);
  EXPECT_FALSE(m.lookup_range(0x1000).page.writable);
  EXPECT_TRUE(m.lookup_range(0x10000).page.dirty_log);
}

TEST(MemslotsRange, HoleRunsFromSlotEndToNextSlotStart) {
  Memslots m;
  ASSERT_EQ(m.set({0, 0, 0x0, 0x10000, kUa}), 0);
  ASSERT_EQ(m.set({1, 0, 0x40000, 0x10000, kUa + 0x10000}), 0);
  cpu::PhysRange hole = m.lookup_range(0x20000);
  EXPECT_EQ(hole.page.host, nullptr);
  EXPECT_EQ(hole.first, 0x10000u);
  EXPECT_EQ(hole.last, 0x3f000u);
  cpu::PhysRange top = m.lookup_range(0x80000);
  EXPECT_EQ(top.page.host, nullptr);
  EXPECT_EQ(top.first, 0x50000u);
  EXPECT_EQ(top.last, ~0xfffull);
}

TEST(MemslotsRange, BelowTheFirstSlotIsAHoleFromZero) {
  Memslots m;
  ASSERT_EQ(m.set({0, 0, 0x100000, 0x1000, kUa}), 0);
  cpu::PhysRange r = m.lookup_range(0x5000);
  EXPECT_EQ(r.page.host, nullptr);
  EXPECT_EQ(r.first, 0u);
  EXPECT_EQ(r.last, 0xff000u);
}

}  // namespace
}  // namespace skvm::kvm
