// The i8254 (i8254.c semantics) on a fake clock: program a mode, advance
// time, expect counts, OUT and IRQ 0 pulses.
#include "kvm/irqchip/pit.h"

#include <gtest/gtest.h>

namespace skvm::kvm::irq {
namespace {

constexpr uint64_t kTickNs = 838;  // ~1 / 1.193181 MHz
constexpr uint64_t kMs = 1'000'000;

void out(Pit& pit, uint16_t port, uint8_t v) { ASSERT_TRUE(pit.pio(port, true, 1, &v)); }
uint8_t in(Pit& pit, uint16_t port) {
  uint8_t v = 0xee;
  EXPECT_TRUE(pit.pio(port, false, 1, &v));
  return v;
}
// Control word then LSB/MSB count.
void program(Pit& pit, unsigned channel, unsigned mode, uint16_t count) {
  out(pit, 0x43, static_cast<uint8_t>((channel << 6) | 0x30 | (mode << 1)));
  out(pit, static_cast<uint16_t>(0x40 + channel), count & 0xff);
  out(pit, static_cast<uint16_t>(0x40 + channel), count >> 8);
}
uint16_t latch_read(Pit& pit, unsigned channel) {
  out(pit, 0x43, static_cast<uint8_t>(channel << 6));  // counter latch
  uint16_t lo = in(pit, static_cast<uint16_t>(0x40 + channel));
  return static_cast<uint16_t>(lo | (in(pit, static_cast<uint16_t>(0x40 + channel)) << 8));
}

TEST(Pit, ResetStateHasChannel2GateLowAndUnprogrammedModes) {
  base::FakeClock clock(1000);
  Pit pit(clock, 0, true);
  kvm_pit_state2 s{};
  pit.get_state(&s);
  EXPECT_EQ(s.channels[0].mode, 0xff);
  EXPECT_EQ(s.channels[0].count, 0x10000u);
  EXPECT_EQ(s.channels[0].gate, 1);
  EXPECT_EQ(s.channels[2].gate, 0);
  EXPECT_FALSE(pit.armed());
}

TEST(Pit, Mode2PeriodicRaisesIrqEveryPeriod) {
  base::FakeClock clock(0);
  Pit pit(clock, 0, true);
  pit.set_reinject(false);
  program(pit, 0, 2, 11932);  // ~10 ms
  EXPECT_TRUE(pit.armed());
  clock.advance_ns(9 * kMs);
  EXPECT_FALSE(pit.expire(clock.now_ns()));
  clock.advance_ns(1 * kMs + 100'000);
  EXPECT_TRUE(pit.expire(clock.now_ns()));
  EXPECT_FALSE(pit.expire(clock.now_ns()));
  clock.advance_ns(10 * kMs);
  EXPECT_TRUE(pit.expire(clock.now_ns()));
  EXPECT_TRUE(pit.armed());
}

TEST(Pit, Mode0OneShotFiresOnceThenDisarms) {
  base::FakeClock clock(0);
  Pit pit(clock, 0, true);
  program(pit, 0, 0, 1193);  // ~1 ms
  clock.advance_ns(2 * kMs);
  EXPECT_TRUE(pit.expire(clock.now_ns()));
  EXPECT_FALSE(pit.armed());
  clock.advance_ns(2 * kMs);
  EXPECT_FALSE(pit.expire(clock.now_ns()));
}

TEST(Pit, ReinjectHoldsSecondTickUntilAckThenDeliversIt) {
  base::FakeClock clock(0);
  Pit pit(clock, 0, true);
  program(pit, 0, 2, 1193);  // ~1 ms
  clock.advance_ns(1 * kMs);
  EXPECT_TRUE(pit.expire(clock.now_ns()));
  clock.advance_ns(1 * kMs);
  EXPECT_FALSE(pit.expire(clock.now_ns()));  // first tick not acked yet
  EXPECT_TRUE(pit.ack());                    // the missed tick
  EXPECT_FALSE(pit.ack());                   // nothing more pending
}

TEST(Pit, TimerDisabledWithoutIoapicNeverArms) {
  base::FakeClock clock(0);
  Pit pit(clock, 0, false);
  program(pit, 0, 2, 1193);
  EXPECT_FALSE(pit.armed());
}

TEST(Pit, PeriodicBelow200usIsClampedButFirstExpiryIsTheInterval) {
  base::FakeClock clock(0);
  Pit pit(clock, 0, true);
  pit.set_reinject(false);
  program(pit, 0, 2, 2);  // ~1.7 us
  clock.advance_ns(2000);
  EXPECT_TRUE(pit.expire(clock.now_ns()));
  EXPECT_GE(pit.deadline_ns(), 200'000u);
}

TEST(Pit, Mode0CountDecrementsAtPitFrequency) {
  base::FakeClock clock(0);
  Pit pit(clock, 0, true);
  program(pit, 0, 0, 10000);
  clock.advance_ns(1000 * kTickNs + 100);
  EXPECT_EQ(latch_read(pit, 0), 10000 - 1000);
}

TEST(Pit, Channel2CountsFromLoadTimeAndOutOnPort61AfterTerminalCount) {
  base::FakeClock clock(0);
  Pit pit(clock, KVM_PIT_SPEAKER_DUMMY, true);
  out(pit, 0x61, 0x01);  // gate on, speaker off
  program(pit, 2, 0, 100);
  EXPECT_EQ(in(pit, 0x61) & 0x21, 0x01);  // OUT low while counting
  clock.advance_ns(101 * kTickNs);
  EXPECT_EQ(in(pit, 0x61) & 0x21, 0x21);  // OUT high at terminal count
}

TEST(Pit, Port61NotClaimedWithoutSpeakerFlag) {
  base::FakeClock clock(0);
  Pit pit(clock, 0, true);
  uint8_t v = 0;
  EXPECT_FALSE(pit.pio(0x61, false, 1, &v));
  EXPECT_FALSE(pit.pio(0x43, false, 2, &v));  // crosses 0x44
}

TEST(Pit, GateRisingEdgeRestartsMode1Counting) {
  base::FakeClock clock(0);
  Pit pit(clock, KVM_PIT_SPEAKER_DUMMY, true);
  program(pit, 2, 1, 1000);
  clock.advance_ns(500 * kTickNs + 100);
  out(pit, 0x61, 0x01);  // rising edge: reload
  EXPECT_EQ(latch_read(pit, 2), 1000);
}

TEST(Pit, LsbMsbFlipFlopAlternatesOnLiveReads) {
  base::FakeClock clock(0);
  Pit pit(clock, 0, true);
  program(pit, 1, 0, 0x1234);
  EXPECT_EQ(in(pit, 0x41), 0x34);
  EXPECT_EQ(in(pit, 0x41), 0x12);
  EXPECT_EQ(in(pit, 0x41), 0x34);
}

TEST(Pit, LatchHoldsCountWhileTimeMoves) {
  base::FakeClock clock(0);
  Pit pit(clock, 0, true);
  program(pit, 1, 0, 5000);
  out(pit, 0x43, 0x40);  // latch channel 1
  clock.advance_ns(1000 * kTickNs);
  EXPECT_EQ(in(pit, 0x41), 5000 & 0xff);
  EXPECT_EQ(in(pit, 0x41), 5000 >> 8);
}

TEST(Pit, ReadBackCommandLatchesStatusWithModeAccessAndOut) {
  base::FakeClock clock(0);
  Pit pit(clock, 0, true);
  program(pit, 1, 3, 100);
  out(pit, 0x43, 0xc0 | 0x20 | (1 << 2));  // read-back status only, channel 1
  EXPECT_EQ(in(pit, 0x41), 0x80 | 0x30 | (3 << 1));  // OUT high at start of mode 3
}

TEST(Pit, LsbOnlyAccessLoadsLowByte) {
  base::FakeClock clock(0);
  Pit pit(clock, 0, true);
  out(pit, 0x43, 0x40 | 0x10);  // channel 1, LSB only, mode 0
  out(pit, 0x41, 0x80);
  kvm_pit_state2 s{};
  pit.get_state(&s);
  EXPECT_EQ(s.channels[1].count, 0x80u);
  EXPECT_EQ(s.channels[1].rw_mode, 1);
}

TEST(Pit, Mode6AliasesMode2AndBcdBitIsKept) {
  base::FakeClock clock(0);
  Pit pit(clock, 0, true);
  out(pit, 0x43, 0x40 | 0x30 | (6 << 1) | 1);
  kvm_pit_state2 s{};
  pit.get_state(&s);
  EXPECT_EQ(s.channels[1].mode, 2);
  EXPECT_EQ(s.channels[1].bcd, 1);
}

TEST(Pit, SetStateReloadsCountsAndArmsChannel0) {
  base::FakeClock clock(5000);
  Pit pit(clock, 0, true);
  kvm_pit_state2 s{};
  pit.get_state(&s);
  s.channels[0].mode = 2;
  s.channels[0].count = 1193;
  pit.set_state(s);
  EXPECT_TRUE(pit.armed());
  kvm_pit_state2 t{};
  pit.get_state(&t);
  EXPECT_EQ(t.channels[0].count, 1193u);
  EXPECT_EQ(t.channels[2].count_load_time, 5000);
}

}  // namespace
}  // namespace skvm::kvm::irq
