// KVM_GET/SET_XSAVE, KVM_GET_XSAVE2 and KVM_GET/SET_XCRS over the engine's
// x87/SSE state (cpu::CpuState::fxsave, xcr0, xinuse). Pure functions of
// their arguments (unit-tested); the ABI layer copies the structs.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <vector>

#include "cpu/state.h"

namespace skvm::kvm {

// XSAVE components softkvm implements (x87 | SSE): KVM's supported_xcr0.
inline constexpr uint64_t kSupportedXcr0 = 3;

// The guest's supported XCR0 (cpuid.c: cpuid_get_supported_xcr0): CPUID
// 0xD.0 EDX:EAX & kSupportedXcr0, 0 without that leaf. has_cpuid: whether
// KVM_SET_CPUID2 has run (before it KVM's fpstate->user_xfeatures is every
// supported feature).
uint64_t guest_supported_xcr0(const std::vector<kvm_cpuid_entry2>& cpuid);
uint64_t user_xfeatures(const std::vector<kvm_cpuid_entry2>& cpuid);

// api.rst: KVM_GET_XSAVE / KVM_GET_XSAVE2. Fills `size` bytes (>= 576) of
// `region` in the kernel's uncompacted uabi format (fpu/xstate.c:
// __copy_xstate_to_uabi_buf): components not in use read as their initial
// values, XSTATE_BV = XINUSE & user_xfeatures, XCOMP_BV 0, the rest zero.
void get_xsave(const cpu::CpuState& s, uint64_t user_xfeatures, uint8_t* region, unsigned size);

// api.rst: KVM_SET_XSAVE (fpu/core.c: fpu_copy_uabi_to_guest_fpstate,
// xstate.c: copy_uabi_to_xstate): -EINVAL for an XSTATE_BV outside the
// supported or the user features, a non-zero XCOMP_BV or reserved header
// byte, or reserved MXCSR bits while x87/SSE are named; else 0.
// region: the 4096 bytes of struct kvm_xsave (C layout).
int set_xsave(cpu::CpuState& s, uint64_t user_xfeatures, const uint8_t* region);

// api.rst: KVM_GET_XCRS / KVM_SET_XCRS (x86.c: kvm_vcpu_ioctl_x86_get_xcrs /
// set_xcrs, __kvm_set_xcr): only XCR0.
void get_xcrs(const cpu::CpuState& s, kvm_xcrs* x);
int set_xcrs(cpu::CpuState& s, uint64_t guest_supported_xcr0, const kvm_xcrs& x);

}  // namespace skvm::kvm
