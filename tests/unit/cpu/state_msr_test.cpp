// MSR accept/reject rules (guest RDMSR/WRMSR and host KVM_GET/SET_MSRS),
// the supported-MSR list, and CPUID.
#include <algorithm>

#include "cpu/state/msrs.h"
#include "mmu_fixture.h"

namespace skvm::cpu::testing {
namespace {

using StateMsrTest = MmuTest;

TEST_F(StateMsrTest, UnknownMsrIsGpForGuestAndFalseForHost) {
  uint64_t v;
  EXPECT_FALSE(rdmsr(cpu_, 0x12345, &v));
  EXPECT_EQ(sig().vector, kGP);
  EXPECT_FALSE(cpu_.get_msr(0x12345, &v));
  EXPECT_FALSE(cpu_.set_msr(0x12345, 0, true));
}

TEST_F(StateMsrTest, EferReservedBitsRejected) {
  EXPECT_FALSE(wrmsr(cpu_, msr::kEfer, 1u << 2));
  EXPECT_FALSE(cpu_.set_msr(msr::kEfer, 1u << 2, true));
  EXPECT_TRUE(wrmsr(cpu_, msr::kEfer, kEferSCE | kEferNXE));
  EXPECT_EQ(s().efer, kEferSCE | kEferNXE);
}

TEST_F(StateMsrTest, EferLmeChangeWhilePagingIsGp) {
  long_mode(0x100000);
  EXPECT_FALSE(wrmsr(cpu_, msr::kEfer, kEferNXE | kEferLMA));  // clears LME
  EXPECT_TRUE(wrmsr(cpu_, msr::kEfer, kEferLME | kEferLMA));
}

TEST_F(StateMsrTest, EferLmaIsNotWritable) {
  EXPECT_TRUE(wrmsr(cpu_, msr::kEfer, kEferLME | kEferLMA));
  EXPECT_EQ(s().efer, kEferLME);
}

TEST_F(StateMsrTest, EferLongModeNeedsCpuidLm) {
  bus_.set_cpuid(0x80000001u, 0, 0, 0, 0, 0);
  EXPECT_FALSE(wrmsr(cpu_, msr::kEfer, kEferLME));
  EXPECT_TRUE(cpu_.set_msr(msr::kEfer, kEferLME, true));  // host: no CPUID check
}

TEST_F(StateMsrTest, BaseMsrsNeedCanonicalAddresses) {
  EXPECT_FALSE(wrmsr(cpu_, msr::kFsBase, 0x0000'8000'0000'0000ull));
  EXPECT_FALSE(cpu_.set_msr(msr::kLstar, 0x0001'0000'0000'0000ull, true));
  EXPECT_TRUE(wrmsr(cpu_, msr::kGsBase, 0xffff'8000'0000'1000ull));
  EXPECT_EQ(s().seg[kGs].base, 0xffff'8000'0000'1000ull);
  EXPECT_TRUE(wrmsr(cpu_, msr::kKernelGsBase, 0x1234));
  uint64_t v;
  ASSERT_TRUE(rdmsr(cpu_, msr::kKernelGsBase, &v));
  EXPECT_EQ(v, 0x1234u);
}

TEST_F(StateMsrTest, TscWriteSetsOffsetAgainstBusTsc) {
  ASSERT_TRUE(wrmsr(cpu_, msr::kTsc, 1'000'000));
  uint64_t v;
  ASSERT_TRUE(rdmsr(cpu_, msr::kTsc, &v));
  // FakeBus advances 1000 ticks per read.
  EXPECT_EQ(v, 1'001'000u);
}

TEST_F(StateMsrTest, PatRejectsInvalidMemoryTypes) {
  EXPECT_FALSE(wrmsr(cpu_, msr::kPat, 0x0007040600070402ull));  // type 2
  EXPECT_TRUE(wrmsr(cpu_, msr::kPat, 0x0007010600070406ull));
}

TEST_F(StateMsrTest, MtrrRules) {
  uint64_t v;
  ASSERT_TRUE(rdmsr(cpu_, msr::kMtrrCap, &v));
  EXPECT_EQ(v, 0x508u);
  EXPECT_FALSE(wrmsr(cpu_, msr::kMtrrCap, 0));
  EXPECT_TRUE(wrmsr(cpu_, msr::kMtrrDefType, 0xc06));
  EXPECT_FALSE(wrmsr(cpu_, msr::kMtrrDefType, 0x1006));
  EXPECT_TRUE(wrmsr(cpu_, 0x200, 0x80000006));    // base, WB
  EXPECT_FALSE(wrmsr(cpu_, 0x200, 0x80000003));   // bad type
  EXPECT_FALSE(wrmsr(cpu_, 0x201, 0x80000001));   // mask low bits reserved
  EXPECT_TRUE(wrmsr(cpu_, 0x201, 0xf'8000'0800)); // valid mask
  EXPECT_TRUE(wrmsr(cpu_, 0x268, 0x0606060606060606ull));
  EXPECT_FALSE(wrmsr(cpu_, 0x26f, 0x0206060606060606ull));
}

TEST_F(StateMsrTest, ApicBaseReservedBitsRejected) {
  EXPECT_FALSE(wrmsr(cpu_, msr::kApicBase, 0xfee00000 | (1u << 11) | 1));
  EXPECT_FALSE(wrmsr(cpu_, msr::kApicBase, 0xfee00000 | (1u << 10) | (1u << 11)));  // no x2APIC
  EXPECT_TRUE(wrmsr(cpu_, msr::kApicBase, 0xfed00000 | (1u << 11)));
  EXPECT_EQ(s().apic_base, 0xfed00000u | (1u << 11));
}

TEST_F(StateMsrTest, SysenterEipIsCanonicalized) {
  EXPECT_TRUE(wrmsr(cpu_, msr::kSysenterEip, 0x0000'8000'0000'0000ull));
  EXPECT_EQ(s().msr.sysenter_eip, 0xffff'8000'0000'0000ull);
}

TEST_F(StateMsrTest, TscAuxNeedsRdtscpForGuestButNotForHost) {
  EXPECT_FALSE(wrmsr(cpu_, msr::kTscAux, 1));
  EXPECT_TRUE(cpu_.set_msr(msr::kTscAux, 1, true));
  EXPECT_FALSE(cpu_.set_msr(msr::kTscAux, 1ull << 32, true));
}

TEST_F(StateMsrTest, PlatformInfoIsHostWritableOnlyAndHasNoCpuidFaulting) {
  uint64_t v = 1;
  ASSERT_TRUE(rdmsr(cpu_, msr::kPlatformInfo, &v));
  EXPECT_EQ(v & (1u << 31), 0u);  // DEVIATION from KVM: no CPUID faulting
  EXPECT_FALSE(wrmsr(cpu_, msr::kPlatformInfo, 0));
  EXPECT_TRUE(cpu_.set_msr(msr::kPlatformInfo, 0, true));
}

TEST_F(StateMsrTest, SupportedListHasEveryReadableMsrOnce) {
  auto list = supported_msrs();
  EXPECT_GE(list.size(), 40u);
  for (uint32_t i : list) {
    uint64_t v;
    EXPECT_TRUE(cpu_.get_msr(i, &v)) << std::hex << i;
    EXPECT_EQ(std::count(list.begin(), list.end(), i), 1) << std::hex << i;
  }
}

TEST_F(StateMsrTest, CpuidReturnsBusLeafAndSubleaf) {
  bus_.set_cpuid(7, 0, 0, 0x11, 0, 0);
  bus_.set_cpuid(7, 1, 0, 0x22, 0, 0);
  s().gpr[kRax] = 7;
  s().gpr[kRcx] = 1;
  do_cpuid(cpu_);
  EXPECT_EQ(s().gpr[kRbx], 0x22u);
}

TEST_F(StateMsrTest, CpuidAboveMaxBasicLeafReturnsMaxBasicLeaf) {
  bus_.set_cpuid(0xd, 0, 0xaa, 0xbb, 0xcc, 0xdd);
  s().gpr[kRax] = 0x20;  // max basic is 0xd
  s().gpr[kRcx] = 0;
  do_cpuid(cpu_);
  EXPECT_EQ(s().gpr[kRax], 0xaau);
  s().gpr[kRax] = 0x80000009u;  // max extended is 0x80000008
  do_cpuid(cpu_);
  EXPECT_EQ(s().gpr[kRax], 0xaau);
}

TEST_F(StateMsrTest, CpuidLeaf1ReflectsApicEnableAndOsxsave) {
  bus_.set_cpuid(1, 0, 0, 0, 1u << 26, 1u << 9);
  s().apic_base = 0xfee00000;  // disabled
  s().cr4 = kCr4OSXSAVE;
  s().gpr[kRax] = 1;
  do_cpuid(cpu_);
  EXPECT_EQ(s().gpr[kRdx] & (1u << 9), 0u);
  EXPECT_NE(s().gpr[kRcx] & (1u << 27), 0u);
}

}  // namespace
}  // namespace skvm::cpu::testing

namespace skvm::cpu::testing {
namespace {

// A machine that implements one MSR outside the engine (like kvmclock).
class MsrBus : public FakeBus {
 public:
  bool msr_read(uint32_t index, uint64_t* value) override {
    if (index != 0x4b564d01) return false;
    *value = stored;
    return true;
  }
  bool msr_write(uint32_t index, uint64_t value) override {
    if (index != 0x4b564d01) return false;
    stored = value;
    return true;
  }
  uint64_t stored = 0;
};

TEST(StateMsrBusTest, MsrsUnknownToTheEngineGoToTheBus) {
  MsrBus bus;
  Cpu cpu(bus);
  EXPECT_TRUE(wrmsr(cpu, 0x4b564d01, 0x1234501));
  EXPECT_EQ(bus.stored, 0x1234501u);
  uint64_t v = 0;
  EXPECT_TRUE(rdmsr(cpu, 0x4b564d01, &v));
  EXPECT_EQ(v, 0x1234501u);
  EXPECT_FALSE(rdmsr(cpu, 0x4b564d02, &v));
  EXPECT_EQ(cpu.signals().vector, kGP);
}

}  // namespace
}  // namespace skvm::cpu::testing
