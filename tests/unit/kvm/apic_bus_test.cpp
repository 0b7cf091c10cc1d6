// APIC bus routing (irq_comm.c: kvm_irq_delivery_to_apic) across LAPICs.
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "kvm/irqchip/lapic.h"
#include "kvm/irqchip/lapic_bus.h"

namespace skvm::kvm::irq {
namespace {

class ApicBusTest : public ::testing::Test {
 protected:
  base::FakeClock clock;
  LapicBus bus;
  std::vector<std::shared_ptr<Lapic>> apics;
  void SetUp() override {
    for (uint32_t i = 0; i < 4; ++i) {
      auto l = std::make_shared<Lapic>(i, clock, &bus, nullptr);
      uint32_t spiv = 0x1ff;
      l->mmio_write(kApicSpiv, 4, &spiv);
      uint32_t ldr = (1u << i) << 24;
      l->mmio_write(kApicLdr, 4, &ldr);
      bus.attach(l);
      apics.push_back(l);
    }
  }
  ApicIrq irq(uint8_t dm, uint32_t dest, bool logical = false, uint8_t vector = 0x40) {
    ApicIrq m;
    m.delivery_mode = dm;
    m.dest_id = dest;
    m.logical = logical;
    m.vector = vector;
    return m;
  }
};

TEST_F(ApicBusTest, PhysicalDestinationReachesOnlyThatApic) {
  EXPECT_EQ(bus.deliver(irq(kDmFixed, 2), -1), 1);
  for (uint32_t i = 0; i < 4; ++i) EXPECT_EQ(apics[i]->has_interrupt(), i == 2 ? 0x40 : -1);
}

TEST_F(ApicBusTest, BroadcastReachesAllAndUnknownDestinationReturnsMinusOne) {
  EXPECT_EQ(bus.deliver(irq(kDmFixed, 0xff), -1), 4);
  EXPECT_EQ(bus.deliver(irq(kDmFixed, 9), -1), -1);
}

TEST_F(ApicBusTest, LogicalFlatMaskSelectsSeveralApics) {
  EXPECT_EQ(bus.deliver(irq(kDmFixed, 0x05, true), -1), 2);
  EXPECT_EQ(apics[0]->has_interrupt(), 0x40);
  EXPECT_EQ(apics[2]->has_interrupt(), 0x40);
  EXPECT_EQ(apics[1]->has_interrupt(), -1);
}

TEST_F(ApicBusTest, ShorthandsUseTheSourceVcpu) {
  ApicIrq m = irq(kDmFixed, 0);
  m.shorthand = kShorthandAllExcSelf;
  EXPECT_EQ(bus.deliver(m, 1), 3);
  EXPECT_EQ(apics[1]->has_interrupt(), -1);
  m.shorthand = kShorthandSelf;
  m.vector = 0x50;
  EXPECT_EQ(bus.deliver(m, 1), 1);
  EXPECT_EQ(apics[1]->has_interrupt(), 0x50);
}

TEST_F(ApicBusTest, LowestPriorityPicksOneApicByVectorHashing) {
  // All four match: vector % 4 chooses the index among them.
  EXPECT_EQ(bus.deliver(irq(kDmLowest, 0x0f, true, 0x42), -1), 1);
  for (uint32_t i = 0; i < 4; ++i) EXPECT_EQ(apics[i]->has_interrupt(), i == 2 ? 0x42 : -1);
}

TEST_F(ApicBusTest, IcrIpiFromOneApicReachesAnother) {
  uint32_t icr2 = 3u << 24, icr = 0x4061;  // fixed, assert, vector 0x61
  apics[0]->mmio_write(kApicIcr2, 4, &icr2);
  apics[0]->mmio_write(kApicIcr, 4, &icr);
  EXPECT_EQ(apics[3]->has_interrupt(), 0x61);
}

TEST_F(ApicBusTest, DisabledApicDoesNotTakeFixedInterrupts) {
  apics[1]->set_base(kApicDefaultBase);
  EXPECT_EQ(bus.deliver(irq(kDmFixed, 1), -1), -1);
}

}  // namespace
}  // namespace skvm::kvm::irq
