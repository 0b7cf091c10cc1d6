// The IOAPIC (ioapic.c semantics) through its MMIO window, with a fake APIC
// bus that records the messages.
#include "kvm/irqchip/ioapic.h"

#include <gtest/gtest.h>

#include <vector>

namespace skvm::kvm::irq {
namespace {

class FakeBus final : public ApicBus {
 public:
  int deliver(const ApicIrq& irq, int) override {
    sent.push_back(irq);
    return accept;
  }
  void pic_output_changed() override {}
  std::vector<ApicIrq> sent;
  int accept = 1;
};

constexpr uint64_t kBase = 0xfec00000;

void sel(Ioapic& io, uint32_t reg) { io.mmio_write(kBase, 4, &reg); }
void win_write(Ioapic& io, uint32_t reg, uint32_t v) {
  sel(io, reg);
  io.mmio_write(kBase + 0x10, 4, &v);
}
uint32_t win_read(Ioapic& io, uint32_t reg) {
  sel(io, reg);
  uint32_t v = 0;
  io.mmio_read(kBase + 0x10, 4, &v);
  return v;
}
// Redirection entry `pin`: vector, level trigger, mask, destination.
void route(Ioapic& io, unsigned pin, uint8_t vector, bool level, bool masked = false,
           uint8_t dest = 0) {
  win_write(io, 0x11 + 2 * pin, uint32_t{dest} << 24);
  win_write(io, 0x10 + 2 * pin, vector | (level ? 1u << 15 : 0) | (masked ? 1u << 16 : 0));
}

TEST(Ioapic, VersionRegisterReports24PinsVersion0x11) {
  Ioapic io;
  EXPECT_EQ(win_read(io, 0x01), 0x00170011u);
}

TEST(Ioapic, IdIsFourBitsAtBit24AndArbMirrorsIt) {
  Ioapic io;
  win_write(io, 0x00, 0xff000000);
  EXPECT_EQ(win_read(io, 0x00), 0x0f000000u);
  EXPECT_EQ(win_read(io, 0x02), 0x0f000000u);
}

TEST(Ioapic, PinsStartMaskedAndMaskedPinIsNotDelivered) {
  Ioapic io;
  FakeBus bus;
  io.set_bus(&bus);
  EXPECT_EQ(win_read(io, 0x10), 1u << 16);
  EXPECT_EQ(io.set_irq(4, 0, 1, false), -1);
  EXPECT_TRUE(bus.sent.empty());
}

TEST(Ioapic, EdgePinDeliversFixedMessageOncePerEdge) {
  Ioapic io;
  FakeBus bus;
  io.set_bus(&bus);
  route(io, 4, 0x34, false, false, 3);
  EXPECT_EQ(io.set_irq(4, 0, 1, false), 1);
  ASSERT_EQ(bus.sent.size(), 1u);
  EXPECT_EQ(bus.sent[0].vector, 0x34);
  EXPECT_EQ(bus.sent[0].dest_id, 3u);
  EXPECT_FALSE(bus.sent[0].level_trigger);
  EXPECT_EQ(io.set_irq(4, 0, 1, false), 0);  // no new edge: coalesced
  EXPECT_EQ(bus.sent.size(), 1u);
  io.set_irq(4, 0, 0, false);
  EXPECT_EQ(io.set_irq(4, 0, 1, false), 1);
  EXPECT_EQ(bus.sent.size(), 2u);
}

TEST(Ioapic, LevelPinSetsRemoteIrrAndRedeliversAfterEoiWhileAsserted) {
  Ioapic io;
  FakeBus bus;
  io.set_bus(&bus);
  route(io, 10, 0x50, true);
  EXPECT_EQ(io.set_irq(10, 0, 1, false), 1);
  EXPECT_TRUE(win_read(io, 0x10 + 20) & (1u << 14));  // remote IRR
  EXPECT_EQ(io.set_irq(10, 0, 1, false), -1);        // blocked by remote IRR
  EXPECT_EQ(bus.sent.size(), 1u);
  io.eoi(io.pins_with_vector(0x50), true);
  EXPECT_EQ(bus.sent.size(), 2u);  // line still high: re-asserted
  io.set_irq(10, 0, 0, false);
  io.eoi(io.pins_with_vector(0x50), true);
  EXPECT_FALSE(win_read(io, 0x10 + 20) & (1u << 14));
  EXPECT_EQ(bus.sent.size(), 2u);
}

TEST(Ioapic, UnmaskingAssertedLevelPinDelivers) {
  Ioapic io;
  FakeBus bus;
  io.set_bus(&bus);
  route(io, 7, 0x40, true, true);
  EXPECT_EQ(io.set_irq(7, 0, 1, false), -1);
  route(io, 7, 0x40, true, false);
  EXPECT_EQ(bus.sent.size(), 1u);
}

TEST(Ioapic, RemoteIrrAndDeliveryStatusAreReadOnly) {
  Ioapic io;
  win_write(io, 0x10, 0x5000 | (1u << 15) | 0x30);
  EXPECT_EQ(win_read(io, 0x10), (1u << 15) | 0x30u);
}

TEST(Ioapic, OutOfRangeRedirectionReadsAllOnes) {
  Ioapic io;
  EXPECT_EQ(win_read(io, 0x10 + 2 * 24), 0xffffffffu);
  EXPECT_EQ(win_read(io, 0x05), 0xffffffffu);
}

TEST(Ioapic, IoregselIsEightBits) {
  Ioapic io;
  uint32_t v = 0x1234;
  io.mmio_write(kBase, 4, &v);
  uint32_t r = 0;
  io.mmio_read(kBase, 4, &r);
  EXPECT_EQ(r, 0x34u);
}

TEST(Ioapic, StateRoundTripReinjectsIrr) {
  Ioapic io;
  FakeBus bus;
  io.set_bus(&bus);
  route(io, 3, 0x33, true);
  io.set_irq(3, 0, 1, false);
  kvm_ioapic_state s{};
  io.get_state(&s);
  EXPECT_EQ(s.irr, 1u << 3);
  EXPECT_EQ(s.base_address, kBase);
  Ioapic other;
  FakeBus bus2;
  other.set_bus(&bus2);
  s.redirtbl[3].bits &= ~(1ull << 14);  // remote IRR clear: re-delivered
  other.set_state(s);
  EXPECT_EQ(bus2.sent.size(), 1u);
  kvm_ioapic_state t{};
  other.get_state(&t);
  EXPECT_EQ(t.irr, 1u << 3);
}

TEST(Ioapic, EdgeIrrIsHiddenFromGetStateOnceDelivered) {
  Ioapic io;
  FakeBus bus;
  io.set_bus(&bus);
  route(io, 1, 0x31, false);
  io.set_irq(1, 0, 1, false);
  kvm_ioapic_state s{};
  io.get_state(&s);
  EXPECT_EQ(s.irr, 0u);
}

}  // namespace
}  // namespace skvm::kvm::irq
