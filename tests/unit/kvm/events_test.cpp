// KVM_GET/SET_VCPU_EVENTS over the engine (x86.c
// kvm_vcpu_ioctl_x86_get/set_vcpu_events) and KVM_SET_GUEST_DEBUG /
// KVM_GET/SET_DEBUGREGS (kvm/debug.h). A Cpu over a bus with no memory:
// nothing runs here.
#include "kvm/events.h"

#include <cerrno>
#include <cstring>

#include <gtest/gtest.h>

#include "kvm/debug.h"

namespace skvm::kvm {
namespace {

class NullBus : public cpu::Bus {
 public:
  cpu::PhysPage lookup(uint64_t) override { return {}; }
  void mark_dirty(uint64_t) override {}
  const std::atomic<uint64_t>& generation() const override { return gen_; }
  uint8_t* pio_page() override { return page_; }
  void cpuid(uint32_t, uint32_t, uint32_t out[4]) override { out[0] = out[1] = out[2] = out[3] = 0; }
  uint64_t tsc() override { return 0; }

 private:
  std::atomic<uint64_t> gen_{0};
  uint8_t page_[4096] = {};
};

class VcpuEvents : public ::testing::Test {
 protected:
  NullBus bus_;
  cpu::Cpu cpu_{bus_};
};

TEST_F(VcpuEvents, ResetStateReportsNothingPendingWithKvmFlags) {
  kvm_vcpu_events e;
  std::memset(&e, 0xcc, sizeof e);
  get_events(cpu_, &e);
  // Host /dev/kvm right after KVM_CREATE_VCPU: all zero but flags = 0x0d.
  kvm_vcpu_events expected{};
  expected.flags = 0x0d;
  EXPECT_EQ(std::memcmp(&e, &expected, sizeof e), 0);
}

TEST_F(VcpuEvents, ShadowAndNmiMaskRoundTrip) {
  kvm_vcpu_events e{};
  e.flags = KVM_VCPUEVENT_VALID_SHADOW;
  e.interrupt.shadow = KVM_X86_SHADOW_INT_STI;
  e.nmi.masked = 1;
  ASSERT_EQ(set_events(cpu_, e), 0);
  kvm_vcpu_events out;
  get_events(cpu_, &out);
  EXPECT_EQ(out.interrupt.shadow, KVM_X86_SHADOW_INT_STI);
  EXPECT_EQ(out.nmi.masked, 1);
}

TEST_F(VcpuEvents, MovSsShadowMapsToTheEnginesEncoding) {
  kvm_vcpu_events e{};
  e.flags = KVM_VCPUEVENT_VALID_SHADOW;
  e.interrupt.shadow = KVM_X86_SHADOW_INT_MOV_SS;
  ASSERT_EQ(set_events(cpu_, e), 0);
  EXPECT_EQ(cpu_.state().interrupt_shadow, 2);  // exec/'s MOV SS bit (cpu/events/debug.h)
}

TEST_F(VcpuEvents, ShadowIgnoredWithoutItsFlag) {
  kvm_vcpu_events e{};
  e.interrupt.shadow = KVM_X86_SHADOW_INT_MOV_SS;
  ASSERT_EQ(set_events(cpu_, e), 0);
  EXPECT_EQ(cpu_.state().interrupt_shadow, 0);
}

TEST_F(VcpuEvents, InjectedExceptionIsQueuedAndReported) {
  kvm_vcpu_events e{};
  e.exception.injected = 1;
  e.exception.nr = 13;
  e.exception.has_error_code = 1;
  e.exception.error_code = 0x18;
  ASSERT_EQ(set_events(cpu_, e), 0);
  EXPECT_TRUE(cpu_.queued_exception().queued);
  kvm_vcpu_events out;
  get_events(cpu_, &out);
  EXPECT_EQ(out.exception.injected, 1);
  EXPECT_EQ(out.exception.nr, 13);
  EXPECT_EQ(out.exception.has_error_code, 1);
  EXPECT_EQ(out.exception.error_code, 0x18u);
}

TEST_F(VcpuEvents, SoftExceptionIsQueuedButNotReportedAsInjected) {
  kvm_vcpu_events e{};
  e.exception.injected = 1;
  e.exception.nr = 3;  // #BP: kvm_exception_is_soft
  ASSERT_EQ(set_events(cpu_, e), 0);
  kvm_vcpu_events out;
  get_events(cpu_, &out);
  EXPECT_EQ(out.exception.injected, 0);
  EXPECT_EQ(out.exception.nr, 3);
}

TEST_F(VcpuEvents, InjectedInterruptAndNmiPendingRoundTrip) {
  kvm_vcpu_events e{};
  e.interrupt.injected = 1;
  e.interrupt.nr = 0x30;
  e.flags = KVM_VCPUEVENT_VALID_NMI_PENDING;
  e.nmi.pending = 1;
  ASSERT_EQ(set_events(cpu_, e), 0);
  kvm_vcpu_events out;
  get_events(cpu_, &out);
  EXPECT_EQ(out.interrupt.injected, 1);
  EXPECT_EQ(out.interrupt.nr, 0x30);
  EXPECT_EQ(out.nmi.pending, 1);
}

TEST_F(VcpuEvents, InvalidOrUnsupportedEventsAreEinval) {
  kvm_vcpu_events e{};
  e.flags = 0x80;  // unknown flag
  EXPECT_EQ(set_events(cpu_, e), -EINVAL);
  e = {};
  e.flags = KVM_VCPUEVENT_VALID_PAYLOAD;  // KVM_CAP_EXCEPTION_PAYLOAD not enabled
  EXPECT_EQ(set_events(cpu_, e), -EINVAL);
  e = {};
  e.flags = KVM_VCPUEVENT_VALID_TRIPLE_FAULT;  // KVM_CAP_X86_TRIPLE_FAULT_EVENT not enabled
  EXPECT_EQ(set_events(cpu_, e), -EINVAL);
  e = {};
  e.exception.injected = 1;
  e.exception.nr = 2;  // NMI is not an exception
  EXPECT_EQ(set_events(cpu_, e), -EINVAL);
  e.exception.nr = 32;
  EXPECT_EQ(set_events(cpu_, e), -EINVAL);
  e = {};
  e.exception.pending = 1;  // ignored without VALID_PAYLOAD, as KVM
  e.exception.nr = 200;
  EXPECT_EQ(set_events(cpu_, e), 0);
  EXPECT_FALSE(cpu_.queued_exception().queued);
  e = {};
  e.flags = KVM_VCPUEVENT_VALID_SMM;
  e.smi.smm = 1;  // no SMM
  EXPECT_EQ(set_events(cpu_, e), -EINVAL);
  e = {};
  e.interrupt.injected = 1;
  e.interrupt.soft = 1;  // DEVIATION: no instruction length for a soft interrupt
  EXPECT_EQ(set_events(cpu_, e), -EINVAL);
}

// ---- KVM_SET_GUEST_DEBUG / KVM_GET/SET_DEBUGREGS ------------------------------

TEST_F(VcpuEvents, GuestDebugWithoutEnableTurnsEverythingOff) {
  kvm_guest_debug d{};
  d.control = KVM_GUESTDBG_SINGLESTEP | KVM_GUESTDBG_USE_HW_BP;
  ASSERT_EQ(set_guest_debug(cpu_, d), 0);
  EXPECT_FALSE(cpu_.guest_debug().enable);
  EXPECT_FALSE(cpu_.guest_debug().singlestep);
  d.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP;
  d.arch.debugreg[2] = 0x1234;
  d.arch.debugreg[7] = 0x410;
  ASSERT_EQ(set_guest_debug(cpu_, d), 0);
  EXPECT_TRUE(cpu_.guest_debug().hw_bp);
  EXPECT_EQ(cpu_.guest_debug().db[2], 0x1234u);
  EXPECT_EQ(cpu_.guest_debug().dr7, 0x410u);
}

TEST_F(VcpuEvents, InjectDbQueuesADebugExceptionAndIsBusyWhileOneIsQueued) {
  kvm_guest_debug d{};
  d.control = KVM_GUESTDBG_INJECT_DB;
  ASSERT_EQ(set_guest_debug(cpu_, d), 0);
  EXPECT_TRUE(cpu_.queued_exception().queued);
  EXPECT_EQ(cpu_.queued_exception().vector, 1);
  d.control = KVM_GUESTDBG_INJECT_BP;
  EXPECT_EQ(set_guest_debug(cpu_, d), -EBUSY);
}

TEST_F(VcpuEvents, DebugregsRoundTripAndValidation) {
  kvm_debugregs in{};
  in.db[1] = 0xdead;
  in.dr6 = 0xffff0ff1;
  in.dr7 = 0x40c;
  ASSERT_EQ(set_debugregs(cpu_.state(), in), 0);
  kvm_debugregs out;
  std::memset(&out, 0xcc, sizeof out);
  get_debugregs(cpu_.state(), &out);
  EXPECT_EQ(std::memcmp(&in, &out, sizeof in), 0);
  in.flags = 1;
  EXPECT_EQ(set_debugregs(cpu_.state(), in), -EINVAL);
  in.flags = 0;
  in.dr7 = 1ull << 32;
  EXPECT_EQ(set_debugregs(cpu_.state(), in), -EINVAL);
}

}  // namespace
}  // namespace skvm::kvm
