// The x2APIC interface of the local APIC (SDM Vol. 3A, 10.12; lapic.c:
// kvm_x2apic_msr_read/write, kvm_lapic_set_base, kvm_apic_state_fixup):
// MSR semantics and #GP rules, the MMIO page hole, x2APIC destinations on
// the APIC bus, and KVM_GET/SET_LAPIC in x2APIC mode.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "kvm/irqchip/lapic.h"
#include "kvm/irqchip/lapic_bus.h"

namespace skvm::kvm::irq {
namespace {

constexpr uint64_t kXapicBase = kApicDefaultBase | kApicBaseEnable;
constexpr uint64_t kX2Base = kXapicBase | kApicBaseX2apic;

uint32_t msr_of(uint32_t off) { return kX2apicMsrBase + (off >> 4); }

class X2apicTest : public ::testing::Test {
 protected:
  base::FakeClock clock{1'000'000};
  LapicBus bus;
  std::vector<std::shared_ptr<Lapic>> apics;
  void SetUp() override {
    // vCPU ids 0, 1, 17, 33: clusters 0, 0, 1, 2.
    for (uint32_t id : {0u, 1u, 17u, 33u}) {
      auto l = std::make_shared<Lapic>(id, clock, &bus, nullptr);
      bus.attach(l);
      apics.push_back(l);
    }
  }
  // Puts every LAPIC in x2APIC mode, software-enabled.
  void all_x2apic() {
    for (auto& l : apics) {
      l->set_base(kX2Base);
      ASSERT_TRUE(l->x2apic_msr_write(msr_of(kApicSpiv), 0x1ff));
    }
  }
  uint64_t rd(Lapic& l, uint32_t off) {
    uint64_t v = 0xdead;
    EXPECT_TRUE(l.x2apic_msr_read(msr_of(off), &v)) << std::hex << off;
    return v;
  }
  ApicIrq irq(uint32_t dest, bool logical = false) {
    ApicIrq m;
    m.delivery_mode = kDmFixed;
    m.dest_id = dest;
    m.logical = logical;
    m.vector = 0x40;
    return m;
  }
  std::vector<int> pending() {
    std::vector<int> r;
    for (auto& l : apics) r.push_back(l->has_interrupt());
    return r;
  }
};

TEST_F(X2apicTest, MsrsFaultOutsideX2apicMode) {
  uint64_t v = 0;
  EXPECT_FALSE(apics[0]->x2apic_msr_read(0x802, &v));
  EXPECT_FALSE(apics[0]->x2apic_msr_write(0x808, 0));
  apics[0]->set_base(kApicDefaultBase);  // disabled
  EXPECT_FALSE(apics[0]->x2apic_msr_read(0x802, &v));
  EXPECT_FALSE(apics[0]->x2apic_mode());
}

TEST_F(X2apicTest, EnteringX2apicSetsIdAndDerivedLdr) {
  for (auto& l : apics) l->set_base(kX2Base);
  EXPECT_TRUE(apics[3]->x2apic_mode());
  EXPECT_EQ(rd(*apics[0], kApicId), 0u);
  EXPECT_EQ(rd(*apics[3], kApicId), 33u);
  EXPECT_EQ(rd(*apics[0], kApicLdr), 0x1u);
  EXPECT_EQ(rd(*apics[1], kApicLdr), 0x2u);
  EXPECT_EQ(rd(*apics[2], kApicLdr), (1u << 16) | 0x2u);
  EXPECT_EQ(rd(*apics[3], kApicLdr), (2u << 16) | 0x2u);
  EXPECT_EQ(rd(*apics[0], kApicLvr), 0x50014u);
}

TEST_F(X2apicTest, ReadOnlyAndAbsentRegistersFault) {
  all_x2apic();
  Lapic& l = *apics[1];
  for (uint32_t off : {kApicId, kApicLvr, kApicProcPri, kApicLdr, kApicDfr, kApicIcr2, kApicIsr, kApicTmr,
                       kApicIrr + 0x70, kApicTmcct, kApicArbPri, kApicLvtCmci, 0x400u})
    EXPECT_FALSE(l.x2apic_msr_write(msr_of(off), 0)) << std::hex << off;
  uint64_t v = 0;
  // Write-only (EOI, SELF IPI) and absent (DFR, ICR2, ARBPRI, CMCI) reads.
  for (uint32_t off : {kApicEoi, kApicSelfIpi, kApicDfr, kApicIcr2, kApicArbPri, kApicLvtCmci, 0x400u})
    EXPECT_FALSE(l.x2apic_msr_read(msr_of(off), &v)) << std::hex << off;
  EXPECT_FALSE(l.x2apic_msr_read(kX2apicMsrLast, &v));
  EXPECT_FALSE(l.x2apic_msr_read(0x7ff, &v));
}

TEST_F(X2apicTest, ReservedHighBitsAndNonZeroEsrFault) {
  all_x2apic();
  Lapic& l = *apics[0];
  EXPECT_FALSE(l.x2apic_msr_write(msr_of(kApicTaskPri), 1ull << 32));
  EXPECT_FALSE(l.x2apic_msr_write(msr_of(kApicEsr), 1));
  EXPECT_TRUE(l.x2apic_msr_write(msr_of(kApicEsr), 0));
  EXPECT_FALSE(l.x2apic_msr_write(msr_of(kApicSelfIpi), 0x100));
  EXPECT_FALSE(l.x2apic_msr_write(msr_of(kApicIcr), 1ull << 13));  // reserved ICR bit
}

TEST_F(X2apicTest, TprPprAndEoiWork) {
  all_x2apic();
  Lapic& l = *apics[0];
  EXPECT_TRUE(l.x2apic_msr_write(msr_of(kApicTaskPri), 0x20));
  EXPECT_EQ(rd(l, kApicTaskPri), 0x20u);
  EXPECT_EQ(l.cr8(), 2u);
  EXPECT_EQ(rd(l, kApicProcPri), 0x20u);
  l.accept_irq(irq(0));
  l.accept_irq([&] { ApicIrq m = irq(0); m.vector = 0x51; return m; }());
  EXPECT_EQ(rd(l, kApicIrr + 0x20) & (1u << (0x51 - 64)), 1u << (0x51 - 64));
  EXPECT_EQ(l.acknowledge(), 0x51);
  EXPECT_EQ(rd(l, kApicIsr + 0x20), 1u << (0x51 - 64));
  EXPECT_EQ(rd(l, kApicProcPri), 0x50u);
  // KVM takes any EOI value (no #GP for non-zero, unlike SDM 10.12.1.2).
  EXPECT_TRUE(l.x2apic_msr_write(msr_of(kApicEoi), 0));
  EXPECT_EQ(rd(l, kApicIsr + 0x20), 0u);
  EXPECT_EQ(l.acknowledge(), 0x40);
}

TEST_F(X2apicTest, SelfIpiSetsOwnIrrOnly) {
  all_x2apic();
  EXPECT_TRUE(apics[2]->x2apic_msr_write(msr_of(kApicSelfIpi), 0x66));
  EXPECT_EQ(pending(), (std::vector<int>{-1, -1, 0x66, -1}));
}

TEST_F(X2apicTest, IcrIsOne64BitRegisterWith32BitDestination) {
  all_x2apic();
  const uint64_t icr = (33ull << 32) | 0x4000 | 0x1000 | 0x45;  // busy bit is dropped
  EXPECT_TRUE(apics[0]->x2apic_msr_write(msr_of(kApicIcr), icr));
  EXPECT_EQ(rd(*apics[0], kApicIcr), (33ull << 32) | 0x4045);
  EXPECT_EQ(pending(), (std::vector<int>{-1, -1, -1, 0x45}));
}

TEST_F(X2apicTest, LogicalClusterDestinationSelectsMembersOfOneCluster) {
  all_x2apic();
  // Cluster 0, members 0 and 1.
  EXPECT_EQ(bus.deliver(irq(0x3, true), -1), 2);
  EXPECT_EQ(pending(), (std::vector<int>{0x40, 0x40, -1, -1}));
  // Cluster 1 member 1 (vCPU 17); cluster 1 member 0 matches nobody.
  EXPECT_EQ(bus.deliver(irq((1u << 16) | 0x2, true), -1), 1);
  EXPECT_EQ(bus.deliver(irq((1u << 16) | 0x1, true), -1), -1);
}

TEST_F(X2apicTest, PhysicalDestinationIs32BitAndBroadcastIsAllOnes) {
  all_x2apic();
  EXPECT_EQ(bus.deliver(irq(33), -1), 1);
  EXPECT_EQ(pending(), (std::vector<int>{-1, -1, -1, 0x40}));
  EXPECT_EQ(bus.deliver(irq(0x100 + 33), -1), -1);
  EXPECT_EQ(bus.deliver(irq(kX2apicBroadcast), -1), 4);
  // A device message to 0xff is a broadcast too (KVM's quirk without
  // KVM_CAP_X2APIC_API); an IPI to 0xff is a physical ID in x2APIC mode.
  EXPECT_EQ(bus.deliver(irq(0xff), -1), 4);
  EXPECT_EQ(bus.deliver(irq(0xff), 0), -1);
}

TEST_F(X2apicTest, MmioPageIsAHoleInX2apicMode) {
  all_x2apic();
  uint32_t v = 0;
  apics[0]->mmio_read(kApicLvr, 4, &v);
  EXPECT_EQ(v, 0xffffffffu);
  uint32_t tpr = 0x30;
  apics[0]->mmio_write(kApicTaskPri, 4, &tpr);
  EXPECT_EQ(rd(*apics[0], kApicTaskPri), 0u);
}

TEST_F(X2apicTest, LeavingX2apicThroughDisabledRestoresXapicId) {
  Lapic& l = *apics[3];
  l.set_base(kX2Base);
  l.set_base(kApicDefaultBase);  // disabled (the engine refuses x2APIC -> xAPIC)
  l.set_base(kXapicBase);
  EXPECT_FALSE(l.x2apic_mode());
  EXPECT_EQ(l.reg(kApicId), 33u << 24);
}

TEST_F(X2apicTest, InitKeepsX2apicModeAndLdr) {
  all_x2apic();
  Lapic& l = *apics[2];
  l.reset(true, kX2Base);
  EXPECT_TRUE(l.x2apic_mode());
  EXPECT_EQ(rd(l, kApicLdr), (1u << 16) | 0x2u);
  EXPECT_EQ(rd(l, kApicId), 17u);
  EXPECT_EQ(rd(l, kApicSpiv), 0xffu);
}

TEST_F(X2apicTest, GetLapicShiftsIdAndSplitsIcr) {
  all_x2apic();
  Lapic& l = *apics[2];
  ASSERT_TRUE(l.x2apic_msr_write(msr_of(kApicIcr), (1ull << 32) | 0x4030));
  kvm_lapic_state s{};
  l.get_state(&s);
  uint32_t id, ldr, icr, icr2;
  std::memcpy(&id, s.regs + kApicId, 4);
  std::memcpy(&ldr, s.regs + kApicLdr, 4);
  std::memcpy(&icr, s.regs + kApicIcr, 4);
  std::memcpy(&icr2, s.regs + kApicIcr2, 4);
  EXPECT_EQ(id, 17u << 24);
  EXPECT_EQ(ldr, (1u << 16) | 0x2u);
  EXPECT_EQ(icr, 0x4030u);
  EXPECT_EQ(icr2, 1u);
  // SET takes the same format back: ID from bits 31:24, LDR recomputed,
  // ICR2 the ICR's high half.
  icr2 = 0x21;
  std::memcpy(s.regs + kApicIcr2, &icr2, 4);
  ldr = 0;
  std::memcpy(s.regs + kApicLdr, &ldr, 4);
  l.set_state(s);
  EXPECT_EQ(rd(l, kApicId), 17u);
  EXPECT_EQ(rd(l, kApicLdr), (1u << 16) | 0x2u);
  EXPECT_EQ(rd(l, kApicIcr), (0x21ull << 32) | 0x4030);
}

}  // namespace
}  // namespace skvm::kvm::irq
