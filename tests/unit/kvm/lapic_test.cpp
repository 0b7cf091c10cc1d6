// The local APIC (lapic.c semantics) driven through its MMIO registers with
// a fake clock, a recording APIC bus and a recording irqchip port.
#include "kvm/irqchip/lapic.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace skvm::kvm::irq {
namespace {

struct RecordingBus final : ApicBus {
  std::vector<ApicIrq> sent;
  std::vector<int> sources;
  int deliver(const ApicIrq& irq, int source_vcpu) override {
    sent.push_back(irq);
    sources.push_back(source_vcpu);
    return 1;
  }
  void pic_output_changed() override {}
};

struct RecordingPort final : IrqchipPort {
  std::vector<std::pair<uint8_t, bool>> eois;
  bool pic_has_interrupt() override { return false; }
  uint8_t pic_acknowledge() override { return 0; }
  void eoi_broadcast(uint8_t vector, bool level) override { eois.emplace_back(vector, level); }
};

struct CountingWaker final : LapicWaker {
  int wakes = 0;
  void wake() override { ++wakes; }
};

uint32_t rd(Lapic& l, uint32_t off) {
  uint32_t v = 0xdeadbeef;
  l.mmio_read(off, 4, &v);
  return v;
}
void wr(Lapic& l, uint32_t off, uint32_t v) { l.mmio_write(off, 4, &v); }

ApicIrq fixed(uint8_t vector, bool level = false) {
  ApicIrq irq;
  irq.vector = vector;
  irq.delivery_mode = kDmFixed;
  irq.level_trigger = level;
  return irq;
}

class LapicTest : public ::testing::Test {
 protected:
  base::FakeClock clock{1'000'000};
  RecordingBus bus;
  RecordingPort port;
  CountingWaker waker;
  Lapic l{0, clock, &bus, &port};
  void SetUp() override { l.set_waker(&waker); }
  void enable() { wr(l, kApicSpiv, 0x1ff); }
};

TEST_F(LapicTest, ResetValuesAreKvmsForTheBsp) {
  EXPECT_EQ(rd(l, kApicId), 0u);
  EXPECT_EQ(rd(l, kApicLvr), 0x50014u);
  EXPECT_EQ(rd(l, kApicSpiv), 0xffu);
  EXPECT_EQ(rd(l, kApicDfr), 0xffffffffu);
  EXPECT_EQ(rd(l, kApicLvtt), kLvtMasked);
  EXPECT_EQ(rd(l, kApicLvt0), 0x700u);  // KVM_X86_QUIRK_LINT0_REENABLED
  EXPECT_EQ(rd(l, kApicLvt1), kLvtMasked);
  Lapic ap{3, clock, nullptr, nullptr};
  uint32_t id = 0;
  ap.mmio_read(kApicId, 4, &id);
  EXPECT_EQ(id, 3u << 24);
  uint32_t lvt0 = 0;
  ap.mmio_read(kApicLvt0, 4, &lvt0);
  EXPECT_EQ(lvt0, kLvtMasked);
}

TEST_F(LapicTest, FixedInterruptIsRejectedWhileSoftwareDisabled) {
  EXPECT_EQ(l.accept_irq(fixed(0x40)), 0);
  EXPECT_EQ(l.has_interrupt(), -1);
  enable();
  EXPECT_EQ(l.accept_irq(fixed(0x40)), 1);
  EXPECT_EQ(l.has_interrupt(), 0x40);
  EXPECT_GT(waker.wakes, 0);
}

TEST_F(LapicTest, AcknowledgeMovesIrrToIsrAndRaisesPpr) {
  enable();
  l.accept_irq(fixed(0x51));
  EXPECT_EQ(rd(l, kApicIrr + 0x20), 1u << (0x51 - 64));
  EXPECT_EQ(l.acknowledge(), 0x51);
  EXPECT_EQ(rd(l, kApicIrr + 0x20), 0u);
  EXPECT_EQ(rd(l, kApicIsr + 0x20), 1u << (0x51 - 64));
  EXPECT_EQ(rd(l, kApicProcPri), 0x50u);
  // Same priority class: blocked until EOI; a higher class gets through.
  l.accept_irq(fixed(0x5f));
  EXPECT_EQ(l.has_interrupt(), -1);
  l.accept_irq(fixed(0x61));
  EXPECT_EQ(l.has_interrupt(), 0x61);
}

TEST_F(LapicTest, EoiClearsHighestIsrAndBroadcastsTriggerMode) {
  enable();
  l.accept_irq(fixed(0x30, /*level=*/true));
  EXPECT_EQ(l.acknowledge(), 0x30);
  l.accept_irq(fixed(0x80));
  EXPECT_EQ(l.acknowledge(), 0x80);
  wr(l, kApicEoi, 0);
  wr(l, kApicEoi, 0);
  ASSERT_EQ(port.eois.size(), 2u);
  EXPECT_EQ(port.eois[0], std::make_pair(uint8_t{0x80}, false));
  EXPECT_EQ(port.eois[1], std::make_pair(uint8_t{0x30}, true));
  EXPECT_EQ(rd(l, kApicProcPri), 0u);
  wr(l, kApicEoi, 0);  // nothing in service: no broadcast
  EXPECT_EQ(port.eois.size(), 2u);
}

TEST_F(LapicTest, TprMasksLowerPriorityClassesAndMirrorsCr8) {
  enable();
  wr(l, kApicTaskPri, 0x55);
  EXPECT_EQ(l.cr8(), 5u);
  l.accept_irq(fixed(0x45));
  EXPECT_EQ(l.has_interrupt(), -1);
  l.set_cr8(3);
  EXPECT_EQ(rd(l, kApicTaskPri), 0x30u);
  EXPECT_EQ(l.has_interrupt(), 0x45);
}

TEST_F(LapicTest, SoftwareDisableMasksEveryLvt) {
  enable();
  wr(l, kApicLvtt, 0x20);
  wr(l, kApicLvt1, 0x400);
  EXPECT_EQ(rd(l, kApicLvtt), 0x20u);
  wr(l, kApicSpiv, 0xff);
  EXPECT_EQ(rd(l, kApicLvtt), 0x20u | kLvtMasked);
  EXPECT_EQ(rd(l, kApicLvt1), 0x400u | kLvtMasked);
  wr(l, kApicLvt1, 0x400);  // stays masked while software-disabled
  EXPECT_EQ(rd(l, kApicLvt1), 0x400u | kLvtMasked);
}

TEST_F(LapicTest, IcrWriteSendsTheIpiWithIcr2DestinationAndBusyClear) {
  enable();
  wr(l, kApicIcr2, 0x03000000);
  wr(l, kApicIcr, 0x000c4000 | (kDmStartup << 8) | 0x9a | (1u << 12));
  ASSERT_EQ(bus.sent.size(), 1u);
  EXPECT_EQ(bus.sent[0].dest_id, 3u);
  EXPECT_EQ(bus.sent[0].vector, 0x9a);
  EXPECT_EQ(bus.sent[0].delivery_mode, kDmStartup);
  EXPECT_EQ(bus.sent[0].shorthand, kShorthandAllExcSelf);
  EXPECT_TRUE(bus.sent[0].level_assert);
  EXPECT_EQ(bus.sources[0], 0);
  EXPECT_EQ(rd(l, kApicIcr) & (1u << 12), 0u);
}

TEST_F(LapicTest, LogicalFlatAndClusterDestinationsMatchAsKvm) {
  wr(l, kApicLdr, 0x24000000);
  ApicIrq irq = fixed(0x40);
  irq.logical = true;
  irq.dest_id = 0x04;
  EXPECT_TRUE(l.match_dest(irq, nullptr));
  irq.dest_id = 0x08;
  EXPECT_FALSE(l.match_dest(irq, nullptr));
  wr(l, kApicDfr, 0x0fffffff);  // cluster: cluster 2, member bit 2
  irq.dest_id = 0x24;
  EXPECT_TRUE(l.match_dest(irq, nullptr));
  irq.dest_id = 0x14;
  EXPECT_FALSE(l.match_dest(irq, nullptr));
  irq.dest_id = 0xff;
  EXPECT_TRUE(l.match_dest(irq, nullptr));
  irq.logical = false;
  irq.dest_id = 0;
  EXPECT_TRUE(l.match_dest(irq, nullptr));
  irq.shorthand = kShorthandAllExcSelf;
  EXPECT_FALSE(l.match_dest(irq, &l));
  irq.shorthand = kShorthandSelf;
  EXPECT_TRUE(l.match_dest(irq, &l));
}

TEST_F(LapicTest, OneShotTimerFiresAtInitialCountTimesDivisor) {
  enable();
  wr(l, kApicTdcr, 0x0);  // divide by 2
  wr(l, kApicLvtt, 0x33);
  wr(l, kApicTmict, 1000);
  // lapic.c: apic_get_tmcct: (remaining mod period) / (1 ns * divisor).
  clock.advance_ns(2);
  EXPECT_EQ(rd(l, kApicTmcct), 999u);
  clock.advance_ns(998);
  EXPECT_EQ(rd(l, kApicTmcct), 500u);
  EXPECT_FALSE(l.poll_timer());
  clock.advance_ns(999);
  EXPECT_FALSE(l.poll_timer());
  clock.advance_ns(1);
  EXPECT_TRUE(l.poll_timer());
  EXPECT_EQ(l.has_interrupt(), 0x33);
  EXPECT_EQ(rd(l, kApicTmcct), 0u);
  EXPECT_EQ(l.next_deadline_ns(), UINT64_MAX);
}

TEST_F(LapicTest, PeriodicTimerRearmsAndIsLimitedTo200Microseconds) {
  enable();
  wr(l, kApicTdcr, 0xb);  // divide by 1
  wr(l, kApicLvtt, (1u << 17) | 0x40);
  wr(l, kApicTmict, 1'000'000);  // 1 ms at 1 GHz
  for (int i = 0; i < 5; ++i) {
    clock.advance_ns(999'999);
    EXPECT_FALSE(l.poll_timer());
    clock.advance_ns(1);
    EXPECT_TRUE(l.poll_timer());
    EXPECT_EQ(l.acknowledge(), 0x40);
    wr(l, kApicEoi, 0);
  }
  wr(l, kApicTmict, 10);  // 10 ns requested: 200 us used
  const uint64_t start = clock.now_ns();
  EXPECT_EQ(l.next_deadline_ns(), start + kMinPeriodicNs);
}

TEST_F(LapicTest, MaskedTimerExpiresWithoutInterrupt) {
  enable();
  wr(l, kApicLvtt, kLvtMasked | 0x40);
  wr(l, kApicTmict, 100);
  clock.advance_ns(1000);
  EXPECT_TRUE(l.poll_timer());
  EXPECT_EQ(l.has_interrupt(), -1);
}

TEST_F(LapicTest, HardwareDisabledApicReadsAllOnesAndIgnoresWrites) {
  l.set_base(kApicDefaultBase);  // enable bit clear
  EXPECT_EQ(rd(l, kApicLvr), 0xffffffffu);
  wr(l, kApicTaskPri, 0x20);
  l.set_base(kApicDefaultBase | kApicBaseEnable | kApicBaseBsp);
  EXPECT_EQ(rd(l, kApicTaskPri), 0u);
  EXPECT_TRUE(l.in_mmio_range(0xfee00030));
  EXPECT_FALSE(l.in_mmio_range(0xfee01000));
}

TEST_F(LapicTest, UnalignedOrWideWritesAreIgnoredAndNarrowReadsWork) {
  enable();
  uint8_t b = 0x40;
  l.mmio_write(kApicTaskPri, 1, &b);
  EXPECT_EQ(rd(l, kApicTaskPri), 0u);
  uint8_t ver = 0;
  l.mmio_read(kApicLvr + 2, 1, &ver);
  EXPECT_EQ(ver, 5);
}

TEST_F(LapicTest, NmiInitAndSipiArePending) {
  ApicIrq nmi;
  nmi.delivery_mode = kDmNmi;
  EXPECT_EQ(l.accept_irq(nmi), 1);  // NMIs are taken even when sw-disabled
  EXPECT_EQ(l.take_nmis(), 1u);
  EXPECT_EQ(l.take_nmis(), 0u);
  ApicIrq init;
  init.delivery_mode = kDmInit;
  EXPECT_EQ(l.accept_irq(init), 1);
  EXPECT_TRUE(l.init_pending());
  ApicIrq sipi;
  sipi.delivery_mode = kDmStartup;
  sipi.vector = 0x12;
  l.accept_irq(sipi);
  uint8_t v = 0;
  EXPECT_TRUE(l.sipi_pending(&v));
  EXPECT_EQ(v, 0x12);
  // INIT level de-assert is not an INIT.
  l.clear_init();
  init.level_trigger = true;
  init.level_assert = false;
  EXPECT_EQ(l.accept_irq(init), 0);
  EXPECT_FALSE(l.init_pending());
}

TEST_F(LapicTest, Lint0ExtIntAcceptsPicAndLint1NmiDelivers) {
  EXPECT_TRUE(l.accepts_pic_interrupt());
  enable();
  wr(l, kApicLvt0, kLvtMasked | 0x700);
  EXPECT_FALSE(l.accepts_pic_interrupt());
  wr(l, kApicLvt1, 0x400);
  l.local_deliver(kApicLvt1);
  EXPECT_EQ(l.take_nmis(), 1u);
}

TEST_F(LapicTest, GetSetStateRoundTripsAndRestartsTimerFromCurrentCount) {
  enable();
  wr(l, kApicTaskPri, 0x20);
  wr(l, kApicLdr, 0x01000000);
  wr(l, kApicTdcr, 0xb);
  wr(l, kApicLvtt, 0x41);
  wr(l, kApicTmict, 5000);
  l.accept_irq(fixed(0x70));
  clock.advance_ns(2000);
  kvm_lapic_state s{};
  l.get_state(&s);
  uint32_t tmcct;
  std::memcpy(&tmcct, s.regs + kApicTmcct, 4);
  EXPECT_EQ(tmcct, 3000u);
  Lapic other{0, clock, nullptr, nullptr};
  other.set_state(s);
  kvm_lapic_state t{};
  other.get_state(&t);
  EXPECT_EQ(std::memcmp(s.regs, t.regs, sizeof s.regs), 0);
  EXPECT_EQ(other.next_deadline_ns(), clock.now_ns() + 3000);
  EXPECT_EQ(other.has_interrupt(), 0x70);
}

}  // namespace
}  // namespace skvm::kvm::irq
