// KVM_SET_USER_MEMORY_REGION rules (kvm_main.c: __kvm_set_memory_region) and
// dirty logging. Every expectation was checked on the host /dev/kvm.
#include "kvm/memslots.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstdint>

#include <gtest/gtest.h>

namespace skvm::kvm {
namespace {

constexpr uint64_t kUa = 0x7f0000000000ull;  // a plausible, page-aligned user address

kvm_userspace_memory_region region(uint32_t slot, uint32_t flags, uint64_t gpa, uint64_t size,
                                   uint64_t ua = kUa) {
  return {slot, flags, gpa, size, ua};
}

struct Case {
  const char* what;
  kvm_userspace_memory_region mem;
  int expected;
};

TEST(MemslotsSet, RejectsInvalidArgumentsLikeKvm) {
  const Case cases[] = {
      {"unknown flag", region(0, 4, 0, 0x1000), -EINVAL},
      {"size not page aligned", region(0, 0, 0, 0x1001), -EINVAL},
      {"gpa not page aligned", region(0, 0, 1, 0x1000), -EINVAL},
      {"ua not page aligned", region(0, 0, 0, 0x1000, kUa + 1), -EINVAL},
      {"ua beyond user space", region(0, 0, 0, 0x1000, 0x800000000000ull), -EINVAL},
      {"ua range ends beyond user space", region(0, 0, 0, 0x1000, 0x7ffffffff000ull), -EINVAL},
      {"kernel ua", region(0, 0, 0, 0x1000, 0xfffffffffffff000ull), -EINVAL},
      {"address space 1 (no SMM)", region(0x10000, 0, 0, 0x1000), -EINVAL},
      {"slot id == KVM_USER_MEM_SLOTS", region(32764, 0, 0, 0x1000), -EINVAL},
      {"delete of a missing slot", region(5, 0, 0, 0), -EINVAL},
      {"gpa + size wraps", region(0, 0, 0xfffffffffffff000ull, 0x2000), -EINVAL},
      {"beyond the max gfn", region(0, 0, 1ull << 52, 0x1000), -EINVAL},
  };
  for (const Case& c : cases) {
    Memslots m;
    EXPECT_EQ(m.set(c.mem), c.expected) << c.what;
    EXPECT_TRUE(m.slots().empty()) << c.what;
  }
}

TEST(MemslotsSet, AcceptsEdgeValues) {
  Memslots m;
  EXPECT_EQ(m.set(region(32763, 0, 0, 0x1000)), 0);  // the last slot id
  EXPECT_EQ(m.set(region(32763, 0, 0, 0)), 0);       // deleted again
  EXPECT_EQ(m.set(region(1, 0, 1ull << 46, 0x1000)), 0);
  EXPECT_EQ(m.set(region(2, 0, 0, 0x1000, 0)), 0);   // ua 0 is a user address
  EXPECT_EQ(m.set(region(3, 0, 0x10000, 0x1000, 0x7fffffffe000ull)), 0);
  EXPECT_EQ(m.slots().size(), 3u);
}

TEST(MemslotsSet, OverlapIsEexistAndAdjacentIsFine) {
  Memslots m;
  ASSERT_EQ(m.set(region(1, 0, 0, 0x10000)), 0);
  EXPECT_EQ(m.set(region(2, 0, 0x8000, 0x10000)), -EEXIST);
  EXPECT_EQ(m.set(region(2, 0, 0x10000, 0x10000)), 0);
}

TEST(MemslotsSet, OverlapIsCheckedBeforeTheGfnLimit) {
  Memslots m;
  ASSERT_EQ(m.set(region(1, 0, 0xffffffffff000ull, 0x1000)), 0);  // the last page below 2^52
  EXPECT_EQ(m.set(region(2, 0, 0xffffffffff000ull, 0x2000)), -EEXIST);  // overlaps and exceeds
  EXPECT_EQ(m.set(region(3, 0, 0x10000000000000ull, 0x1000)), -EINVAL);  // only exceeds
}

TEST(MemslotsSet, ModifyRulesMatchKvm) {
  Memslots m;
  ASSERT_EQ(m.set(region(1, 0, 0, 0x10000)), 0);
  EXPECT_EQ(m.set(region(1, 0, 0, 0x10000)), 0);          // no change
  EXPECT_EQ(m.set(region(1, 0, 0x100000, 0x10000)), 0);   // move
  EXPECT_EQ(m.set(region(1, 0, 0x100000, 0x20000)), -EINVAL);          // resize
  EXPECT_EQ(m.set(region(1, 0, 0x100000, 0x10000, kUa + 0x1000)), -EINVAL);  // new ua
  EXPECT_EQ(m.set(region(1, KVM_MEM_LOG_DIRTY_PAGES, 0x100000, 0x10000)), 0);  // flags only
  EXPECT_EQ(m.set(region(1, KVM_MEM_READONLY, 0x100000, 0x10000)), -EINVAL);  // readonly toggle
  ASSERT_EQ(m.set(region(3, KVM_MEM_READONLY, 0x200000, 0x10000)), 0);
  EXPECT_EQ(m.set(region(3, 0, 0x200000, 0x10000)), -EINVAL);
  EXPECT_EQ(m.set(region(3, KVM_MEM_READONLY | KVM_MEM_LOG_DIRTY_PAGES, 0x200000, 0x10000)), 0);
  // Moving onto another slot is EEXIST.
  EXPECT_EQ(m.set(region(1, KVM_MEM_LOG_DIRTY_PAGES, 0x200000, 0x10000)), -EEXIST);
  EXPECT_EQ(m.set(region(1, 0, 0, 0, 0)), 0);   // delete
  EXPECT_EQ(m.set(region(1, 0, 0, 0, 0)), -EINVAL);  // already gone
  // A delete is still checked for alignment first.
  ASSERT_EQ(m.set(region(6, 0, 0x300000, 0x10000)), 0);
  EXPECT_EQ(m.set(region(6, 0, 0x300000, 0, kUa + 5)), -EINVAL);
}

TEST(MemslotsSet, RetiredSnapshotsAreFreedWhenNoReaderIsInside) {
  Memslots m;
  for (uint32_t i = 0; i < 100; ++i) ASSERT_EQ(m.set(region(i, 0, i * 0x1000ull, 0x1000, kUa + i * 0x1000ull)), 0);
  EXPECT_EQ(m.retained_snapshots(), 1u);
  EXPECT_EQ(m.slots().size(), 100u);
}

TEST(MemslotsSet, ChangesBumpTheGeneration) {
  Memslots m;
  uint64_t g0 = m.generation().load();
  ASSERT_EQ(m.set(region(1, 0, 0, 0x1000)), 0);
  EXPECT_GT(m.generation().load(), g0);
  uint64_t g1 = m.generation().load();
  ASSERT_EQ(m.set(region(1, 0, 0, 0x1000)), 0);  // nothing to change
  EXPECT_EQ(m.generation().load(), g1);
}

TEST(MemslotsLookup, FindsHostAddressAndPermissions) {
  // Lookups probe the client memory: use real mappings.
  void* raw = mmap(nullptr, 0x30000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(raw, MAP_FAILED);
  const uint64_t ua = reinterpret_cast<uint64_t>(raw);
  Memslots m;
  ASSERT_EQ(m.set(region(1, 0, 0x100000, 0x4000, ua)), 0);
  ASSERT_EQ(m.set(region(2, KVM_MEM_READONLY, 0x200000, 0x1000, ua + 0x10000)), 0);
  ASSERT_EQ(m.set(region(3, KVM_MEM_LOG_DIRTY_PAGES, 0x0, 0x1000, ua + 0x20000)), 0);
  cpu::PhysPage p = m.lookup(0x103000);
  EXPECT_EQ(reinterpret_cast<uint64_t>(p.host), ua + 0x3000);
  EXPECT_TRUE(p.writable);
  EXPECT_FALSE(p.dirty_log);
  EXPECT_EQ(m.lookup(0x104000).host, nullptr);  // just past the slot: MMIO
  EXPECT_EQ(m.lookup(0xff000).host, nullptr);   // just before
  p = m.lookup(0x200000);
  EXPECT_EQ(reinterpret_cast<uint64_t>(p.host), ua + 0x10000);
  EXPECT_FALSE(p.writable);
  EXPECT_TRUE(m.lookup(0).dirty_log);
  munmap(raw, 0x30000);
}

TEST(MemslotsDirtyLog, HarvestReturnsAndClearsBits) {
  Memslots m;
  ASSERT_EQ(m.set(region(7, KVM_MEM_LOG_DIRTY_PAGES, 0x400000, 0x10000 * 8)), 0);  // 128 pages
  m.mark_dirty(0x400000);
  m.mark_dirty(0x400000 + 65 * 0x1000);
  m.mark_dirty(0x300000);  // outside any slot: ignored
  uint64_t g = m.generation().load();
  std::vector<uint64_t> bits;
  ASSERT_EQ(m.get_dirty_log(7, &bits), 0);
  ASSERT_EQ(bits.size(), 2u);
  EXPECT_EQ(bits[0], 1u);
  EXPECT_EQ(bits[1], 2u);
  EXPECT_GT(m.generation().load(), g);  // write tracking must be re-armed
  ASSERT_EQ(m.get_dirty_log(7, &bits), 0);
  EXPECT_EQ(bits[0], 0u);
  EXPECT_EQ(bits[1], 0u);
}

TEST(MemslotsDirtyLog, BitmapIsRoundedToLongs) {
  Memslots m;
  ASSERT_EQ(m.set(region(1, KVM_MEM_LOG_DIRTY_PAGES, 0, 0x3000)), 0);
  std::vector<uint64_t> bits;
  ASSERT_EQ(m.get_dirty_log(1, &bits), 0);
  EXPECT_EQ(bits.size(), 1u);
}

TEST(MemslotsDirtyLog, ErrnosMatchKvm) {
  Memslots m;
  ASSERT_EQ(m.set(region(2, 0, 0, 0x1000)), 0);
  std::vector<uint64_t> bits;
  EXPECT_EQ(m.get_dirty_log(2, &bits), -ENOENT);       // slot without logging
  EXPECT_EQ(m.get_dirty_log(9, &bits), -ENOENT);       // no such slot
  EXPECT_EQ(m.get_dirty_log(40000, &bits), -EINVAL);   // id >= KVM_USER_MEM_SLOTS
  EXPECT_EQ(m.get_dirty_log(0x10002, &bits), -EINVAL); // address space 1
}

TEST(MemslotsDirtyLog, FlagsOnlyChangeKeepsBitsAndDisablingDropsThem) {
  Memslots m;
  ASSERT_EQ(m.set(region(1, KVM_MEM_LOG_DIRTY_PAGES, 0, 0x1000)), 0);
  m.mark_dirty(0);
  ASSERT_EQ(m.set(region(1, KVM_MEM_LOG_DIRTY_PAGES, 0x1000, 0x1000)), 0);  // move
  std::vector<uint64_t> bits;
  ASSERT_EQ(m.get_dirty_log(1, &bits), 0);
  EXPECT_EQ(bits[0], 1u);
  ASSERT_EQ(m.set(region(1, 0, 0x1000, 0x1000)), 0);
  EXPECT_EQ(m.get_dirty_log(1, &bits), -ENOENT);
}

}  // namespace
}  // namespace skvm::kvm

namespace skvm::kvm {
namespace {

TEST(MemslotsLookup, UnmappedClientMemoryStillMapsToItsHostAddress) {
  // The lookup never touches client memory: an unmapped page keeps its host
  // address, and the engine's access faults (KVM_RUN -> EFAULT, base/fault.h).
  auto* mem = static_cast<uint8_t*>(mmap(nullptr, 0x2000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(mem, MAP_FAILED);
  Memslots m;
  ASSERT_EQ(m.set(region(1, 0, 0x20000, 0x2000, reinterpret_cast<uint64_t>(mem))), 0);
  ASSERT_EQ(munmap(mem + 0x1000, 0x1000), 0);
  EXPECT_EQ(m.lookup(0x20000).host, mem);
  EXPECT_EQ(m.lookup(0x21000).host, mem + 0x1000);
  munmap(mem, 0x1000);
}

TEST(MemslotsContainsHost, OnlyHostAddressesOfCurrentSlotsAreGuestMemory) {
  Memslots m;
  ASSERT_EQ(m.set(region(1, 0, 0x20000, 0x2000, 0x7f0000000000)), 0);
  ASSERT_EQ(m.set(region(2, 0, 0x40000, 0x1000, 0x7f0000100000)), 0);
  EXPECT_TRUE(m.contains_host(0x7f0000000000));
  EXPECT_TRUE(m.contains_host(0x7f0000001fff));
  EXPECT_FALSE(m.contains_host(0x7f0000002000));
  EXPECT_FALSE(m.contains_host(0x7effffffffff));
  EXPECT_TRUE(m.contains_host(0x7f0000100800));
  ASSERT_EQ(m.set(region(2, 0, 0x40000, 0, 0x7f0000100000)), 0);  // deleted
  EXPECT_FALSE(m.contains_host(0x7f0000100800));
}

}  // namespace
}  // namespace skvm::kvm
