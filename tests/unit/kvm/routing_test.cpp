// GSI routing and the Irqchip's kvm_set_irq (routing.cpp, irqchip.cpp).
#include "kvm/irqchip/routing.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <vector>

#include "kvm/irqchip/irqchip.h"

namespace skvm::kvm::irq {
namespace {

class FakeBus final : public ApicBus {
 public:
  int deliver(const ApicIrq& irq, int) override {
    sent.push_back(irq);
    return 1;
  }
  void pic_output_changed() override { ++wakeups; }
  std::vector<ApicIrq> sent;
  int wakeups = 0;
};

kvm_irq_routing_entry chip_entry(uint32_t gsi, uint32_t chip, uint32_t pin) {
  kvm_irq_routing_entry e{};
  e.gsi = gsi;
  e.type = KVM_IRQ_ROUTING_IRQCHIP;
  e.u.irqchip.irqchip = chip;
  e.u.irqchip.pin = pin;
  return e;
}

kvm_irq_routing_entry msi_entry(uint32_t gsi, uint32_t addr_lo, uint32_t data) {
  kvm_irq_routing_entry e{};
  e.gsi = gsi;
  e.type = KVM_IRQ_ROUTING_MSI;
  e.u.msi.address_lo = addr_lo;
  e.u.msi.data = data;
  return e;
}

TEST(Routing, DefaultRoutesIsaGsisToPicAndIoapicAndHigherToIoapicOnly) {
  auto t = RoutingTable::make_default();
  EXPECT_EQ(t->entries(0).size(), 2u);
  EXPECT_EQ(t->entries(15).size(), 2u);
  EXPECT_EQ(t->entries(16).size(), 1u);
  EXPECT_EQ(t->entries(23).size(), 1u);
  EXPECT_EQ(t->entries(24).size(), 0u);
  EXPECT_EQ(t->gsi_of(KVM_IRQCHIP_IOAPIC, 0), 0);  // no IRQ0 -> pin 2 override
  EXPECT_EQ(t->gsi_of(KVM_IRQCHIP_PIC_SLAVE, 8 + 6), 14);
  EXPECT_EQ(t->gsi_of(KVM_IRQCHIP_IOAPIC, 23), 23);
}

TEST(Routing, PicPin8IsEinval) {
  auto e = chip_entry(1, KVM_IRQCHIP_PIC_MASTER, 8);
  std::shared_ptr<const RoutingTable> t;
  EXPECT_EQ(RoutingTable::build(&e, 1, &t), -EINVAL);
}

TEST(Routing, IoapicPin24IsEinval) {
  auto e = chip_entry(1, KVM_IRQCHIP_IOAPIC, 24);
  std::shared_ptr<const RoutingTable> t;
  EXPECT_EQ(RoutingTable::build(&e, 1, &t), -EINVAL);
}

TEST(Routing, GsiAtMaxRoutesIsEinval) {
  auto e = chip_entry(kMaxIrqRoutes, KVM_IRQCHIP_IOAPIC, 1);
  std::shared_ptr<const RoutingTable> t;
  EXPECT_EQ(RoutingTable::build(&e, 1, &t), -EINVAL);
}

TEST(Routing, SameChipTwiceForOneGsiIsEinval) {
  kvm_irq_routing_entry e[2] = {chip_entry(5, KVM_IRQCHIP_IOAPIC, 1),
                                chip_entry(5, KVM_IRQCHIP_IOAPIC, 2)};
  std::shared_ptr<const RoutingTable> t;
  EXPECT_EQ(RoutingTable::build(e, 2, &t), -EINVAL);
}

TEST(Routing, MsiSharingAGsiIsEinval) {
  kvm_irq_routing_entry e[2] = {chip_entry(5, KVM_IRQCHIP_IOAPIC, 1), msi_entry(5, 0xfee00000, 0x30)};
  std::shared_ptr<const RoutingTable> t;
  EXPECT_EQ(RoutingTable::build(e, 2, &t), -EINVAL);
}

TEST(Routing, FlagsOnIrqchipEntryAreEinvalButDevidOnMsiIsAccepted) {
  auto c = chip_entry(5, KVM_IRQCHIP_IOAPIC, 1);
  c.flags = KVM_MSI_VALID_DEVID;
  std::shared_ptr<const RoutingTable> t;
  EXPECT_EQ(RoutingTable::build(&c, 1, &t), -EINVAL);
  auto m = msi_entry(5, 0xfee00000, 0x30);
  m.flags = KVM_MSI_VALID_DEVID;
  EXPECT_EQ(RoutingTable::build(&m, 1, &t), 0);
}

TEST(Routing, UnknownTypeIsEinval) {
  kvm_irq_routing_entry e{};
  e.gsi = 1;
  e.type = 99;
  std::shared_ptr<const RoutingTable> t;
  EXPECT_EQ(RoutingTable::build(&e, 1, &t), -EINVAL);
}

TEST(Irqchip, UnroutedGsiIsIgnored) {
  Irqchip chip(nullptr);
  EXPECT_EQ(chip.set_irq(kUserspaceSourceId, 100, 1, true), -1);
}

TEST(Irqchip, MsiRouteDeliversDecodedMessage) {
  FakeBus bus;
  Irqchip chip(&bus);
  // Destination 5, logical, vector 0x41, lowest priority, level trigger.
  auto e = msi_entry(30, 0xfee00000 | (5u << 12) | (1u << 2), 0x41 | (1u << 8) | (1u << 15));
  ASSERT_EQ(chip.set_routing(&e, 1), 0);
  EXPECT_EQ(chip.set_irq(kUserspaceSourceId, 30, 1, true), 1);
  ASSERT_EQ(bus.sent.size(), 1u);
  EXPECT_EQ(bus.sent[0].dest_id, 5u);
  EXPECT_TRUE(bus.sent[0].logical);
  EXPECT_EQ(bus.sent[0].vector, 0x41);
  EXPECT_EQ(bus.sent[0].delivery_mode, kDmLowest);
  EXPECT_TRUE(bus.sent[0].level_trigger);
  EXPECT_EQ(chip.set_irq(kUserspaceSourceId, 30, 0, true), -1);  // MSI ignores level 0
}

TEST(Irqchip, DefaultGsi3ReachesPicAndWakesTheBus) {
  FakeBus bus;
  Irqchip chip(&bus);
  uint8_t init[] = {0x11, 0x08, 0x04, 0x01, 0x00};
  uint16_t ports[] = {0x20, 0x21, 0x21, 0x21, 0x21};
  for (int i = 0; i < 5; i++) ASSERT_TRUE(chip.pio(ports[i], true, 1, &init[i]));
  // IOAPIC pin masked (-1) + PIC delivered (1) = 1.
  EXPECT_EQ(chip.set_irq(kUserspaceSourceId, 3, 1, true), 1);
  EXPECT_TRUE(chip.pic_has_interrupt());
  EXPECT_GE(bus.wakeups, 1);
  EXPECT_EQ(chip.pic_acknowledge(), 0x0b);
}

TEST(Irqchip, AckNotifierRunsOnIoapicEoiOfItsGsi) {
  FakeBus bus;
  Irqchip chip(&bus);
  int acks = 0;
  chip.add_ack_notifier(17, [&] { ++acks; });
  uint32_t sel = 0x10 + 2 * 17, val = 0x61 | (1u << 15);
  chip.mmio(0xfec00000, true, 4, &sel);
  chip.mmio(0xfec00010, true, 4, &val);
  EXPECT_EQ(chip.set_irq(kResampleSourceId, 17, 1, false), 1);
  chip.eoi_broadcast(0x62, true);
  EXPECT_EQ(acks, 0);
  chip.eoi_broadcast(0x61, true);
  EXPECT_EQ(acks, 1);
}

TEST(Irqchip, PicPortsClaimOnlyAccessesInsideTheirRange) {
  Irqchip chip(nullptr);
  uint16_t w = 0xffff;
  EXPECT_TRUE(chip.pio(0x20, false, 2, &w));
  EXPECT_EQ(w, 0);
  EXPECT_FALSE(chip.pio(0x21, false, 2, &w));
  EXPECT_FALSE(chip.pio(0x40, false, 1, &w));
  uint32_t d = 0;
  EXPECT_FALSE(chip.mmio(0xfec00100, false, 4, &d));
  EXPECT_TRUE(chip.mmio(0xfec000fc, false, 4, &d));
}

TEST(Irqchip, GetChipBadIdIsEinval) {
  Irqchip chip(nullptr);
  kvm_irqchip c{};
  c.chip_id = 3;
  EXPECT_EQ(chip.get_chip(&c), -EINVAL);
  c.chip_id = KVM_IRQCHIP_PIC_SLAVE;
  EXPECT_EQ(chip.get_chip(&c), 0);
  EXPECT_EQ(c.chip.pic.elcr_mask, 0xde);
}

}  // namespace
}  // namespace skvm::kvm::irq
