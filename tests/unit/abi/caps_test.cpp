// KVM_CHECK_EXTENSION: the exact answer for every capability softkvm
// advertises, and 0 for the notable ones it does not implement yet (a
// capability is advertised only when what it promises works). docs/compat.md
// lists the same table.
#include <fcntl.h>
#include <linux/kvm.h>

#include <gtest/gtest.h>

#include "abi/ioctl.h"
#include "kvm/limits.h"

namespace skvm::abi {
namespace {

struct Cap {
  const char* name;
  long cap;
  int expected;  // -1: KVM_CAP_NR_VCPUS, min(online CPUs, KVM_MAX_VCPUS)
};

constexpr Cap kCaps[] = {
    {"USER_MEMORY", KVM_CAP_USER_MEMORY, 1},
    {"SET_TSS_ADDR", KVM_CAP_SET_TSS_ADDR, 1},
    {"EXT_CPUID", KVM_CAP_EXT_CPUID, 1},
    {"DESTROY_MEMORY_REGION_WORKS", KVM_CAP_DESTROY_MEMORY_REGION_WORKS, 1},
    {"JOIN_MEMORY_REGIONS_WORKS", KVM_CAP_JOIN_MEMORY_REGIONS_WORKS, 1},
    {"SET_IDENTITY_MAP_ADDR", KVM_CAP_SET_IDENTITY_MAP_ADDR, 1},
    {"READONLY_MEM", KVM_CAP_READONLY_MEM, 1},
    {"IMMEDIATE_EXIT", KVM_CAP_IMMEDIATE_EXIT, 1},
    {"GET_MSR_FEATURES", KVM_CAP_GET_MSR_FEATURES, 1},
    {"INTERNAL_ERROR_DATA", KVM_CAP_INTERNAL_ERROR_DATA, 1},
    {"SYNC_MMU", KVM_CAP_SYNC_MMU, 1},
    {"MP_STATE", KVM_CAP_MP_STATE, 1},
    {"CHECK_EXTENSION_VM", KVM_CAP_CHECK_EXTENSION_VM, 1},
    {"GET_TSC_KHZ", KVM_CAP_GET_TSC_KHZ, 1},
    {"TSC_CONTROL", KVM_CAP_TSC_CONTROL, 1},  // kvm/tsc.h: KVM_SET_TSC_KHZ
    {"VM_TSC_CONTROL", KVM_CAP_VM_TSC_CONTROL, 1},  // tsc_clock_test
    {"TSC_DEADLINE_TIMER", KVM_CAP_TSC_DEADLINE_TIMER, 1},  // lapic_timer_test, tsc_clock_test
    {"ADJUST_CLOCK", KVM_CAP_ADJUST_CLOCK, KVM_CLOCK_TSC_STABLE | KVM_CLOCK_REALTIME},  // kvmclock_test
    {"NR_VCPUS", KVM_CAP_NR_VCPUS, -1},
    {"MAX_VCPUS", KVM_CAP_MAX_VCPUS, 1024},
    {"MAX_VCPU_ID", KVM_CAP_MAX_VCPU_ID, 4096},
    {"NR_MEMSLOTS", KVM_CAP_NR_MEMSLOTS, 32764},
    {"VCPU_EVENTS", KVM_CAP_VCPU_EVENTS, 1},
    {"DEBUGREGS", KVM_CAP_DEBUGREGS, 1},
    {"SET_GUEST_DEBUG", KVM_CAP_SET_GUEST_DEBUG, 1},
    {"IRQCHIP", KVM_CAP_IRQCHIP, 1},
    {"IRQ_INJECT_STATUS", KVM_CAP_IRQ_INJECT_STATUS, 1},
    {"IRQ_ROUTING", KVM_CAP_IRQ_ROUTING, 4096},
    {"SIGNAL_MSI", KVM_CAP_SIGNAL_MSI, 1},
    {"PIT", KVM_CAP_PIT, 1},
    {"PIT2", KVM_CAP_PIT2, 1},
    {"PIT_STATE2", KVM_CAP_PIT_STATE2, 1},
    {"REINJECT_CONTROL", KVM_CAP_REINJECT_CONTROL, 1},
    {"IRQFD", KVM_CAP_IRQFD, 1},
    {"IRQFD_RESAMPLE", KVM_CAP_IRQFD_RESAMPLE, 1},
    {"IOEVENTFD", KVM_CAP_IOEVENTFD, 1},
    {"IOEVENTFD_ANY_LENGTH", KVM_CAP_IOEVENTFD_ANY_LENGTH, 1},
    {"IOEVENTFD_NO_LENGTH", KVM_CAP_IOEVENTFD_NO_LENGTH, 1},
    {"XSAVE", KVM_CAP_XSAVE, 1},
    {"XCRS", KVM_CAP_XCRS, 1},
    {"XSAVE2", KVM_CAP_XSAVE2, 4096},
    // Not implemented: 0, as a KVM without the feature answers.
    {"COALESCED_MMIO", KVM_CAP_COALESCED_MMIO, 0},
    {"SYNC_REGS", KVM_CAP_SYNC_REGS, 0},
    {"MULTI_ADDRESS_SPACE", KVM_CAP_MULTI_ADDRESS_SPACE, 0},
    {"MANUAL_DIRTY_LOG_PROTECT2", KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, 0},
    {"DIRTY_LOG_RING", KVM_CAP_DIRTY_LOG_RING, 0},
    {"KVMCLOCK_CTRL", KVM_CAP_KVMCLOCK_CTRL, 0},
    {"EXCEPTION_PAYLOAD", KVM_CAP_EXCEPTION_PAYLOAD, 0},
    {"X2APIC_API", KVM_CAP_X2APIC_API, 0},
    {"ENABLE_CAP_VM", KVM_CAP_ENABLE_CAP_VM, 0},
};

TEST(Caps, CheckExtensionAnswersExactlyTheAdvertisedValuesOnSystemAndVmFds) {
  FdTable table;
  const int sys = open_system(table, O_RDWR | O_CLOEXEC);
  ASSERT_GE(sys, 0);
  const int vm = ioctl(table, sys, KVM_CREATE_VM, 0);
  ASSERT_GE(vm, 0);
  for (const Cap& c : kCaps) {
    const auto arg = static_cast<unsigned long>(c.cap);
    const int got = ioctl(table, sys, KVM_CHECK_EXTENSION, arg);
    if (c.expected < 0) {
      EXPECT_GE(got, 1) << c.name;
      EXPECT_LE(got, static_cast<int>(kvm::kMaxVcpus)) << c.name;
    } else {
      EXPECT_EQ(got, c.expected) << "KVM_CAP_" << c.name;
    }
    EXPECT_EQ(ioctl(table, vm, KVM_CHECK_EXTENSION, arg), got) << "KVM_CAP_" << c.name << " on the VM fd";
  }
  close(table, vm);
  close(table, sys);
}

}  // namespace
}  // namespace skvm::abi
