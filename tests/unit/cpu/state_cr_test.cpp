// MOV to control registers: checks, mode transitions, long-mode activation;
// execution mode derivation.
#include "mmu_fixture.h"

namespace skvm::cpu::testing {
namespace {

using StateCrTest = MmuTest;

TEST_F(StateCrTest, PagingWithoutProtectionIsGp) {
  EXPECT_FALSE(write_cr(cpu_, 0, kCr0PG | kCr0ET));
  EXPECT_EQ(sig().vector, kGP);
  EXPECT_EQ(sig().error_code, 0u);
}

TEST_F(StateCrTest, NotWriteThroughWithoutCacheDisableIsGp) {
  EXPECT_FALSE(write_cr(cpu_, 0, kCr0PE | kCr0NW));
}

TEST_F(StateCrTest, HighCr0BitsAreGpAndReservedLowBitsIgnored) {
  EXPECT_FALSE(write_cr(cpu_, 0, (1ull << 32) | kCr0PE));
  clear_signals();
  EXPECT_TRUE(write_cr(cpu_, 0, kCr0PE | (1u << 6)));
  EXPECT_EQ(s().cr0, kCr0PE | kCr0ET);  // ET forced, bit 6 dropped
}

TEST_F(StateCrTest, EnablingPagingWithLmeActivatesLongMode) {
  flat_protected32();
  s().cr3 = 0x100000;
  ASSERT_TRUE(write_cr(cpu_, 4, kCr4PAE));
  ASSERT_TRUE(wrmsr(cpu_, 0xc0000080, kEferLME));
  ASSERT_TRUE(write_cr(cpu_, 0, kCr0PE | kCr0PG | kCr0ET));
  EXPECT_TRUE(s().efer & kEferLMA);
  EXPECT_EQ(current_mode(s()), Mode::kCompat32);
  s().seg[kCs].l = 1;
  s().seg[kCs].db = 0;
  EXPECT_EQ(current_mode(s()), Mode::kLong64);
}

TEST_F(StateCrTest, EnablingLongModeWithoutPaeIsGp) {
  flat_protected32();
  ASSERT_TRUE(wrmsr(cpu_, 0xc0000080, kEferLME));
  EXPECT_FALSE(write_cr(cpu_, 0, kCr0PE | kCr0PG | kCr0ET));
  EXPECT_FALSE(s().efer & kEferLMA);
}

TEST_F(StateCrTest, DisablingPagingIn64BitModeIsGpButAllowedInCompatMode) {
  long_mode(0x100000);
  EXPECT_FALSE(write_cr(cpu_, 0, kCr0PE | kCr0ET));
  clear_signals();
  s().seg[kCs].l = 0;
  s().seg[kCs].db = 1;
  EXPECT_TRUE(write_cr(cpu_, 0, kCr0PE | kCr0ET));
  EXPECT_FALSE(s().efer & kEferLMA);
}

TEST_F(StateCrTest, ClearingPaeInLongModeIsGp) {
  long_mode(0x100000);
  EXPECT_FALSE(write_cr(cpu_, 4, 0));
}

TEST_F(StateCrTest, UnimplementedCr4FeaturesAreReserved) {
  EXPECT_FALSE(write_cr(cpu_, 4, 1u << 20));  // SMEP
  clear_signals();
  EXPECT_FALSE(write_cr(cpu_, 4, 1u << 17));  // PCIDE
  clear_signals();
  EXPECT_FALSE(write_cr(cpu_, 4, kCr4OSXSAVE));  // CPUID.1:ECX.XSAVE clear
  clear_signals();
  EXPECT_TRUE(write_cr(cpu_, 4, kCr4PSE | kCr4PGE | kCr4OSFXSR));
}

TEST_F(StateCrTest, OsxsaveAllowedWhenCpuidHasXsave) {
  bus_.set_cpuid(1, 0, 0, 0, 1u << 26, 0);
  EXPECT_TRUE(write_cr(cpu_, 4, kCr4OSXSAVE));
}

TEST_F(StateCrTest, Cr3ReservedBitsInLongModeAreGp) {
  long_mode(0x100000);
  EXPECT_FALSE(write_cr(cpu_, 3, 1ull << 40));  // MAXPHYADDR is 36
  clear_signals();
  EXPECT_FALSE(write_cr(cpu_, 3, 1ull << 63));  // no PCID no-flush
  clear_signals();
  EXPECT_TRUE(write_cr(cpu_, 3, 0x200000));
  EXPECT_EQ(s().cr3, 0x200000u);
}

TEST_F(StateCrTest, Cr8TakesFourBitsOnly) {
  EXPECT_TRUE(write_cr(cpu_, 8, 0xf));
  EXPECT_EQ(s().cr8, 0xfu);
  EXPECT_FALSE(write_cr(cpu_, 8, 0x10));
}

TEST_F(StateCrTest, ModesFollowCr0RflagsAndCs) {
  EXPECT_EQ(current_mode(s()), Mode::kReal);
  flat_protected32();
  EXPECT_EQ(current_mode(s()), Mode::kProt32);
  s().seg[kCs].db = 0;
  EXPECT_EQ(current_mode(s()), Mode::kProt16);
  s().rflags |= kFlagVM;
  EXPECT_EQ(current_mode(s()), Mode::kV86);
  EXPECT_EQ(cpl(s()), 3u);
}

}  // namespace
}  // namespace skvm::cpu::testing
