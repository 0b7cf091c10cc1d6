// The flat loader's guest layout: page tables, GDT, entry state, and the
// diagnostic page walker.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "vmm/x86_setup.h"

namespace skvm::vmm {
namespace {

constexpr uint64_t kMiB = 1ull << 20;

uint64_t load64(const std::vector<uint8_t>& mem, uint64_t addr) {
  uint64_t v;
  std::memcpy(&v, mem.data() + addr, sizeof v);
  return v;
}

kvm_sregs long_mode_sregs() {
  kvm_sregs s{};
  set_long_mode_sregs(s);
  return s;
}

TEST(X86Setup, LongModeTablesIdentityMapTheFirstGiBWith2MiBPages) {
  std::vector<uint8_t> mem(2 * kMiB);
  write_long_mode_tables(mem.data(), mem.size());
  const kvm_sregs s = long_mode_sregs();
  for (uint64_t addr : {0x0ull, 0x10000ull, 0x1fffffull, 0x200000ull, 0x3fffffffull}) {
    const auto gpa = linear_to_physical(mem.data(), mem.size(), s, addr);
    ASSERT_TRUE(gpa) << std::hex << addr;
    EXPECT_EQ(*gpa, addr);
  }
  EXPECT_EQ(load64(mem, kFirstPdAddr + 8) & 0xfff, 0x83u);  // P | RW | PS
}

TEST(X86Setup, AddressAboveTheMappedRangeIsNotTranslated) {
  std::vector<uint8_t> mem(2 * kMiB);
  write_long_mode_tables(mem.data(), mem.size());
  EXPECT_FALSE(linear_to_physical(mem.data(), mem.size(), long_mode_sregs(), 1ull << 30));
}

TEST(X86Setup, MoreThanOneGiBOfRamMapsOnePageDirectoryPerGiB) {
  // Only the table pages are touched: a small buffer stands for 2 GiB of RAM.
  std::vector<uint8_t> mem(2 * kMiB);
  write_long_mode_tables(mem.data(), 2048 * kMiB);
  EXPECT_EQ(load64(mem, kPdptAddr + 8), (kFirstPdAddr + 0x1000) | 0x3);
  EXPECT_EQ(load64(mem, kPdptAddr + 16), 0u);
}

TEST(X86Setup, GdtHoldsFlat64BitCodeAndDataDescriptors) {
  std::vector<uint8_t> mem(2 * kMiB);
  write_long_mode_tables(mem.data(), mem.size());
  EXPECT_EQ(load64(mem, kGdtAddr), 0u);
  EXPECT_EQ(load64(mem, kGdtAddr + kCode64Selector), 0x00af9b000000ffffull);
  EXPECT_EQ(load64(mem, kGdtAddr + kData64Selector), 0x00cf93000000ffffull);
}

TEST(X86Setup, LongModeSregsEnablePagingPaeAndLongMode) {
  const kvm_sregs s = long_mode_sregs();
  EXPECT_TRUE(s.cr0 & kCr0Pe);
  EXPECT_TRUE(s.cr0 & kCr0Pg);
  EXPECT_TRUE(s.cr4 & kCr4Pae);
  EXPECT_EQ(s.efer, kEferLme | kEferLma);
  EXPECT_EQ(s.cr3, kPml4Addr);
  EXPECT_EQ(s.cs.l, 1);
  EXPECT_EQ(s.cs.db, 0);
  EXPECT_EQ(s.cs.selector, kCode64Selector);
  EXPECT_EQ(s.ss.selector, kData64Selector);
  EXPECT_EQ(s.gdt.base, kGdtAddr);
  EXPECT_EQ(s.gdt.limit, 23);
}

TEST(X86Setup, LongModeEntryIsAt0x10000WithStackAtTopOfRam) {
  const kvm_regs r = entry_regs(GuestMode::kLong, 64 * kMiB);
  EXPECT_EQ(r.rip, 0x10000u);
  EXPECT_EQ(r.rsp, 64 * kMiB);
  EXPECT_EQ(r.rflags, 0x2u);
}

TEST(X86Setup, RealModeEntryIsAt0000_7c00) {
  kvm_sregs s{};
  s.cs.base = 0xffff0000;
  s.cs.selector = 0xf000;
  set_real_mode_sregs(s);
  const kvm_regs r = entry_regs(GuestMode::kReal, 64 * kMiB);
  EXPECT_EQ(s.cs.base, 0u);
  EXPECT_EQ(s.cs.selector, 0);
  EXPECT_EQ(r.rip, 0x7c00u);
  EXPECT_EQ(r.rsp, 0x7c00u);
}

TEST(X86Setup, MaxImageSizeLeavesRoomForTheStackInLongMode) {
  EXPECT_EQ(max_image_size(GuestMode::kLong, 1 * kMiB), kMiB - 0x10000 - kStackReserve);
  EXPECT_EQ(max_image_size(GuestMode::kReal, 64 * kMiB), 0x100000u - 0x7c00);
}

TEST(X86Setup, WalkWithoutPagingReturnsTheLinearAddress) {
  std::vector<uint8_t> mem(4096);
  kvm_sregs s{};
  const auto gpa = linear_to_physical(mem.data(), mem.size(), s, 0x7c05);
  ASSERT_TRUE(gpa);
  EXPECT_EQ(*gpa, 0x7c05u);
}

TEST(X86Setup, WalkThroughA4KiBPageTableFindsTheFrame) {
  std::vector<uint8_t> mem(0x10000);
  auto store = [&](uint64_t addr, uint64_t v) { std::memcpy(mem.data() + addr, &v, 8); };
  store(0x1000, 0x2000 | 1);             // PML4[0]
  store(0x2000, 0x3000 | 1);             // PDPT[0]
  store(0x3000, 0x4000 | 1);             // PD[0] -> page table
  store(0x4000 + 8 * 5, 0x9000 | 1);     // PT[5]: linear 0x5000 -> 0x9000
  kvm_sregs s = long_mode_sregs();
  s.cr3 = 0x1000;
  const auto gpa = linear_to_physical(mem.data(), mem.size(), s, 0x5123);
  ASSERT_TRUE(gpa);
  EXPECT_EQ(*gpa, 0x9123u);
  EXPECT_FALSE(linear_to_physical(mem.data(), mem.size(), s, 0x6000));  // not present
}

TEST(X86Setup, WalkRejectsTablesOutsideRam) {
  std::vector<uint8_t> mem(0x2000);
  kvm_sregs s = long_mode_sregs();
  s.cr3 = 0x100000;
  EXPECT_FALSE(linear_to_physical(mem.data(), mem.size(), s, 0));
}

}  // namespace
}  // namespace skvm::vmm
