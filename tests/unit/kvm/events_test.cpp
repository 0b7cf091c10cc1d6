#include "kvm/events.h"

#include <cerrno>
#include <cstring>

#include <gtest/gtest.h>

namespace skvm::kvm {
namespace {

TEST(VcpuEvents, ResetStateReportsNothingPendingWithKvmFlags) {
  cpu::CpuState s;
  kvm_vcpu_events e;
  std::memset(&e, 0xcc, sizeof e);
  get_events(s, &e);
  // Host /dev/kvm right after KVM_CREATE_VCPU: all zero but flags = 0x0d.
  kvm_vcpu_events expected{};
  expected.flags = 0x0d;
  EXPECT_EQ(std::memcmp(&e, &expected, sizeof e), 0);
}

TEST(VcpuEvents, ShadowAndNmiMaskRoundTrip) {
  cpu::CpuState s;
  kvm_vcpu_events e{};
  e.flags = KVM_VCPUEVENT_VALID_SHADOW;
  e.interrupt.shadow = KVM_X86_SHADOW_INT_STI;
  e.nmi.masked = 1;
  ASSERT_EQ(set_events(s, e), 0);
  kvm_vcpu_events out;
  get_events(s, &out);
  EXPECT_EQ(out.interrupt.shadow, KVM_X86_SHADOW_INT_STI);
  EXPECT_EQ(out.nmi.masked, 1);
}

TEST(VcpuEvents, ShadowIgnoredWithoutItsFlag) {
  cpu::CpuState s;
  kvm_vcpu_events e{};
  e.interrupt.shadow = KVM_X86_SHADOW_INT_MOV_SS;
  ASSERT_EQ(set_events(s, e), 0);
  EXPECT_EQ(s.interrupt_shadow, 0);
}

TEST(VcpuEvents, InvalidOrUnsupportedEventsAreEinval) {
  cpu::CpuState s;
  kvm_vcpu_events e{};
  e.flags = 0x80;  // unknown flag
  EXPECT_EQ(set_events(s, e), -EINVAL);
  e = {};
  e.flags = KVM_VCPUEVENT_VALID_PAYLOAD;  // KVM_CAP_EXCEPTION_PAYLOAD not enabled
  EXPECT_EQ(set_events(s, e), -EINVAL);
  e = {};
  e.exception.injected = 1;
  e.exception.nr = 2;  // NMI is not an exception
  EXPECT_EQ(set_events(s, e), -EINVAL);
  e = {};
  e.exception.pending = 1;  // ignored without VALID_PAYLOAD, as KVM
  EXPECT_EQ(set_events(s, e), 0);
  e = {};
  e.flags = KVM_VCPUEVENT_VALID_SMM;
  e.smi.smm = 1;  // no SMM
  EXPECT_EQ(set_events(s, e), -EINVAL);
  e = {};
  e.interrupt.injected = 1;  // DEVIATION: no injection path yet
  EXPECT_EQ(set_events(s, e), -EINVAL);
}

}  // namespace
}  // namespace skvm::kvm
