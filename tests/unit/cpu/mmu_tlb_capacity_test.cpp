// Soft TLB capacity and flush cost bookkeeping (mmu_impl.h: 4096 entries,
// fill list): a 16 MiB working set of 4 KiB pages stays cached, and every
// flush still drops exactly what the architecture says.
#include "cpu/mmu/access.h"
#include "mmu_fixture.h"

namespace skvm::cpu::testing {
namespace {

constexpr uint64_t kCr3 = 0x100000;
constexpr uint64_t kBase = 0x40000000;  // linear base of the 4096 pages
constexpr unsigned kPages = MmuImpl::kTlbSize;

class TlbCapacityTest : public MmuTest {
 protected:
  TlbCapacityTest() {
    next_table_ = kCr3 + 4096;
    std::memset(bus_.ram() + kCr3, 0, 4096);
    long_mode(kCr3);
    // Every linear page maps one of two frames, chosen by the page's parity.
    for (unsigned k = 0; k < kPages; ++k) map4(kCr3, kBase + k * kPageSize, frame(k), kP | kRw | kA | kD);
    bus_.poke<uint32_t>(0x200000, 0xaaaa);
    bus_.poke<uint32_t>(0x201000, 0xbbbb);
  }
  static uint64_t frame(unsigned k) { return k & 1 ? 0x201000 : 0x200000; }
  uint32_t read(unsigned k) {
    uint32_t v = 0;
    EXPECT_TRUE(mem_read(cpu_, kBase + k * kPageSize, &v));
    return v;
  }
  // Point every PTE at the other frame, without any flush.
  void swap_frames() {
    for (unsigned k = 0; k < kPages; ++k) {
      bus_.poke<uint64_t>(pte_addr4(kCr3, kBase + k * kPageSize), frame(k + 1) | kP | kRw | kA | kD);
    }
  }
  uint32_t expected(unsigned k, bool swapped) { return (frame(k + (swapped ? 1 : 0)) == 0x200000) ? 0xaaaa : 0xbbbb; }
};

TEST_F(TlbCapacityTest, SixteenMegabytesOfPagesStayCachedUntilCr3Write) {
  for (unsigned k = 0; k < kPages; ++k) ASSERT_EQ(read(k), expected(k, false));
  swap_frames();
  // All 4096 translations are still cached (architecturally allowed).
  unsigned stale = 0;
  for (unsigned k = 0; k < kPages; ++k) stale += read(k) == expected(k, false);
  EXPECT_EQ(stale, kPages);
  ASSERT_TRUE(write_cr(cpu_, 3, kCr3));
  for (unsigned k = 0; k < kPages; ++k) ASSERT_EQ(read(k), expected(k, true)) << k;
}

TEST_F(TlbCapacityTest, FlushAllAfterNonGlobalFlushStillDropsGlobalEntries) {
  ASSERT_TRUE(write_cr(cpu_, 4, s().cr4 | kCr4PGE));
  map4(kCr3, kBase, 0x200000, kP | kRw | kA | kD | kG);
  EXPECT_EQ(read(0), 0xaaaau);
  EXPECT_EQ(read(1), 0xbbbbu);
  swap_frames();
  ASSERT_TRUE(write_cr(cpu_, 3, kCr3));
  EXPECT_EQ(read(0), 0xaaaau);  // global: kept by MOV CR3
  EXPECT_EQ(read(1), 0xaaaau);  // not global: walked again
  ASSERT_TRUE(write_cr(cpu_, 4, s().cr4 & ~kCr4PGE));
  EXPECT_EQ(read(0), 0xbbbbu);  // CR4.PGE toggled: everything goes
}

TEST_F(TlbCapacityTest, MemslotGenerationChangeDropsCachedSlotRanges) {
  EXPECT_EQ(read(0), 0xaaaau);  // frame 0x200000 looked up as writable RAM
  bus_.set_readonly(0x200000, 0x201000);  // as a slot change would
  bus_.bump_generation();
  // Page 2 maps the same frame and misses the TLB: the fill sees the new
  // generation and looks the frame up afresh (read-only: an MMIO write).
  EXPECT_TRUE(mem_write<uint32_t>(cpu_, kBase + 2 * kPageSize, 1));
  EXPECT_TRUE(sig().exit_after);
  EXPECT_EQ(cpu_.exit().mmio.gpa, 0x200000u);
  EXPECT_EQ(bus_.peek<uint32_t>(0x200000), 0xaaaau);
}

}  // namespace
}  // namespace skvm::cpu::testing
