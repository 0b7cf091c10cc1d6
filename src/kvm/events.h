// KVM_GET_VCPU_EVENTS / KVM_SET_VCPU_EVENTS over CpuState (interrupt shadow,
// NMI mask). Pure functions (unit-tested).
#pragma once

#include <linux/kvm.h>

#include "cpu/state.h"

namespace skvm::kvm {

// x86.c: kvm_vcpu_ioctl_x86_get_vcpu_events. Nothing is ever injected or
// pending in softkvm between runs; flags = NMI_PENDING | SHADOW | SMM as KVM.
void get_events(const cpu::CpuState& s, kvm_vcpu_events* e);

// x86.c: kvm_vcpu_ioctl_x86_set_vcpu_events: 0 or -EINVAL.
// DEVIATION: softkvm has no event-injection path in this slice, so an
// injected/pending exception, interrupt, NMI or SMI is refused with EINVAL
// instead of being queued (KVM_CAP_VCPU_EVENTS is not advertised).
int set_events(cpu::CpuState& s, kvm_vcpu_events e);

}  // namespace skvm::kvm
