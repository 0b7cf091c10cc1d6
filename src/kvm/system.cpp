#include "kvm/system.h"

#include <linux/kvm.h>
#include <unistd.h>

#include <algorithm>

#include "cpu/cpu.h"
#include "cpu/state/msrs.h"
#include "kvm/limits.h"
#include "kvm/tsc.h"

namespace skvm::kvm {

namespace {

// A machine with nothing in it, only for a scratch Cpu that tries the MSRs.
class NullBus final : public cpu::Bus {
 public:
  cpu::PhysPage lookup(uint64_t) override { return {}; }
  void mark_dirty(uint64_t) override {}
  const std::atomic<uint64_t>& generation() const override { return generation_; }
  uint8_t* pio_page() override { return pio_; }
  void cpuid(uint32_t, uint32_t, uint32_t out[4]) override { out[0] = out[1] = out[2] = out[3] = 0; }
  uint64_t tsc() override { return 0; }

 private:
  std::atomic<uint64_t> generation_{0};
  uint8_t pio_[cpu::kPageSize] = {};
};

long online_cpus() {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n;
}

}  // namespace

System::System(const base::Clock& clock) : clock_(clock) {
  // The engine's MSR table, minus the MSRs a client cannot save and restore:
  // a client (e.g. the KVM selftests' state save) reads every listed MSR and
  // writes it back with KVM_SET_MSRS, expecting all of them to be accepted.
  NullBus bus;
  cpu::Cpu probe(bus);
  for (uint32_t index : cpu::supported_msrs()) {
    uint64_t value = 0;
    if (probe.get_msr(index, &value) && probe.set_msr(index, value, /*host_initiated=*/true))
      msrs_.push_back(index);
  }
  // The vCPU's own timer MSRs (kvm/vcpu_timer_msrs.cpp; x86.c: emulated_msrs).
  for (uint32_t index : timer_msr_indices()) msrs_.push_back(index);
}

System& System::instance() {
  static System system(base::real_clock());
  return system;
}

bool System::get_feature_msr(uint32_t index, uint64_t* value) const {
  (void)index;
  (void)value;
  return false;
}

// kvm_main.c: kvm_vm_ioctl_check_extension_generic; x86.c:
// kvm_vm_ioctl_check_extension. Only what softkvm implements and tests.
long System::check_extension(long cap) const {
  switch (cap) {
    case KVM_CAP_USER_MEMORY:
    case KVM_CAP_SET_TSS_ADDR:
    case KVM_CAP_EXT_CPUID:
    case KVM_CAP_DESTROY_MEMORY_REGION_WORKS:
    case KVM_CAP_JOIN_MEMORY_REGIONS_WORKS:
    case KVM_CAP_SET_IDENTITY_MAP_ADDR:
    case KVM_CAP_READONLY_MEM:
    case KVM_CAP_IMMEDIATE_EXIT:
    case KVM_CAP_GET_MSR_FEATURES:
    case KVM_CAP_INTERNAL_ERROR_DATA:
    case KVM_CAP_SYNC_MMU:
    case KVM_CAP_MP_STATE:
    case KVM_CAP_CHECK_EXTENSION_VM:
    case KVM_CAP_GET_TSC_KHZ:
    case KVM_CAP_TSC_CONTROL:  // kvm/tsc.h: KVM_SET_TSC_KHZ, any rate (software scaling)
    case KVM_CAP_VM_TSC_CONTROL:  // kvm/kvmclock.h: KVM_SET_TSC_KHZ on the VM fd
    case KVM_CAP_TSC_DEADLINE_TIMER:  // kvm/irqchip/lapic.*, IA32_TSC_DEADLINE
    case KVM_CAP_IRQCHIP:            // kvm/irqchip: PIC + IOAPIC
    case KVM_CAP_IRQ_INJECT_STATUS:  // KVM_IRQ_LINE_STATUS
    case KVM_CAP_SIGNAL_MSI:
    case KVM_CAP_PIT:                 // kvm/irqchip/pit: i8254, KVM_GET/SET_PIT
    case KVM_CAP_PIT2:                // KVM_CREATE_PIT2
    case KVM_CAP_PIT_STATE2:          // KVM_GET/SET_PIT2
    case KVM_CAP_REINJECT_CONTROL:
    case KVM_CAP_IRQFD:               // kvm/eventfd: irqfd thread
    case KVM_CAP_IRQFD_RESAMPLE:
    case KVM_CAP_IOEVENTFD:
    case KVM_CAP_IOEVENTFD_ANY_LENGTH:
    case KVM_CAP_IOEVENTFD_NO_LENGTH:
    case KVM_CAP_XSAVE:  // kvm/xsave.h: KVM_GET/SET_XSAVE
    case KVM_CAP_XCRS:   // kvm/xsave.h: KVM_GET/SET_XCRS
    case KVM_CAP_SET_GUEST_DEBUG:  // kvm/debug.h, cpu/events/debug.h
    case KVM_CAP_DEBUGREGS:        // kvm/debug.h: KVM_GET/SET_DEBUGREGS
    case KVM_CAP_VCPU_EVENTS:      // kvm/events.h
      return 1;
    case KVM_CAP_ADJUST_CLOCK:  // kvm/kvmclock.h: the flags KVM_GET_CLOCK sets
      return KVM_CLOCK_TSC_STABLE | KVM_CLOCK_REALTIME;
    case KVM_CAP_XSAVE2:  // x86.c: at least sizeof(struct kvm_xsave)
      return 4096;
    case KVM_CAP_IRQ_ROUTING:  // kvm_main.c: KVM_MAX_IRQ_ROUTES
      return 4096;
    case KVM_CAP_NR_VCPUS:
      return std::min<long>(online_cpus(), kMaxVcpus);
    case KVM_CAP_MAX_VCPUS:
      return kMaxVcpus;
    case KVM_CAP_MAX_VCPU_ID:
      return kMaxVcpuIds;
    case KVM_CAP_NR_MEMSLOTS:
      return kUserMemSlots;
    // KVM_CAP_MULTI_ADDRESS_SPACE: no SMM, one address space; like a host
    // KVM built without SMM the capability is absent (0).
    default:
      return 0;
  }
}

}  // namespace skvm::kvm
