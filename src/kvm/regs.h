// Conversions between the engine's CpuState and the KVM register structs
// (kvm_regs, kvm_sregs, kvm_fpu), the vCPU reset state, and the checks of
// KVM_SET_SREGS. Pure functions of their arguments (unit-tested).
#pragma once

#include <linux/kvm.h>

#include "cpu/state.h"

namespace skvm::kvm {

// x86.c: kvm_vcpu_reset() as observed on the host /dev/kvm (Linux 6.x):
// CS f000:ffff0000, RIP fff0, RDX 0x600, CR0 0x60000010, APIC base
// 0xfee00900 for vCPU 0 (BSP) and 0xfee00800 for the others, FCW 0x37f.
void reset_state(cpu::CpuState& s, bool bsp);

// api.rst: KVM_GET_REGS / KVM_SET_REGS (RFLAGS bit 1 is forced on set).
void get_regs(const cpu::CpuState& s, kvm_regs* r);
void set_regs(cpu::CpuState& s, const kvm_regs& r);

// api.rst: KVM_GET_SREGS / KVM_SET_SREGS. interrupt_bitmap is the caller's.
void get_sregs(const cpu::CpuState& s, kvm_sregs* r);
// x86.c: kvm_is_valid_sregs(), kvm_is_valid_cr0/cr4(), kvm_set_apic_base():
// 0 or -EINVAL. maxphyaddr is the guest's (CpuidTable::max_phys_addr_bits);
// x2apic: the vCPU's CPUID offers x2APIC (IA32_APIC_BASE.EXTD allowed).
int check_sregs(const kvm_sregs& r, unsigned maxphyaddr, bool x2apic);
void set_sregs(cpu::CpuState& s, const kvm_sregs& r);

// api.rst: KVM_GET_FPU / KVM_SET_FPU, from/to the FXSAVE image.
void get_fpu(const cpu::CpuState& s, kvm_fpu* f);
void set_fpu(cpu::CpuState& s, const kvm_fpu& f);

// CR4 bits softkvm lets a guest (or KVM_SET_SREGS) set.
inline constexpr uint64_t kCr4Supported =
    cpu::kCr4VME | cpu::kCr4PVI | cpu::kCr4TSD | cpu::kCr4DE | cpu::kCr4PSE | cpu::kCr4PAE |
    cpu::kCr4MCE | cpu::kCr4PGE | cpu::kCr4PCE | cpu::kCr4OSFXSR | cpu::kCr4OSXMMEXCPT |
    cpu::kCr4OSXSAVE;

}  // namespace skvm::kvm
