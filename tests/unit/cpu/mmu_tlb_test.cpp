// Soft TLB flush rules, MMIO read/write exits, read-only slots, dirty
// logging, code-page protection.
#include <algorithm>

#include "cpu/mmu/access.h"
#include "mmu_fixture.h"

namespace skvm::cpu::testing {
namespace {

constexpr uint64_t kCr3 = 0x100000;

class TlbTest : public MmuTest {
 protected:
  TlbTest() {
    next_table_ = kCr3 + 4096;
    std::memset(bus_.ram() + kCr3, 0, 4096);
    long_mode(kCr3);
    bus_.poke<uint32_t>(0x200000, 0xaaaa);
    bus_.poke<uint32_t>(0x201000, 0xbbbb);
  }
  uint32_t read32(uint64_t la) {
    uint32_t v = 0;
    ok_ = mem_read(cpu_, la, &v);
    return v;
  }
  void remap(uint64_t la, uint64_t gpa, uint64_t flags) {
    bus_.poke<uint64_t>(pte_addr4(kCr3, la), gpa | flags);
  }
  bool ok_ = false;
};

TEST_F(TlbTest, StaleMappingStaysUntilInvlpgThenDisappears) {
  map4(kCr3, 0x5000, 0x200000, kP | kRw);
  EXPECT_EQ(read32(0x5000), 0xaaaau);
  remap(0x5000, 0x201000, kP | kRw);
  EXPECT_EQ(read32(0x5000), 0xaaaau);  // architecturally allowed: cached
  tlb_flush_page(cpu_, 0x5000);
  EXPECT_EQ(read32(0x5000), 0xbbbbu);
}

TEST_F(TlbTest, Cr3WriteFlushesNonGlobalEntries) {
  map4(kCr3, 0x5000, 0x200000, kP | kRw);
  EXPECT_EQ(read32(0x5000), 0xaaaau);
  remap(0x5000, 0x201000, kP | kRw);
  ASSERT_TRUE(write_cr(cpu_, 3, kCr3));
  EXPECT_EQ(read32(0x5000), 0xbbbbu);
}

TEST_F(TlbTest, GlobalEntrySurvivesCr3WriteWithPge) {
  ASSERT_TRUE(write_cr(cpu_, 4, s().cr4 | kCr4PGE));
  map4(kCr3, 0x5000, 0x200000, kP | kRw | kG);
  EXPECT_EQ(read32(0x5000), 0xaaaau);
  remap(0x5000, 0x201000, kP | kRw | kG);
  ASSERT_TRUE(write_cr(cpu_, 3, kCr3));
  EXPECT_EQ(read32(0x5000), 0xaaaau);
  // Toggling CR4.PGE flushes everything, globals included.
  ASSERT_TRUE(write_cr(cpu_, 4, s().cr4 & ~kCr4PGE));
  EXPECT_EQ(read32(0x5000), 0xbbbbu);
}

TEST_F(TlbTest, GlobalBitIgnoredWithoutPge) {
  map4(kCr3, 0x5000, 0x200000, kP | kRw | kG);
  EXPECT_EQ(read32(0x5000), 0xaaaau);
  remap(0x5000, 0x201000, kP | kRw | kG);
  ASSERT_TRUE(write_cr(cpu_, 3, kCr3));
  EXPECT_EQ(read32(0x5000), 0xbbbbu);
}

TEST_F(TlbTest, Cr0WpChangeFlushes) {
  map4(kCr3, 0x5000, 0x200000, kP | kRw);
  EXPECT_EQ(read32(0x5000), 0xaaaau);
  remap(0x5000, 0x201000, kP | kRw);
  ASSERT_TRUE(write_cr(cpu_, 0, s().cr0 & ~kCr0WP));
  EXPECT_EQ(read32(0x5000), 0xbbbbu);
}

TEST_F(TlbTest, EferNxeChangeFlushes) {
  map4(kCr3, 0x5000, 0x200000, kP | kRw);
  EXPECT_EQ(read32(0x5000), 0xaaaau);
  remap(0x5000, 0x201000, kP | kRw);
  ASSERT_TRUE(wrmsr(cpu_, 0xc0000080, s().efer & ~kEferNXE));
  EXPECT_EQ(read32(0x5000), 0xbbbbu);
}

TEST_F(TlbTest, InvlpgOfAnotherPageKeepsTheEntry) {
  map4(kCr3, 0x5000, 0x200000, kP | kRw);
  EXPECT_EQ(read32(0x5000), 0xaaaau);
  remap(0x5000, 0x201000, kP | kRw);
  tlb_flush_page(cpu_, 0x6000);
  EXPECT_EQ(read32(0x5000), 0xaaaau);
}

TEST_F(TlbTest, BusGenerationChangeFlushes) {
  map4(kCr3, 0x5000, 0x200000, kP | kRw);
  EXPECT_EQ(read32(0x5000), 0xaaaau);
  remap(0x5000, 0x201000, kP | kRw);
  bus_.bump_generation();
  mmu_check_generation(cpu_);
  EXPECT_EQ(read32(0x5000), 0xbbbbu);
}

TEST_F(TlbTest, UserAndSupervisorEntriesAreSeparate) {
  map4(kCr3, 0x5000, 0x200000, kP | kRw);  // supervisor only
  EXPECT_EQ(read32(0x5000), 0xaaaau);
  s().seg[kCs].selector |= 3;
  read32(0x5000);
  EXPECT_FALSE(ok_);
  EXPECT_EQ(sig().error_code, 0x5u);
}

TEST_F(TlbTest, DirtyLogMarksPageOncePerGeneration) {
  bus_.set_dirty_log(true);
  bus_.bump_generation();
  map4(kCr3, 0x5000, 0x200000, kP | kRw);
  EXPECT_TRUE(mem_write<uint32_t>(cpu_, 0x5000, 1));
  EXPECT_TRUE(mem_write<uint32_t>(cpu_, 0x5004, 2));
  const auto& d = bus_.dirty_pages();
  EXPECT_EQ(std::count(d.begin(), d.end(), 0x200000u), 1);
  bus_.bump_generation();  // harvest
  mmu_check_generation(cpu_);
  EXPECT_TRUE(mem_write<uint32_t>(cpu_, 0x5008, 3));
  EXPECT_EQ(std::count(d.begin(), d.end(), 0x200000u), 2);
}

TEST_F(TlbTest, AccessedBitUpdateMarksPageTablePagesDirty) {
  bus_.set_dirty_log(true);
  bus_.bump_generation();
  map4(kCr3, 0x5000, 0x200000, kP | kRw);
  EXPECT_EQ(read32(0x5000), 0xaaaau);
  const auto& d = bus_.dirty_pages();
  EXPECT_NE(std::find(d.begin(), d.end(), kCr3), d.end());                          // PML4
  EXPECT_NE(std::find(d.begin(), d.end(), pte_addr4(kCr3, 0x5000) & kPageMask), d.end());  // PT
  EXPECT_EQ(std::find(d.begin(), d.end(), 0x200000u), d.end());  // data page only read
}

TEST_F(TlbTest, ReadBeforeWriteOnDirtyLoggedPageStillMarks) {
  bus_.set_dirty_log(true);
  bus_.bump_generation();
  map4(kCr3, 0x5000, 0x200000, kP | kRw | kA | kD, 1, kP | kRw | kUs | kA);
  EXPECT_EQ(read32(0x5000), 0xaaaau);
  EXPECT_TRUE(bus_.dirty_pages().empty());  // A/D already set: no table writes
  EXPECT_TRUE(mem_write<uint32_t>(cpu_, 0x5000, 1));
  EXPECT_EQ(bus_.dirty_pages().size(), 1u);
}

TEST_F(TlbTest, WriteToReadOnlySlotBecomesMmioWriteExit) {
  bus_.set_readonly(0x200000, 0x201000);
  bus_.bump_generation();
  map4(kCr3, 0x5000, 0x200000, kP | kRw);
  EXPECT_EQ(read32(0x5000), 0xaaaau);  // reads are normal
  EXPECT_TRUE(mem_write<uint32_t>(cpu_, 0x5010, 0x12345678));
  EXPECT_TRUE(sig().exit_after);
  EXPECT_FALSE(sig().exit_now);
  EXPECT_EQ(cpu_.exit().reason, Stop::kMmio);
  EXPECT_TRUE(cpu_.exit().mmio.is_write);
  EXPECT_EQ(cpu_.exit().mmio.gpa, 0x200010u);
  EXPECT_EQ(cpu_.exit().mmio.len, 4u);
  uint32_t data;
  std::memcpy(&data, cpu_.exit().mmio.data, 4);
  EXPECT_EQ(data, 0x12345678u);
  EXPECT_EQ(bus_.peek<uint32_t>(0x200010), 0u);  // memory untouched
}

TEST_F(TlbTest, MmioReadExitsThenIsServedFromCompletionOnce) {
  // 0x500000 is beyond the 4 MiB of RAM: unbacked.
  map4(kCr3, 0x5000, 0x500000, kP | kRw);
  uint32_t v = 0;
  EXPECT_FALSE(mem_read(cpu_, 0x5008, &v));
  EXPECT_TRUE(sig().exit_now);
  EXPECT_FALSE(sig().exception);
  EXPECT_EQ(cpu_.exit().reason, Stop::kMmio);
  EXPECT_FALSE(cpu_.exit().mmio.is_write);
  EXPECT_EQ(cpu_.exit().mmio.gpa, 0x500008u);
  EXPECT_EQ(cpu_.exit().mmio.len, 4u);
  // The client answers; the instruction is re-executed.
  uint32_t answer = 0xfeedf00d;
  std::memcpy(cpu_.exit().mmio.data, &answer, 4);
  clear_signals();
  mmu_complete_mmio_read(cpu_);
  EXPECT_TRUE(mem_read(cpu_, 0x5008, &v));
  EXPECT_EQ(v, 0xfeedf00du);
  // One-shot: the next execution exits again.
  EXPECT_FALSE(mem_read(cpu_, 0x5008, &v));
  EXPECT_TRUE(sig().exit_now);
}

TEST_F(TlbTest, MmioReadOfSixteenBytesExitsOncePerFragment) {
  map4(kCr3, 0x5000, 0x500000, kP | kRw);
  uint8_t buf[16];
  EXPECT_FALSE(read_linear(cpu_, 0x5000, buf, 16, Acc::kRead));
  EXPECT_EQ(cpu_.exit().mmio.len, 8u);
  std::memset(cpu_.exit().mmio.data, 0x11, 8);
  clear_signals();
  mmu_complete_mmio_read(cpu_);
  EXPECT_FALSE(read_linear(cpu_, 0x5000, buf, 16, Acc::kRead));
  EXPECT_EQ(cpu_.exit().mmio.gpa, 0x500008u);
  std::memset(cpu_.exit().mmio.data, 0x22, 8);
  clear_signals();
  mmu_complete_mmio_read(cpu_);
  EXPECT_TRUE(read_linear(cpu_, 0x5000, buf, 16, Acc::kRead));
  EXPECT_EQ(buf[0], 0x11);
  EXPECT_EQ(buf[15], 0x22);
  // The access completed: the next execution exits again.
  EXPECT_FALSE(read_linear(cpu_, 0x5000, buf, 16, Acc::kRead));
  EXPECT_EQ(cpu_.exit().mmio.gpa, 0x500000u);
}

TEST_F(TlbTest, MmioCompletionIsNotServedToALaterInstruction) {
  map4(kCr3, 0x5000, 0x500000, kP | kRw);
  uint32_t v;
  EXPECT_FALSE(mem_read(cpu_, 0x5000, &v));
  clear_signals();
  mmu_complete_mmio_read(cpu_);
  EXPECT_TRUE(mem_read(cpu_, 0x5000, &v));  // re-executed instruction
  EXPECT_FALSE(mem_read(cpu_, 0x5004, &v));  // a different register exits
  clear_signals();
  mmu_complete_mmio_read(cpu_);
  EXPECT_TRUE(mem_read(cpu_, 0x5004, &v));
  EXPECT_FALSE(mem_read(cpu_, 0x5000, &v));  // the first one is not stale-served
}

TEST_F(TlbTest, MmioWriteExitRetiresAndCarriesData) {
  map4(kCr3, 0x5000, 0x500000, kP | kRw);
  EXPECT_TRUE(mem_write<uint16_t>(cpu_, 0x5002, 0xbeef));
  EXPECT_TRUE(sig().exit_after);
  EXPECT_EQ(cpu_.exit().mmio.gpa, 0x500002u);
  EXPECT_EQ(cpu_.exit().mmio.len, 2u);
  EXPECT_EQ(cpu_.exit().mmio.data[0], 0xef);
  EXPECT_EQ(cpu_.exit().mmio.data[1], 0xbe);
}

TEST_F(TlbTest, WideMmioWriteExitsWithTheFirstPieceAndQueuesTheRest) {
  map4(kCr3, 0x5000, 0x500000, kP | kRw);
  uint8_t buf[16];
  for (int k = 0; k < 16; ++k) buf[k] = static_cast<uint8_t>(k + 1);
  EXPECT_TRUE(write_linear(cpu_, 0x5000, buf, 16, Acc::kWrite));
  EXPECT_TRUE(sig().exit_after);
  EXPECT_EQ(cpu_.exit().mmio.gpa, 0x500000u);
  EXPECT_EQ(cpu_.exit().mmio.len, 8u);
  EXPECT_EQ(cpu_.exit().mmio.data[7], 8);
  ASSERT_TRUE(mmu_next_mmio_write(cpu_));
  EXPECT_EQ(cpu_.exit().reason, Stop::kMmio);
  EXPECT_TRUE(cpu_.exit().mmio.is_write);
  EXPECT_EQ(cpu_.exit().mmio.gpa, 0x500008u);
  EXPECT_EQ(cpu_.exit().mmio.len, 8u);
  EXPECT_EQ(cpu_.exit().mmio.data[0], 9);
  EXPECT_FALSE(mmu_next_mmio_write(cpu_));
}

TEST_F(TlbTest, MmioWriteWithMoreQueuedPiecesThanTheQueueHoldsIsInternalError) {
  map4(kCr3, 0x5000, 0x500000, kP | kRw);
  uint8_t buf[48] = {};
  EXPECT_FALSE(write_linear(cpu_, 0x5000, buf, 48, Acc::kWrite));
  EXPECT_EQ(cpu_.exit().reason, Stop::kInternal);
  EXPECT_TRUE(sig().exit_now);
  EXPECT_FALSE(mmu_next_mmio_write(cpu_));  // nothing left over for the next run
}

TEST_F(TlbTest, PageCrossingReadCombinesBothPages) {
  map4(kCr3, 0x5000, 0x200000, kP | kRw);
  map4(kCr3, 0x6000, 0x201000, kP | kRw);
  bus_.poke<uint16_t>(0x200ffe, 0x2211);
  bus_.poke<uint16_t>(0x201000, 0x4433);
  EXPECT_EQ(read32(0x5ffe), 0x44332211u);
}

TEST_F(TlbTest, PageCrossingWriteFaultOnSecondPageWritesNothing) {
  map4(kCr3, 0x5000, 0x200000, kP | kRw);
  bus_.poke<uint32_t>(0x200ffc, 0);
  EXPECT_FALSE(mem_write<uint32_t>(cpu_, 0x5ffe, 0xffffffff));
  EXPECT_EQ(sig().fault_cr2, 0x6000u);
  EXPECT_EQ(bus_.peek<uint32_t>(0x200ffc), 0u);
}

TEST_F(TlbTest, ProtectCodeDropsWritableEntry) {
  map4(kCr3, 0x5000, 0x200000, kP | kRw | kA | kD);
  EXPECT_TRUE(mem_write<uint32_t>(cpu_, 0x5000, 1));
  MmuImpl::TlbEntry& e = cpu_.mmu().entry(0x5000);
  EXPECT_EQ(e.write_tag, 0x5000u);
  tlb_protect_code(cpu_, 0x200000);
  EXPECT_EQ(e.write_tag, MmuImpl::kInvalidTag);
  EXPECT_EQ(e.notify_tag, 0x5000u);
  EXPECT_EQ(e.read_tag, 0x5000u);
  // Writes still land (through the notify path).
  EXPECT_TRUE(mem_write<uint32_t>(cpu_, 0x5000, 2));
  EXPECT_EQ(bus_.peek<uint32_t>(0x200000), 2u);
}

TEST_F(TlbTest, FetchFromMmioIsInternalError) {
  map4(kCr3, 0x5000, 0x500000, kP | kRw);
  unsigned avail;
  uint64_t gpa;
  EXPECT_EQ(fetch_ptr(cpu_, 0x5000, &avail, &gpa), nullptr);
  EXPECT_EQ(cpu_.exit().reason, Stop::kInternal);
  EXPECT_TRUE(sig().exit_now);
}

}  // namespace
}  // namespace skvm::cpu::testing
