// The guest TSC (kvm/tsc.h) on a fake clock: rate, continuity across
// KVM_SET_TSC_KHZ, the inverse used for TSC-deadline, and the CPUID leaves
// 0x15/0x16 that Linux reads to skip its PIT calibration.
#include "kvm/tsc.h"

#include <gtest/gtest.h>

#include <cerrno>

#include "kvm/cpuid.h"

namespace skvm::kvm {
namespace {

TEST(GuestTsc, CountsAtTheDefaultRateFromTheClock) {
  base::FakeClock clock(0);
  GuestTsc tsc(clock);
  EXPECT_EQ(tsc.khz(), kDefaultTscKhz);
  clock.advance_ns(1'000'000'000);
  EXPECT_EQ(tsc.now(), uint64_t{kDefaultTscKhz} * 1000);
}

TEST(GuestTsc, SetKhzChangesTheRateAndKeepsTheCounterContinuous) {
  base::FakeClock clock(0);
  GuestTsc tsc(clock);
  clock.advance_ns(1'000'000);  // 1 ms at 2 GHz: 2,000,000 ticks
  ASSERT_EQ(tsc.set_khz(1'000'000), 0);
  EXPECT_EQ(tsc.now(), 2'000'000u);
  clock.advance_ns(1'000'000);  // 1 ms at 1 GHz
  EXPECT_EQ(tsc.now(), 3'000'000u);
  EXPECT_EQ(tsc.khz(), 1'000'000u);
}

TEST(GuestTsc, SetKhzZeroSelectsTheDefaultRate) {
  base::FakeClock clock(0);
  GuestTsc tsc(clock, 3'000'000);
  EXPECT_EQ(tsc.set_khz(0), 0);
  EXPECT_EQ(tsc.khz(), kDefaultTscKhz);
}

TEST(GuestTsc, SetKhzBeyondTheLargestRatioIsEINVALAndKeepsTheRate) {
  base::FakeClock clock(0);
  GuestTsc tsc(clock);
  EXPECT_EQ(tsc.set_khz(0xffffffffu), -EINVAL);
  EXPECT_EQ(tsc.khz(), kDefaultTscKhz);
}

TEST(GuestTsc, NsAtIsTheFirstTimeTheCounterReachesTheValue) {
  base::FakeClock clock(5'000);
  GuestTsc tsc(clock, 3'000'000);  // 3 ticks per ns
  ASSERT_EQ(tsc.set_khz(3'000'000), 0);  // base at 5,000 ns
  const uint64_t base = tsc.now();
  EXPECT_EQ(tsc.ns_at(base + 3000), 6'000u);
  EXPECT_EQ(tsc.ns_at(base + 3001), 6'001u) << "rounded up: the counter is >= the value then";
  EXPECT_LE(tsc.ticks_at(tsc.ns_at(base + 3001)), base + 3003);
  EXPECT_GE(tsc.ticks_at(tsc.ns_at(base + 3001)), base + 3001);
  EXPECT_LE(tsc.ns_at(base - 300), 5'000u) << "a past value is a past time";
}

TEST(TscCpuid, Leaf15GivesTheRateFromAOneGigahertzCrystal) {
  const kvm_cpuid_entry2 e = tsc_leaf_15(2'000'000);
  EXPECT_EQ(e.ecx, 1'000'000'000u) << "crystal Hz = the LAPIC timer's 1 GHz";
  ASSERT_NE(e.eax, 0u);
  EXPECT_EQ(uint64_t{e.ecx} * e.ebx / e.eax, 2'000'000'000u);
  const kvm_cpuid_entry2 odd = tsc_leaf_15(2'294'611);
  EXPECT_EQ(uint64_t{odd.ecx} * odd.ebx / odd.eax, 2'294'611'000u);
}

TEST(TscCpuid, Leaf16GivesBaseAndMaxMegahertz) {
  const kvm_cpuid_entry2 e = tsc_leaf_16(2'000'000);
  EXPECT_EQ(e.eax, 2000u);
  EXPECT_EQ(e.ebx, 2000u);
  EXPECT_EQ(e.ecx, 1000u);
}

TEST(TscCpuid, SupportedCpuidAdvertisesLeaves15And16ForTheDefaultRate) {
  CpuidTable t;
  t.set(supported_cpuid());
  uint32_t l0[4], l15[4], l16[4];
  t.lookup(0, 0, l0);
  t.lookup(0x15, 0, l15);
  t.lookup(0x16, 0, l16);
  EXPECT_GE(l0[0], 0x16u) << "max basic leaf covers 0x15 and 0x16";
  ASSERT_NE(l15[0], 0u);
  EXPECT_EQ(uint64_t{l15[2]} * l15[1] / l15[0], uint64_t{kDefaultTscKhz} * 1000);
  EXPECT_EQ(l16[0], kDefaultTscKhz / 1000);
}

}  // namespace
}  // namespace skvm::kvm
