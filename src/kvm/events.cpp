#include "kvm/events.h"

#include <cerrno>

namespace skvm::kvm {

void get_events(const cpu::CpuState& s, kvm_vcpu_events* e) {
  *e = kvm_vcpu_events{};
  e->interrupt.shadow = s.interrupt_shadow & (KVM_X86_SHADOW_INT_MOV_SS | KVM_X86_SHADOW_INT_STI);
  e->nmi.masked = s.nmi_masked ? 1 : 0;
  e->flags = KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM;
}

int set_events(cpu::CpuState& s, kvm_vcpu_events e) {
  constexpr uint32_t kKnown = KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR |
                              KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM |
                              KVM_VCPUEVENT_VALID_PAYLOAD | KVM_VCPUEVENT_VALID_TRIPLE_FAULT;
  if (e.flags & ~kKnown) return -EINVAL;
  // KVM_CAP_EXCEPTION_PAYLOAD and KVM_CAP_X86_TRIPLE_FAULT_EVENT are never enabled.
  if (e.flags & (KVM_VCPUEVENT_VALID_PAYLOAD | KVM_VCPUEVENT_VALID_TRIPLE_FAULT)) return -EINVAL;
  e.exception.pending = 0;
  if (e.exception.injected && (e.exception.nr > 31 || e.exception.nr == 2)) return -EINVAL;
  // See the DEVIATION in events.h.
  if (e.exception.injected || e.interrupt.injected || e.nmi.injected) return -EINVAL;
  if ((e.flags & KVM_VCPUEVENT_VALID_NMI_PENDING) && e.nmi.pending) return -EINVAL;
  if ((e.flags & KVM_VCPUEVENT_VALID_SMM) && (e.smi.smm || e.smi.pending || e.smi.smm_inside_nmi))
    return -EINVAL;  // no SMM (as a host KVM built without CONFIG_KVM_SMM)
  if (e.flags & KVM_VCPUEVENT_VALID_SHADOW)
    s.interrupt_shadow = e.interrupt.shadow & (KVM_X86_SHADOW_INT_MOV_SS | KVM_X86_SHADOW_INT_STI);
  s.nmi_masked = e.nmi.masked != 0;
  return 0;
}

}  // namespace skvm::kvm
