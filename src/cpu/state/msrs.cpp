// SDM Vol. 4 (MSRs), Vol. 2B RDMSR/WRMSR. Acceptance rules follow KVM:
// arch/x86/kvm/x86.c (__kvm_set_msr, kvm_set_msr_common, set_efer,
// kvm_set_apic_base), arch/x86/kvm/mtrr.c (kvm_mtrr_valid).
#include "cpu/state/msrs.h"

#include <array>

#include "cpu/mmu/mmu_impl.h"

namespace skvm::cpu {
namespace {

constexpr uint32_t kAllMsrs[] = {
    msr::kTsc, msr::kApicBase, msr::kUcodeRev, msr::kPlatformInfo, msr::kMtrrCap,
    msr::kSysenterCs, msr::kSysenterEsp, msr::kSysenterEip, msr::kMcgCap, msr::kMcgStatus,
    msr::kMcgCtl, msr::kDebugCtl, msr::kMiscEnable,
    0x200, 0x201, 0x202, 0x203, 0x204, 0x205, 0x206, 0x207,
    0x208, 0x209, 0x20a, 0x20b, 0x20c, 0x20d, 0x20e, 0x20f,
    msr::kMtrrFix64k, msr::kMtrrFix16k80000, msr::kMtrrFix16kA0000,
    0x268, 0x269, 0x26a, 0x26b, 0x26c, 0x26d, 0x26e, 0x26f,
    msr::kPat, msr::kMtrrDefType, msr::kEfer, msr::kStar, msr::kLstar, msr::kCstar,
    msr::kSfmask, msr::kFsBase, msr::kGsBase, msr::kKernelGsBase, msr::kTscAux,
};

bool is_canonical(uint64_t v) { return static_cast<uint64_t>(static_cast<int64_t>(v << 16) >> 16) == v; }
uint64_t canonicalize(uint64_t v) { return static_cast<uint64_t>(static_cast<int64_t>(v << 16) >> 16); }

bool valid_mtrr_type(uint64_t t) { return t == 0 || t == 1 || t == 4 || t == 5 || t == 6; }
bool valid_pat_type(uint64_t t) { return valid_mtrr_type(t) || t == 7; }

// Index into Msrs::mtrr_fixed, or -1.
int fixed_mtrr_index(uint32_t index) {
  if (index == msr::kMtrrFix64k) return 0;
  if (index == msr::kMtrrFix16k80000) return 1;
  if (index == msr::kMtrrFix16kA0000) return 2;
  if (index >= msr::kMtrrFix4kC0000 && index <= msr::kMtrrFix4kC0000 + 7) {
    return 3 + static_cast<int>(index - msr::kMtrrFix4kC0000);
  }
  return -1;
}

bool cpuid_bit(Cpu& cpu, uint32_t leaf, unsigned reg, unsigned bit) {
  uint32_t r[4];
  cpu.bus().cpuid(leaf & 0x80000000u, 0, r);
  if (r[0] < leaf) return false;
  cpu.bus().cpuid(leaf, 0, r);
  return (r[reg] >> bit) & 1;
}

bool guest_has_rdtscp_or_rdpid(Cpu& cpu) {
  return cpuid_bit(cpu, 0x80000001u, 3, 27) || cpuid_bit(cpu, 7, 2, 22);
}

uint64_t reserved_gpa_bits(Cpu& cpu) { return ~0ull << cpu.mmu().maxphyaddr(); }

bool msr_get(Cpu& cpu, uint32_t index, uint64_t* value, bool host) {
  CpuState& s = cpu.state();
  Msrs& m = s.msr;
  if (index >= 0x200 && index <= 0x20f) {
    *value = m.mtrr_var[index - 0x200];
    return true;
  }
  if (int f = fixed_mtrr_index(index); f >= 0) {
    *value = m.mtrr_fixed[f];
    return true;
  }
  switch (index) {
    case msr::kTsc: *value = cpu.bus().tsc() + m.tsc_offset; return true;
    case msr::kApicBase: *value = s.apic_base; return true;
    case msr::kUcodeRev: *value = cpu.mmu().extra_msrs.ucode_rev; return true;
    case msr::kPlatformInfo: *value = cpu.mmu().extra_msrs.platform_info; return true;
    case msr::kMtrrCap: *value = 0x500 | 8; return true;  // FIX, WC, 8 variable ranges (mtrr.c)
    case msr::kSysenterCs: *value = m.sysenter_cs; return true;
    case msr::kSysenterEsp: *value = m.sysenter_esp; return true;
    case msr::kSysenterEip: *value = m.sysenter_eip; return true;
    case msr::kMiscEnable: *value = m.misc_enable; return true;
    case msr::kMcgCap: *value = cpu.mmu().extra_msrs.mcg_cap; return true;
    case msr::kMcgStatus: *value = cpu.mmu().extra_msrs.mcg_status; return true;
    case msr::kMcgCtl:
      // x86.c get_msr_mce: only with MCG_CTL_P (bit 8), or from the host.
      if (!host && !(cpu.mmu().extra_msrs.mcg_cap & (1u << 8))) return false;
      *value = ~0ull;
      return true;
    case msr::kDebugCtl: *value = cpu.mmu().extra_msrs.debugctl; return true;
    case msr::kPat: *value = m.pat; return true;
    case msr::kMtrrDefType: *value = m.mtrr_def_type; return true;
    case msr::kEfer: *value = s.efer; return true;
    case msr::kStar: *value = m.star; return true;
    case msr::kLstar: *value = m.lstar; return true;
    case msr::kCstar: *value = m.cstar; return true;
    case msr::kSfmask: *value = m.sfmask; return true;
    case msr::kFsBase: *value = s.seg[kFs].base; return true;
    case msr::kGsBase: *value = s.seg[kGs].base; return true;
    case msr::kKernelGsBase: *value = m.kernel_gs_base; return true;
    case msr::kTscAux:
      if (!host && !guest_has_rdtscp_or_rdpid(cpu)) return false;
      *value = m.tsc_aux;
      return true;
    default:
      return false;
  }
}

bool set_efer(Cpu& cpu, uint64_t value, bool host) {
  CpuState& s = cpu.state();
  const uint64_t old = s.efer;
  if (value & ~(kEferSCE | kEferLME | kEferLMA | kEferNXE)) return false;
  if (!host) {
    // x86.c: __kvm_valid_efer: LME/LMA need CPUID LM, NXE needs CPUID NX.
    if ((value & (kEferLME | kEferLMA)) && !cpuid_bit(cpu, 0x80000001u, 3, 29)) return false;
    if ((value & kEferNXE) && !cpuid_bit(cpu, 0x80000001u, 3, 20)) return false;
    if ((s.cr0 & kCr0PG) && ((old ^ value) & kEferLME)) return false;
  }
  value = (value & ~kEferLMA) | (old & kEferLMA);  // LMA is the CPU's, not writable
  s.efer = value;
  if ((value ^ old) & (kEferNXE | kEferLMA | kEferLME)) tlb_flush_all(cpu);
  return true;
}

bool msr_set(Cpu& cpu, uint32_t index, uint64_t value, bool host) {
  CpuState& s = cpu.state();
  Msrs& m = s.msr;
  if (index >= 0x200 && index <= 0x20f) {
    uint64_t mask = reserved_gpa_bits(cpu);
    if ((index & 1) == 0) {
      if (!valid_mtrr_type(value & 0xff)) return false;
      mask |= 0xf00;
    } else {
      mask |= 0x7ff;
    }
    if (value & mask) return false;
    m.mtrr_var[index - 0x200] = value;
    return true;
  }
  if (int f = fixed_mtrr_index(index); f >= 0) {
    for (int i = 0; i < 8; ++i) {
      if (!valid_mtrr_type((value >> (i * 8)) & 0xff)) return false;
    }
    m.mtrr_fixed[f] = value;
    return true;
  }
  switch (index) {
    case msr::kTsc:
      m.tsc_offset = value - cpu.bus().tsc();
      return true;
    case msr::kApicBase: {
      // x86.c: kvm_set_apic_base.
      constexpr uint64_t kEnable = 1u << 11, kX2apic = 1u << 10;
      uint64_t reserved = reserved_gpa_bits(cpu) | 0x2ff;
      if (!cpuid_bit(cpu, 1, 2, 21)) reserved |= kX2apic;
      if ((value & reserved) || ((value & kX2apic) && !(value & kEnable))) return false;
      if (!host) {
        bool old_x2 = (s.apic_base & kX2apic) && (s.apic_base & kEnable);
        bool old_disabled = !(s.apic_base & kEnable);
        bool new_x2 = (value & kX2apic) != 0;
        bool new_xapic = (value & kEnable) && !new_x2;
        if (old_x2 && new_xapic) return false;
        if (old_disabled && new_x2) return false;
      }
      s.apic_base = value;
      return true;
    }
    case msr::kUcodeRev:
      if (host) cpu.mmu().extra_msrs.ucode_rev = value;  // guest writes are ignored
      return true;
    case msr::kPlatformInfo:
      if (!host) return false;
      cpu.mmu().extra_msrs.platform_info = value;
      return true;
    case msr::kMtrrCap:
      return false;
    case msr::kSysenterCs: m.sysenter_cs = value & 0xffffffffull; return true;
    case msr::kSysenterEsp: m.sysenter_esp = canonicalize(value); return true;
    case msr::kSysenterEip: m.sysenter_eip = canonicalize(value); return true;
    case msr::kMcgCap:
      // Host only, bank count limited to what the engine models (none).
      if (!host || (value & 0xff) != 0) return false;
      cpu.mmu().extra_msrs.mcg_cap = value & (1u << 8);
      return true;
    case msr::kMcgStatus:
      cpu.mmu().extra_msrs.mcg_status = value;
      return true;
    case msr::kMcgCtl:
      if (!(cpu.mmu().extra_msrs.mcg_cap & (1u << 8)) && (value != 0 || !host)) return false;
      return value == 0 || value == ~0ull;
    case msr::kDebugCtl:
      // DEVIATION: no LBR/BTF support; only 0 is accepted (KVM also takes
      // the bits its hardware supports).
      if (value != 0) return false;
      cpu.mmu().extra_msrs.debugctl = 0;
      return true;
    case msr::kMiscEnable: {
      constexpr uint64_t kEmon = 1u << 7, kPmuRo = (1u << 11) | (1u << 12);
      if (!host) {
        if ((m.misc_enable ^ value) & kPmuRo) return false;
        value = (value & ~kEmon) | (m.misc_enable & kEmon);
      }
      m.misc_enable = value;
      return true;
    }
    case msr::kPat:
      for (int i = 0; i < 8; ++i) {
        if (!valid_pat_type((value >> (i * 8)) & 0xff)) return false;
      }
      m.pat = value;
      return true;
    case msr::kMtrrDefType:
      if ((value & ~0xcffull) || !valid_mtrr_type(value & 0xff)) return false;
      m.mtrr_def_type = value;
      return true;
    case msr::kEfer:
      return set_efer(cpu, value, host);
    case msr::kStar: m.star = value; return true;
    case msr::kSfmask: m.sfmask = value; return true;
    case msr::kLstar:
      if (!is_canonical(value)) return false;
      m.lstar = value;
      return true;
    case msr::kCstar:
      if (!is_canonical(value)) return false;
      m.cstar = value;
      return true;
    case msr::kFsBase:
      if (!is_canonical(value)) return false;
      s.seg[kFs].base = value;
      return true;
    case msr::kGsBase:
      if (!is_canonical(value)) return false;
      s.seg[kGs].base = value;
      return true;
    case msr::kKernelGsBase:
      if (!is_canonical(value)) return false;
      m.kernel_gs_base = value;
      return true;
    case msr::kTscAux:
      if (!host && !guest_has_rdtscp_or_rdpid(cpu)) return false;
      if (value >> 32) return false;
      m.tsc_aux = value;
      return true;
    default:
      return false;
  }
}

bool is_engine_msr(uint32_t index) {
  for (uint32_t i : kAllMsrs) {
    if (i == index) return true;
  }
  return false;
}

}  // namespace

std::span<const uint32_t> supported_msrs() { return kAllMsrs; }

// Guest accesses: the engine's own MSRs first; any other index goes to the
// machine (Bus::msr_read/msr_write: kvmclock, x2APIC, ...).
bool rdmsr(Cpu& cpu, uint32_t index, uint64_t* value) {
  if (is_engine_msr(index)) {
    if (!msr_get(cpu, index, value, false)) return raise(cpu, kGP, 0);
    return true;
  }
  if (!cpu.bus().msr_read(index, value)) return raise(cpu, kGP, 0);
  return true;
}

bool wrmsr(Cpu& cpu, uint32_t index, uint64_t value) {
  if (is_engine_msr(index)) {
    if (!msr_set(cpu, index, value, false)) return raise(cpu, kGP, 0);
    return true;
  }
  if (!cpu.bus().msr_write(index, value)) return raise(cpu, kGP, 0);
  return true;
}

bool Cpu::get_msr(uint32_t index, uint64_t* value) { return msr_get(*this, index, value, true); }

bool Cpu::set_msr(uint32_t index, uint64_t value, bool host_initiated) {
  return msr_set(*this, index, value, host_initiated);
}

}  // namespace skvm::cpu
