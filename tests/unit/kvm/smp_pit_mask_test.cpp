// The PIT's reinjection and the irqchip's mask notifiers (i8254.c:
// pit_mask_notifer; irq_comm.c: kvm_fire_mask_notifiers). The regression:
// a PIT tick pulsed while IRQ 0 was masked everywhere is never
// acknowledged, so with reinjection the PIT stopped for good; Linux then
// found "8254 timer not connected to IO-APIC", fell back to ExtINT through
// the PIC, and two-vCPU boots stalled under host load. KVM forgets the
// missed ticks when the guest unmasks IRQ 0; so does softkvm now.
#include <gtest/gtest.h>

#include <vector>

#include "kvm/irqchip/irqchip.h"
#include "kvm/irqchip/pit.h"

namespace skvm::kvm::irq {
namespace {

constexpr uint64_t kMs = 1'000'000;

void pit_out(Pit& pit, uint16_t port, uint8_t v) { ASSERT_TRUE(pit.pio(port, true, 1, &v)); }

// Channel 0, LSB/MSB, mode 2 (rate generator), ~10 ms.
void program_10ms(Pit& pit) {
  pit_out(pit, 0x43, 0x34);
  pit_out(pit, 0x40, 11932 & 0xff);
  pit_out(pit, 0x40, 11932 >> 8);
}

TEST(PitReinjection, UnacknowledgedTickHoldsBackLaterTicks) {
  base::FakeClock clock(0);
  Pit pit(clock, 0, true);
  program_10ms(pit);
  clock.advance_ns(10 * kMs + 1000);
  EXPECT_TRUE(pit.expire(clock.now_ns()));  // tick 1 pulsed, never acked
  for (int i = 0; i < 5; i++) {
    clock.advance_ns(10 * kMs);
    EXPECT_FALSE(pit.expire(clock.now_ns())) << "tick " << i + 2;
  }
}

TEST(PitReinjection, UnmaskForgetsTheLostTickAndTheNextExpiryPulses) {
  base::FakeClock clock(0);
  Pit pit(clock, 0, true);
  program_10ms(pit);
  clock.advance_ns(10 * kMs + 1000);
  ASSERT_TRUE(pit.expire(clock.now_ns()));  // lost: IRQ 0 masked
  clock.advance_ns(10 * kMs);
  ASSERT_FALSE(pit.expire(clock.now_ns()));
  pit.unmasked();
  clock.advance_ns(10 * kMs);
  EXPECT_TRUE(pit.expire(clock.now_ns()));
  // The backlog was dropped: the ack of this tick owes nothing more.
  EXPECT_FALSE(pit.ack());
}

// QEMU's table (and softkvm run's): GSI 0 is IOAPIC pin 2 and PIC IRQ 0.
std::vector<kvm_irq_routing_entry> qemu_routing() {
  std::vector<kvm_irq_routing_entry> v;
  for (uint32_t gsi = 0; gsi < 24; gsi++) {
    kvm_irq_routing_entry e{};
    e.gsi = gsi;
    e.type = KVM_IRQ_ROUTING_IRQCHIP;
    if (gsi < 16 && gsi != 2) {
      e.u.irqchip.irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE;
      e.u.irqchip.pin = gsi % 8;
      v.push_back(e);
    }
    if (gsi != 2) {
      e.u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
      e.u.irqchip.pin = gsi == 0 ? 2 : gsi;
      v.push_back(e);
    }
  }
  return v;
}

void ioapic_write(Irqchip& chip, uint32_t reg, uint32_t value) {
  ASSERT_TRUE(chip.mmio(Ioapic::kDefaultBase, true, 4, &reg));
  ASSERT_TRUE(chip.mmio(Ioapic::kDefaultBase + 0x10, true, 4, &value));
}

void pic_out(Irqchip& chip, uint16_t port, uint8_t v) { ASSERT_TRUE(chip.pio(port, true, 1, &v)); }

TEST(IrqchipMaskNotifier, IoapicPin2MaskChangesReachTheGsi0Notifier) {
  Irqchip chip(nullptr);
  auto routes = qemu_routing();
  ASSERT_EQ(chip.set_routing(routes.data(), static_cast<uint32_t>(routes.size())), 0);
  std::vector<bool> seen;
  chip.add_mask_notifier(0, [&](bool masked) { seen.push_back(masked); });
  ioapic_write(chip, 0x14, 0x30);  // pin 2: vector 0x30, unmasked
  ASSERT_EQ(seen, std::vector<bool>{false});
  ioapic_write(chip, 0x14, 0x30);  // unchanged: no notification
  ASSERT_EQ(seen.size(), 1u);
  ioapic_write(chip, 0x14, 0x10030);  // masked
  EXPECT_EQ(seen, (std::vector<bool>{false, true}));
  ioapic_write(chip, 0x10, 0x31);  // pin 0 is not GSI 0 with this table
  EXPECT_EQ(seen.size(), 2u);
}

TEST(IrqchipMaskNotifier, PicImrChangesOfIrq0ReachTheGsi0Notifier) {
  Irqchip chip(nullptr);
  std::vector<bool> seen;
  chip.add_mask_notifier(0, [&](bool masked) { seen.push_back(masked); });
  pic_out(chip, 0x21, 0xff);  // OCW1: mask all
  pic_out(chip, 0x21, 0xfe);  // unmask IRQ 0
  pic_out(chip, 0x21, 0xfc);  // IRQ 1 only
  EXPECT_EQ(seen, (std::vector<bool>{true, false}));
}

// An EOI of the slave's IRQ 10 is an ack of GSI 10 (kvm_notify_acked_irq);
// an OCW1 unmask of it fires GSI 10's mask notifiers.
TEST(IrqchipAckNotifier, SlavePicEoiAcksItsGsi) {
  Irqchip chip(nullptr);
  int acks = 0;
  chip.add_ack_notifier(10, [&] { ++acks; });
  ASSERT_GE(chip.set_irq(kUserspaceSourceId, 10, 1, false), 0);
  ASSERT_TRUE(chip.pic_has_interrupt());
  chip.pic_acknowledge();
  EXPECT_EQ(acks, 0);
  pic_out(chip, 0xa0, 0x20);  // non-specific EOI to the slave
  EXPECT_EQ(acks, 1);
}

TEST(IrqchipMaskNotifier, SlavePicImrChangeReachesItsGsi) {
  Irqchip chip(nullptr);
  std::vector<bool> seen;
  chip.add_mask_notifier(10, [&](bool masked) { seen.push_back(masked); });
  pic_out(chip, 0xa1, 0x04);  // mask IRQ 10
  pic_out(chip, 0xa1, 0x00);
  EXPECT_EQ(seen, (std::vector<bool>{true, false}));
}

}  // namespace
}  // namespace skvm::kvm::irq
