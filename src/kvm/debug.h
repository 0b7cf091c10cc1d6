// KVM_SET_GUEST_DEBUG and KVM_GET/SET_DEBUGREGS over the engine (x86.c
// kvm_arch_vcpu_ioctl_set_guest_debug, kvm_vcpu_ioctl_x86_get/set_debugregs).
// The engine side (breakpoints, single-step, KVM_EXIT_DEBUG) is
// cpu/events/debug.h.
#pragma once

#include <linux/kvm.h>

#include "cpu/cpu.h"

namespace skvm::kvm {

// api.rst: KVM_SET_GUEST_DEBUG. 0, or -EBUSY for KVM_GUESTDBG_INJECT_DB /
// _INJECT_BP while an exception is already queued. x86 KVM does not check
// the control bits against KVM_GUESTDBG_VALID_MASK: unknown bits are kept
// and ignored; without KVM_GUESTDBG_ENABLE everything is off.
int set_guest_debug(cpu::Cpu& cpu, const kvm_guest_debug& dbg);

// api.rst: KVM_GET_DEBUGREGS / KVM_SET_DEBUGREGS. Set: -EINVAL for flags != 0
// or bits 63:32 set in dr6 or dr7 (kvm_dr6_valid / kvm_dr7_valid); the
// values are stored as given.
void get_debugregs(const cpu::CpuState& s, kvm_debugregs* out);
int set_debugregs(cpu::CpuState& s, const kvm_debugregs& in);

}  // namespace skvm::kvm
