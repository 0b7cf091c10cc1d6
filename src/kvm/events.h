// KVM_GET_VCPU_EVENTS / KVM_SET_VCPU_EVENTS over the engine: the queued
// exception, the KVM_INTERRUPT vector, NMI pending/masked and the interrupt
// shadow (x86.c kvm_vcpu_ioctl_x86_get/set_vcpu_events). Unit-tested over a
// Cpu with a null bus.
#pragma once

#include <linux/kvm.h>

#include "cpu/cpu.h"

namespace skvm::kvm {

// x86.c: kvm_vcpu_ioctl_x86_get_vcpu_events without KVM_CAP_EXCEPTION_PAYLOAD
// or SMM: flags = NMI_PENDING | SHADOW | SMM; a queued soft exception (#BP,
// #OF) is not reported as injected; exception.nr / has_error_code /
// error_code keep the last queued exception, as KVM's vcpu->arch.exception.
void get_events(const cpu::Cpu& cpu, kvm_vcpu_events* e);

// x86.c: kvm_vcpu_ioctl_x86_set_vcpu_events: 0 or -EINVAL. An injected
// exception is delivered at the next KVM_RUN entry before anything else;
// an injected (hardware) interrupt as KVM_INTERRUPT.
// DEVIATIONS: a soft interrupt (interrupt.soft) is refused with EINVAL (the
// ABI carries no instruction length); nmi.injected is queued as one more
// pending NMI; SMM (smi.smm / smi.pending) is refused (no SMM).
int set_events(cpu::Cpu& cpu, kvm_vcpu_events e);

}  // namespace skvm::kvm
