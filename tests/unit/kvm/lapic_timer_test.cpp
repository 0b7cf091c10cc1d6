// The LAPIC timer's TSC-deadline mode and its clocking (kvm/irqchip/lapic.*)
// on a fake clock, with a fake guest TSC (1 tick per ns + an offset).
#include <gtest/gtest.h>

#include <cstdint>

#include "kvm/irqchip/lapic.h"

namespace skvm::kvm::irq {
namespace {

constexpr uint32_t kModeTscDeadline = 2u << 17, kModePeriodic = 1u << 17;

// Guest TSC = Clock ns + offset.
struct FakeTsc final : TscDeadlineClock {
  const base::FakeClock* clock = nullptr;
  uint64_t offset = 0;
  uint64_t guest_tsc_to_ns(uint64_t guest_tsc) const override {
    const uint64_t now = clock->now_ns();
    return guest_tsc <= now + offset ? now : guest_tsc - offset;
  }
};

uint32_t rd(Lapic& l, uint32_t off) {
  uint32_t v = 0xdeadbeef;
  l.mmio_read(off, 4, &v);
  return v;
}
void wr(Lapic& l, uint32_t off, uint32_t v) { l.mmio_write(off, 4, &v); }

class LapicTimerTest : public ::testing::Test {
 protected:
  base::FakeClock clock{1'000'000};
  FakeTsc tsc;
  Lapic l{0, clock, nullptr, nullptr};
  void SetUp() override {
    tsc.clock = &clock;
    tsc.offset = 5'000;
    l.set_tsc_clock(&tsc);
    wr(l, kApicSpiv, 0x1ff);
  }
  void deadline_mode(uint8_t vector) {
    l.set_tsc_deadline_mode_allowed(true);
    wr(l, kApicLvtt, kModeTscDeadline | vector);
  }
};

TEST_F(LapicTimerTest, TscDeadlineModeIsNotWritableWithoutTheCpuidBit) {
  wr(l, kApicLvtt, kModeTscDeadline | 0x30);
  EXPECT_EQ(rd(l, kApicLvtt), 0x30u) << "lapic.c: timer_mode_mask is bit 17 only";
  l.set_tsc_deadline(clock.now_ns() + tsc.offset + 100);
  EXPECT_EQ(l.tsc_deadline(), 0u) << "a write outside TSC-deadline mode is ignored";
  EXPECT_EQ(l.next_deadline_ns(), UINT64_MAX);
}

TEST_F(LapicTimerTest, TscDeadlineFiresWhenTheGuestTscReachesItAndThenReadsZero) {
  deadline_mode(0x30);
  EXPECT_EQ(rd(l, kApicLvtt), kModeTscDeadline | 0x30);
  const uint64_t deadline = clock.now_ns() + tsc.offset + 1000;
  l.set_tsc_deadline(deadline);
  EXPECT_EQ(l.tsc_deadline(), deadline);
  EXPECT_EQ(l.next_deadline_ns(), clock.now_ns() + 1000);
  clock.advance_ns(999);
  EXPECT_FALSE(l.poll_timer());
  EXPECT_EQ(l.has_interrupt(), -1);
  clock.advance_ns(1);
  EXPECT_TRUE(l.poll_timer());
  EXPECT_EQ(l.has_interrupt(), 0x30);
  EXPECT_EQ(l.tsc_deadline(), 0u) << "lapic.c: the deadline is cleared when it fires";
  EXPECT_EQ(l.next_deadline_ns(), UINT64_MAX) << "one shot";
}

TEST_F(LapicTimerTest, TscDeadlineInThePastFiresAtTheNextPoll) {
  deadline_mode(0x31);
  l.set_tsc_deadline(1);
  EXPECT_TRUE(l.poll_timer());
  EXPECT_EQ(l.has_interrupt(), 0x31);
}

TEST_F(LapicTimerTest, TscDeadlineZeroDisarms) {
  deadline_mode(0x30);
  l.set_tsc_deadline(clock.now_ns() + tsc.offset + 10);
  l.set_tsc_deadline(0);
  clock.advance_ns(100);
  EXPECT_FALSE(l.poll_timer());
  EXPECT_EQ(l.next_deadline_ns(), UINT64_MAX);
}

TEST_F(LapicTimerTest, InitialCountIsIgnoredAndCurrentCountReadsZeroInTscDeadlineMode) {
  deadline_mode(0x30);
  wr(l, kApicTmict, 1000);
  EXPECT_EQ(rd(l, kApicTmict), 0u);
  EXPECT_EQ(rd(l, kApicTmcct), 0u);
  EXPECT_EQ(l.next_deadline_ns(), UINT64_MAX);
}

TEST_F(LapicTimerTest, LeavingTscDeadlineModeCancelsTheDeadline) {
  deadline_mode(0x30);
  l.set_tsc_deadline(clock.now_ns() + tsc.offset + 1000);
  wr(l, kApicLvtt, 0x30);  // one-shot
  EXPECT_EQ(l.next_deadline_ns(), UINT64_MAX);
  EXPECT_EQ(l.tsc_deadline(), 0u);
  deadline_mode(0x30);
  EXPECT_EQ(l.tsc_deadline(), 0u) << "lapic.c: apic_update_lvtt cleared it";
}

TEST_F(LapicTimerTest, EnteringTscDeadlineModeStopsTheOneShotTimer) {
  wr(l, kApicLvtt, 0x30);
  wr(l, kApicTmict, 1000);
  ASSERT_NE(l.next_deadline_ns(), UINT64_MAX);
  deadline_mode(0x30);
  EXPECT_EQ(l.next_deadline_ns(), UINT64_MAX);
  EXPECT_EQ(rd(l, kApicTmict), 0u);
}

TEST_F(LapicTimerTest, MaskedTscDeadlineExpiresWithoutInterrupt) {
  l.set_tsc_deadline_mode_allowed(true);
  wr(l, kApicLvtt, kModeTscDeadline | kLvtMasked | 0x30);
  l.set_tsc_deadline(clock.now_ns() + tsc.offset + 10);
  clock.advance_ns(10);
  EXPECT_TRUE(l.poll_timer());
  EXPECT_EQ(l.has_interrupt(), -1);
}

TEST_F(LapicTimerTest, SetLapicStateKeepsAnArmedTscDeadline) {
  deadline_mode(0x30);
  const uint64_t deadline = clock.now_ns() + tsc.offset + 500;
  l.set_tsc_deadline(deadline);
  kvm_lapic_state s{};
  l.get_state(&s);
  l.set_state(s);
  EXPECT_EQ(l.tsc_deadline(), deadline);
  EXPECT_EQ(l.next_deadline_ns(), clock.now_ns() + 500);
}

TEST_F(LapicTimerTest, ResetLeavesTscDeadlineMode) {
  deadline_mode(0x30);
  l.set_tsc_deadline(clock.now_ns() + tsc.offset + 500);
  l.reset(true, l.base());
  EXPECT_EQ(l.tsc_deadline(), 0u);
  EXPECT_EQ(l.next_deadline_ns(), UINT64_MAX);
}

TEST_F(LapicTimerTest, HidingTheCpuidBitLeavesTscDeadlineMode) {
  deadline_mode(0x30);
  l.set_tsc_deadline(clock.now_ns() + tsc.offset + 500);
  l.set_tsc_deadline_mode_allowed(false);
  EXPECT_EQ(l.next_deadline_ns(), UINT64_MAX);
  EXPECT_EQ(l.tsc_deadline(), 0u);
}

// Linux with CPUID 0x15 (1 GHz crystal): lapic_timer_period = 10^9 / HZ
// bus clocks per tick, programmed as period / 16 with divide-by-16.
TEST_F(LapicTimerTest, TimerCountsAtTheOneGigahertzCrystalRate) {
  wr(l, kApicTdcr, 0x3);  // divide by 16
  wr(l, kApicLvtt, kModePeriodic | 0xec);
  wr(l, kApicTmict, 1'000'000'000 / 250 / 16);
  const uint64_t start = clock.now_ns();
  EXPECT_EQ(l.next_deadline_ns(), start + 4'000'000) << "HZ=250: a 4 ms tick";
  clock.advance_ns(1'000'000);
  EXPECT_EQ(rd(l, kApicTmcct), 3'000'000u / 16);
}

// lapic.c: apic_timer_fn + advance_periodic_target_expiration: expiries the
// timer missed coalesce into one interrupt and the period keeps its phase.
TEST_F(LapicTimerTest, LatePeriodicTimerFiresOnceAndKeepsItsPhase) {
  wr(l, kApicTdcr, 0xb);  // divide by 1
  wr(l, kApicLvtt, kModePeriodic | 0x40);
  const uint64_t start = clock.now_ns();
  wr(l, kApicTmict, 1'000'000);  // 1 ms
  clock.advance_ns(3'500'000);   // expiries at 1, 2 and 3 ms were missed
  EXPECT_TRUE(l.poll_timer());
  EXPECT_EQ(l.acknowledge(), 0x40);
  EXPECT_FALSE(l.poll_timer()) << "the missed expiries were one interrupt";
  EXPECT_EQ(l.has_interrupt(), -1);
  EXPECT_EQ(l.next_deadline_ns(), start + 4'000'000) << "the phase is kept";
}

}  // namespace
}  // namespace skvm::kvm::irq
