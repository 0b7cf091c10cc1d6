// Page-table walkers: every paging mode and page size, A/D bits, #PF error
// codes (SDM Vol. 3A 4.7), NX / WP / U/S, KVM_TRANSLATE.
#include "mmu_fixture.h"

namespace skvm::cpu::testing {
namespace {

constexpr uint64_t kCr3 = 0x100000;

class WalkTest : public MmuTest {
 protected:
  WalkTest() {
    next_table_ = kCr3 + 4096;
    std::memset(bus_.ram() + kCr3, 0, 4096);
  }
  uint32_t read32(uint64_t la, Acc acc = Acc::kRead) {
    uint32_t v = 0;
    ok_ = read_linear(cpu_, la, &v, 4, acc);
    return v;
  }
  bool write32(uint64_t la, uint32_t v, Acc acc = Acc::kWrite) {
    ok_ = write_linear(cpu_, la, &v, 4, acc);
    return ok_;
  }
  void user_mode() { s().seg[kCs].selector |= 3; }
  bool ok_ = false;
};

TEST_F(WalkTest, NoPagingLinearEqualsPhysical) {
  bus_.poke<uint32_t>(0x2340, 0xdeadbeef);
  EXPECT_EQ(read32(0x2340), 0xdeadbeefu);
  EXPECT_TRUE(ok_);
}

TEST_F(WalkTest, FourLevel4KiBPageTranslatesAndSetsAccessedBits) {
  long_mode(kCr3);
  map4(kCr3, 0x7fff'1234'5000, 0x200000, kP | kRw);
  bus_.poke<uint32_t>(0x200010, 0x11223344);
  EXPECT_EQ(read32(0x7fff'1234'5010), 0x11223344u);
  ASSERT_TRUE(ok_);
  uint64_t pte = bus_.peek<uint64_t>(pte_addr4(kCr3, 0x7fff'1234'5000));
  EXPECT_TRUE(pte & kA);
  EXPECT_FALSE(pte & kD);
  EXPECT_TRUE(bus_.peek<uint64_t>(kCr3 + ((0x7fff'1234'5000ull >> 39) & 0x1ff) * 8) & kA);
}

TEST_F(WalkTest, FourLevelWriteSetsDirtyBit) {
  long_mode(kCr3);
  map4(kCr3, 0x5000, 0x201000, kP | kRw);
  EXPECT_EQ(read32(0x5000), 0u);  // read first: A only, entry cached read-only
  EXPECT_FALSE(bus_.peek<uint64_t>(pte_addr4(kCr3, 0x5000)) & kD);
  EXPECT_TRUE(write32(0x5004, 0x55));
  EXPECT_TRUE(bus_.peek<uint64_t>(pte_addr4(kCr3, 0x5000)) & kD);
  EXPECT_EQ(bus_.peek<uint32_t>(0x201004), 0x55u);
}

TEST_F(WalkTest, FourLevel2MiBPage) {
  long_mode(kCr3);
  map4(kCr3, 0x4000'0000, 0x200000, kP | kRw, 2);
  bus_.poke<uint32_t>(0x200000 + 0x12344, 77);
  EXPECT_EQ(read32(0x4001'2344), 77u);
  EXPECT_TRUE(ok_);
}

TEST_F(WalkTest, FourLevel1GiBPage) {
  long_mode(kCr3);
  map4(kCr3, 0x80'0000'0000, 0, kP | kRw, 3);
  bus_.poke<uint32_t>(0x3ff000, 99);
  EXPECT_EQ(read32(0x80'003f'f000), 99u);
  EXPECT_TRUE(ok_);
}

TEST_F(WalkTest, OneGiBPageIsReservedWithoutCpuidGbpages) {
  bus_.set_cpuid(0x80000001u, 0, 0, 0, 0, (1u << 29) | (1u << 20));
  long_mode(kCr3);
  map4(kCr3, 0x80'0000'0000, 0, kP | kRw, 3);
  read32(0x80'0000'0000);
  EXPECT_FALSE(ok_);
  EXPECT_EQ(sig().vector, kPF);
  EXPECT_EQ(sig().error_code, 0x9u);  // RSVD | P
}

TEST_F(WalkTest, NotPresentFaultHasZeroPresentBitAndSetsCr2Candidate) {
  long_mode(kCr3);
  read32(0x1234'5678);
  EXPECT_FALSE(ok_);
  EXPECT_TRUE(sig().exception);
  EXPECT_EQ(sig().vector, kPF);
  EXPECT_EQ(sig().error_code, 0u);
  EXPECT_EQ(sig().fault_cr2, 0x1234'5678u);
}

TEST_F(WalkTest, WriteToNotPresentPageHasWriteBit) {
  long_mode(kCr3);
  write32(0x9000, 1);
  EXPECT_EQ(sig().error_code, 2u);
}

TEST_F(WalkTest, UserReadOfSupervisorPageIsProtectionFaultWithUserBit) {
  long_mode(kCr3);
  map4(kCr3, 0x6000, 0x202000, kP | kRw);  // no U/S in leaf
  user_mode();
  read32(0x6000);
  EXPECT_FALSE(ok_);
  EXPECT_EQ(sig().error_code, 0x5u);  // P | U
}

TEST_F(WalkTest, UserWriteToReadOnlyPageSetsPresentWriteUser) {
  long_mode(kCr3);
  map4(kCr3, 0x6000, 0x202000, kP | kUs);
  user_mode();
  EXPECT_EQ(read32(0x6000), 0u);
  EXPECT_TRUE(ok_);
  write32(0x6000, 1);
  EXPECT_FALSE(ok_);
  EXPECT_EQ(sig().error_code, 0x7u);
}

TEST_F(WalkTest, ImplicitSupervisorAccessFromCpl3ReachesSupervisorPage) {
  long_mode(kCr3);
  map4(kCr3, 0x6000, 0x202000, kP | kRw);  // supervisor page (a GDT, say)
  user_mode();
  uint8_t b = 1;
  EXPECT_TRUE(write_linear(cpu_, 0x6005, &b, 1, Acc::kSysWrite));
  EXPECT_EQ(read32(0x6004, Acc::kSysRead), 0x100u);
  EXPECT_TRUE(ok_);
  read32(0x6004, Acc::kRead);  // an explicit user read still faults
  EXPECT_FALSE(ok_);
  EXPECT_EQ(sig().error_code, 0x5u);
}

TEST_F(WalkTest, SupervisorWriteToReadOnlyPageFaultsOnlyWithCr0Wp) {
  long_mode(kCr3);
  map4(kCr3, 0x6000, 0x202000, kP | kUs);
  write32(0x6000, 1);
  EXPECT_FALSE(ok_);
  EXPECT_EQ(sig().error_code, 0x3u);  // P | W
  clear_signals();
  ASSERT_TRUE(write_cr(cpu_, 0, s().cr0 & ~kCr0WP));
  EXPECT_TRUE(write32(0x6000, 1));
  EXPECT_EQ(bus_.peek<uint32_t>(0x202000), 1u);
}

TEST_F(WalkTest, ReservedBitFaultSetsRsvdAndPresent) {
  long_mode(kCr3);
  map4(kCr3, 0x7000, 0x203000 | (1ull << 40), kP | kRw);  // above MAXPHYADDR 36
  read32(0x7000);
  EXPECT_FALSE(ok_);
  EXPECT_EQ(sig().error_code, 0x9u);  // RSVD | P
}

TEST_F(WalkTest, NxBitWithoutEferNxeIsReserved) {
  long_mode(kCr3);
  s().efer &= ~kEferNXE;
  tlb_flush_all(cpu_);
  map4(kCr3, 0x7000, 0x203000, kP | kRw | kNx);
  read32(0x7000);
  EXPECT_EQ(sig().error_code, 0x9u);
}

TEST_F(WalkTest, FetchFromNxPageFaultsWithInstructionBit) {
  long_mode(kCr3);
  map4(kCr3, 0x8000, 0x204000, kP | kRw | kNx);
  EXPECT_EQ(read32(0x8000), 0u);  // data reads are fine
  EXPECT_TRUE(ok_);
  unsigned avail = 0;
  uint64_t gpa = 0;
  EXPECT_EQ(fetch_ptr(cpu_, 0x8000, &avail, &gpa), nullptr);
  EXPECT_EQ(avail, 0u);
  EXPECT_EQ(sig().error_code, 0x11u);  // I/D | P
}

TEST_F(WalkTest, FetchFromNotPresentPageHasInstructionBitWhenNxeOn) {
  long_mode(kCr3);
  unsigned avail;
  uint64_t gpa;
  EXPECT_EQ(fetch_ptr(cpu_, 0xa000, &avail, &gpa), nullptr);
  EXPECT_EQ(sig().error_code, 0x10u);
}

TEST_F(WalkTest, FetchReturnsHostPointerAndGpa) {
  long_mode(kCr3);
  map4(kCr3, 0x8000, 0x204000, kP);
  unsigned avail = 0;
  uint64_t gpa = 0;
  const uint8_t* p = fetch_ptr(cpu_, 0x8ff0, &avail, &gpa);
  EXPECT_EQ(p, bus_.ram() + 0x204ff0);
  EXPECT_EQ(avail, 16u);
  EXPECT_EQ(gpa, 0x204ff0u);
  // Second fetch hits the TLB and agrees.
  EXPECT_EQ(fetch_ptr(cpu_, 0x8ff0, &avail, &gpa), bus_.ram() + 0x204ff0);
  EXPECT_EQ(gpa, 0x204ff0u);
}

// 32-bit paging (CR4.PAE = 0).
class Walk32Test : public WalkTest {
 protected:
  void paging32() {
    flat_protected32();
    s().cr3 = kCr3;
    ASSERT_TRUE(write_cr(cpu_, 0, kCr0PE | kCr0PG | kCr0ET));
  }
};

TEST_F(Walk32Test, FourKiBPageAndAccessedDirty) {
  uint64_t pt = alloc_page();
  bus_.poke<uint32_t>(kCr3 + (0x00c0'3000 >> 22) * 4, static_cast<uint32_t>(pt | kP | kRw));
  bus_.poke<uint32_t>(pt + ((0x00c0'3000 >> 12) & 0x3ff) * 4, 0x205000 | kP | kRw);
  paging32();
  EXPECT_TRUE(write32(0x00c0'3008, 0xabcd));
  EXPECT_EQ(bus_.peek<uint32_t>(0x205008), 0xabcdu);
  uint32_t pte = bus_.peek<uint32_t>(pt + ((0x00c0'3000 >> 12) & 0x3ff) * 4);
  EXPECT_EQ(pte & (kA | kD), kA | kD);
  EXPECT_TRUE(bus_.peek<uint32_t>(kCr3 + (0x00c0'3000 >> 22) * 4) & kA);
}

TEST_F(Walk32Test, FourMiBPageWithPse) {
  // la 0x8040'0000 -> 4 MiB page at physical 0.
  bus_.poke<uint32_t>(kCr3 + (0x8040'0000u >> 22) * 4, 0x0u | kP | kRw | kPs);
  s().cr4 = kCr4PSE;
  paging32();
  bus_.poke<uint32_t>(0x3f'1234, 42);
  EXPECT_EQ(read32(0x807f'1234), 42u);
  EXPECT_TRUE(ok_);
}

TEST_F(Walk32Test, Pse36PageUsesHighAddressBits) {
  // PDE bits 16:13 are physical address bits 35:32: with a 4 MiB RAM the
  // resulting gpa (>= 4 GiB) is unbacked, so the read becomes an MMIO exit.
  bus_.poke<uint32_t>(kCr3 + (0x8000'0000u >> 22) * 4, (1u << 13) | kP | kPs);
  s().cr4 = kCr4PSE;
  paging32();
  read32(0x8000'0010);
  EXPECT_FALSE(ok_);
  EXPECT_EQ(cpu_.exit().mmio.gpa, 0x1'0000'0010ull);
}

TEST_F(Walk32Test, FourMiBPageReservedBitIsRsvdFault) {
  bus_.poke<uint32_t>(kCr3 + (0x8000'0000u >> 22) * 4, (1u << 20) | kP | kPs);
  s().cr4 = kCr4PSE;
  paging32();
  read32(0x8000'0010);
  EXPECT_EQ(sig().error_code, 0x9u);
}

TEST_F(Walk32Test, PsBitIgnoredWithoutCr4Pse) {
  // Without CR4.PSE the PDE points to a page table even when PS is set.
  uint64_t pt = alloc_page();
  bus_.poke<uint32_t>(kCr3, static_cast<uint32_t>(pt | kP | kRw | kPs));
  bus_.poke<uint32_t>(pt + 5 * 4, 0x206000 | kP);
  paging32();
  bus_.poke<uint32_t>(0x206010, 7);
  EXPECT_EQ(read32(0x5010), 7u);
}

// PAE paging: PDPTEs loaded at MOV CR0/CR3.
TEST_F(WalkTest, PaePagingThroughPdptes) {
  flat_protected32();
  uint64_t pdpt = 0x100000;  // 32-byte aligned
  uint64_t pd = alloc_page(), pt = alloc_page();
  bus_.poke<uint64_t>(pdpt + 8 * 2, pd | kP);          // la 0x8000'0000..
  bus_.poke<uint64_t>(pd + 1 * 8, pt | kP | kRw);      // 0x8020'0000
  bus_.poke<uint64_t>(pt + 3 * 8, 0x207000 | kP | kRw);
  s().cr3 = pdpt;
  s().cr4 = kCr4PAE;
  ASSERT_TRUE(write_cr(cpu_, 0, kCr0PE | kCr0PG | kCr0ET));
  bus_.poke<uint32_t>(0x207100, 0x600d);
  EXPECT_EQ(read32(0x8020'3100), 0x600du);
  EXPECT_TRUE(ok_);
}

TEST_F(WalkTest, PaePdpteWithReservedBitsMakesMovCr0Fault) {
  flat_protected32();
  bus_.poke<uint64_t>(0x100000, 0x300000 | kP | kRw);  // RW is reserved in a PDPTE
  s().cr3 = 0x100000;
  s().cr4 = kCr4PAE;
  EXPECT_FALSE(write_cr(cpu_, 0, kCr0PE | kCr0PG | kCr0ET));
  EXPECT_EQ(sig().vector, kGP);
  EXPECT_FALSE(s().cr0 & kCr0PG);
}

TEST_F(WalkTest, TranslateReportsGpaWithoutSettingAccessedBit) {
  long_mode(kCr3);
  map4(kCr3, 0x5000, 0x201000, kP);
  Translation t = cpu_.translate(0x5123);
  EXPECT_TRUE(t.valid);
  EXPECT_EQ(t.gpa, 0x201123u);
  EXPECT_TRUE(t.writeable);  // KVM always reports 1
  EXPECT_FALSE(t.usermode);
  EXPECT_FALSE(bus_.peek<uint64_t>(pte_addr4(kCr3, 0x5000)) & kA);
  EXPECT_FALSE(cpu_.translate(0x9000).valid);
}

}  // namespace
}  // namespace skvm::cpu::testing
