// The 8259A pair (i8259.c semantics), driven through its ports as a BIOS
// or Linux programs it.
#include "kvm/irqchip/pic.h"

#include <gtest/gtest.h>

namespace skvm::kvm::irq {
namespace {

// The Linux/BIOS init sequence: ICW1 (edge, ICW4 needed), ICW2 (base),
// ICW3 (cascade), ICW4 (8086 mode, optionally auto-EOI), then OCW1.
void init(Pic& pic, uint8_t master_base, uint8_t slave_base, bool auto_eoi = false) {
  pic.write(0x20, 0x11);
  pic.write(0x21, master_base);
  pic.write(0x21, 0x04);
  pic.write(0x21, auto_eoi ? 0x03 : 0x01);
  pic.write(0xa0, 0x11);
  pic.write(0xa1, slave_base);
  pic.write(0xa1, 0x02);
  pic.write(0xa1, auto_eoi ? 0x03 : 0x01);
  pic.write(0x21, 0x00);
  pic.write(0xa1, 0x00);
}

uint8_t read(Pic& pic, uint16_t port) {
  uint8_t v = 0xee;
  EXPECT_TRUE(pic.read(port, &v));
  return v;
}

TEST(Pic, EdgeIrqRaisesOutputAndAcknowledgeGivesVectorAndSetsIsr) {
  Pic pic;
  init(pic, 0x08, 0x70);
  EXPECT_FALSE(pic.output());
  EXPECT_EQ(pic.set_irq(1, 0, 1), 1);
  EXPECT_TRUE(pic.output());
  EXPECT_EQ(pic.acknowledge(), 0x09);
  EXPECT_FALSE(pic.output());
  EXPECT_EQ(pic.state(0).isr, 0x02);
  EXPECT_EQ(pic.state(0).irr, 0x00);
}

TEST(Pic, NewEdgeWhileIrrPendingIsCoalesced) {
  Pic pic;
  init(pic, 0x08, 0x70);
  EXPECT_EQ(pic.set_irq(3, 0, 1), 1);
  // i8259.c: a line held high is no new edge and reports 1, as KVM does.
  EXPECT_EQ(pic.set_irq(3, 0, 1), 1);
  EXPECT_EQ(pic.set_irq(3, 0, 0), 1);
  EXPECT_EQ(pic.set_irq(3, 0, 1), 0);  // edge, but IRR still set
  EXPECT_EQ(pic.state(0).irr, 0x08);
}

TEST(Pic, MaskedIrqReturnsMinusOneAndKeepsOutputLow) {
  Pic pic;
  init(pic, 0x08, 0x70);
  pic.write(0x21, 0x10);
  EXPECT_EQ(pic.set_irq(4, 0, 1), -1);
  EXPECT_FALSE(pic.output());
  EXPECT_EQ(read(pic, 0x21), 0x10);  // OCW1 read back
  pic.write(0x21, 0x00);              // unmasking raises the pending IRR
  EXPECT_TRUE(pic.output());
}

TEST(Pic, NonSpecificEoiClearsHighestIsrAndAllowsNextIrq) {
  Pic pic;
  init(pic, 0x20, 0x28);
  pic.set_irq(0, 0, 1);
  EXPECT_EQ(pic.acknowledge(), 0x20);
  pic.set_irq(0, 0, 0);
  pic.set_irq(5, 0, 1);
  EXPECT_FALSE(pic.output());  // IRQ 5 blocked by IRQ 0 in service
  pic.write(0x20, 0x20);       // OCW2 non-specific EOI
  EXPECT_EQ(pic.state(0).isr, 0);
  EXPECT_TRUE(pic.output());
  EXPECT_EQ(pic.acknowledge(), 0x25);
}

TEST(Pic, HigherPriorityIrqPreemptsLowerInService) {
  Pic pic;
  init(pic, 0x20, 0x28);
  pic.set_irq(5, 0, 1);
  EXPECT_EQ(pic.acknowledge(), 0x25);
  pic.set_irq(1, 0, 1);
  EXPECT_TRUE(pic.output());
  EXPECT_EQ(pic.acknowledge(), 0x21);
  EXPECT_EQ(pic.state(0).isr, 0x22);
}

TEST(Pic, SlaveIrqCascadesThroughMasterIrq2) {
  Pic pic;
  init(pic, 0x08, 0x70);
  EXPECT_EQ(pic.set_irq(8 + 4, 0, 1), 1);  // IRQ 12
  EXPECT_TRUE(pic.output());
  EXPECT_EQ(pic.acknowledge(), 0x74);
  EXPECT_EQ(pic.state(0).isr, 0x04);
  EXPECT_EQ(pic.state(1).isr, 0x10);
}

TEST(Pic, SpuriousAcknowledgeGivesIrq7Vector) {
  Pic pic;
  init(pic, 0x08, 0x70);
  EXPECT_EQ(pic.acknowledge(), 0x0f);
  EXPECT_EQ(pic.state(0).isr, 0);
}

TEST(Pic, AutoEoiLeavesIsrClearAndReportsAck) {
  Pic pic;
  init(pic, 0x08, 0x70, true);
  pic.take_acked();
  pic.set_irq(6, 0, 1);
  EXPECT_EQ(pic.acknowledge(), 0x0e);
  EXPECT_EQ(pic.state(0).isr, 0);
  EXPECT_EQ(pic.take_acked(), 1u << 6);
}

TEST(Pic, LevelTriggeredViaElcrStaysInIrrUntilLineDrops) {
  Pic pic;
  init(pic, 0x08, 0x70);
  EXPECT_TRUE(pic.write(0x4d1, 0xff));
  EXPECT_EQ(read(pic, 0x4d1), 0xde);  // slave ELCR mask
  EXPECT_TRUE(pic.write(0x4d0, 0xff));
  EXPECT_EQ(read(pic, 0x4d0), 0xf8);  // IRQ 0-2 are always edge
  pic.set_irq(10, 0, 1);
  EXPECT_EQ(pic.acknowledge(), 0x72);
  EXPECT_EQ(pic.state(1).irr, 0x04);  // level: not cleared by INTA
  pic.set_irq(10, 0, 0);
  EXPECT_EQ(pic.state(1).irr, 0x00);
}

TEST(Pic, LineIsOrOfSources) {
  Pic pic;
  init(pic, 0x08, 0x70);
  pic.write(0x4d0, 0x20);  // IRQ 5 level
  pic.set_irq(5, 0, 1);
  pic.set_irq(5, 1, 1);
  pic.set_irq(5, 0, 0);
  EXPECT_EQ(pic.state(0).irr, 0x20);  // source 1 still holds it
  pic.set_irq(5, 1, 0);
  EXPECT_EQ(pic.state(0).irr, 0x00);
}

TEST(Pic, Ocw3SelectsIsrOrIrrOnRead) {
  Pic pic;
  init(pic, 0x08, 0x70);
  pic.set_irq(3, 0, 1);
  pic.set_irq(4, 0, 1);
  EXPECT_EQ(read(pic, 0x20), 0x18);  // IRR by default after init
  pic.acknowledge();
  pic.write(0x20, 0x0b);  // OCW3: read ISR
  EXPECT_EQ(read(pic, 0x20), 0x08);
  pic.write(0x20, 0x0a);  // OCW3: read IRR
  EXPECT_EQ(read(pic, 0x20), 0x10);
}

TEST(Pic, PollCommandReturnsHighestIrqAndClearsIt) {
  Pic pic;
  init(pic, 0x08, 0x70);
  pic.set_irq(6, 0, 1);
  pic.write(0x20, 0x0c);  // OCW3 poll
  EXPECT_EQ(read(pic, 0x20), 6);
  EXPECT_EQ(pic.state(0).irr, 0);
  EXPECT_EQ(pic.state(0).isr, 0);
  pic.write(0x20, 0x0c);
  EXPECT_EQ(read(pic, 0x20), 7);  // nothing pending
}

TEST(Pic, SpecificRotateMakesNextIrqHighestPriority) {
  Pic pic;
  init(pic, 0x08, 0x70);
  pic.write(0x20, 0xc4);  // OCW2 set priority: IRQ 4 lowest, 5 highest
  EXPECT_EQ(pic.state(0).priority_add, 5);
  pic.set_irq(1, 0, 1);
  pic.set_irq(6, 0, 1);
  EXPECT_EQ(pic.acknowledge(), 0x0e);  // 6 beats 1 now
}

TEST(Pic, RotateOnNonSpecificEoiMovesPriority) {
  Pic pic;
  init(pic, 0x08, 0x70);
  pic.set_irq(2 + 1, 0, 1);
  pic.acknowledge();
  pic.write(0x20, 0xa0);  // rotate on non-specific EOI
  EXPECT_EQ(pic.state(0).priority_add, 4);
  EXPECT_EQ(pic.state(0).isr, 0);
}

TEST(Pic, SpecialFullyNestedLetsSlaveIrqPreemptCascade) {
  Pic pic;
  pic.write(0x20, 0x11);
  pic.write(0x21, 0x08);
  pic.write(0x21, 0x04);
  pic.write(0x21, 0x11);  // ICW4: SFNM
  pic.write(0xa0, 0x11);
  pic.write(0xa1, 0x70);
  pic.write(0xa1, 0x02);
  pic.write(0xa1, 0x01);
  EXPECT_EQ(pic.state(0).special_fully_nested_mode, 1);
  pic.set_irq(13, 0, 1);
  EXPECT_EQ(pic.acknowledge(), 0x75);
  pic.set_irq(9, 0, 1);  // higher priority on the slave
  EXPECT_TRUE(pic.output());
  EXPECT_EQ(pic.acknowledge(), 0x71);
}

TEST(Pic, Icw1ResetsMaskAndInitState) {
  Pic pic;
  init(pic, 0x08, 0x70);
  pic.write(0x21, 0xff);
  pic.write(0x20, 0x11);
  EXPECT_EQ(pic.state(0).imr, 0);
  EXPECT_EQ(pic.state(0).init_state, 1);
  EXPECT_EQ(pic.state(0).init4, 1);
}

TEST(Pic, ForeignPortIsNotClaimed) {
  Pic pic;
  uint8_t v = 0;
  EXPECT_FALSE(pic.write(0x22, 0));
  EXPECT_FALSE(pic.read(0x60, &v));
}

}  // namespace
}  // namespace skvm::kvm::irq
