#include "kvm/cpuid.h"

#include "cpu/isa/features.h"
#include "kvm/kvmclock.h"
#include "kvm/tsc.h"

namespace skvm::kvm {

namespace {

kvm_cpuid_entry2 entry(uint32_t fn, uint32_t eax, uint32_t ebx, uint32_t ecx, uint32_t edx) {
  kvm_cpuid_entry2 e{};
  e.function = fn;
  e.eax = eax;
  e.ebx = ebx;
  e.ecx = ecx;
  e.edx = edx;
  return e;
}

// CPUID.1:EDX bits (SDM Vol. 2A, CPUID, Table 3-11).
constexpr uint32_t kEdxFpu = 1u << 0,  // exec/x87*
                   kEdxPse = 1u << 3, kEdxTsc = 1u << 4, kEdxMsr = 1u << 5, kEdxPae = 1u << 6,
                   kEdxApic = 1u << 9,  // kvm/irqchip/lapic.*
                   kEdxCx8 = 1u << 8, kEdxSep = 1u << 11, kEdxPge = 1u << 13, kEdxCmov = 1u << 15,
                   kEdxPat = 1u << 16, kEdxClfsh = 1u << 19, kEdxMmx = 1u << 23, kEdxFxsr = 1u << 24,
                   kEdxSse = 1u << 25, kEdxSse2 = 1u << 26;
// CPUID.1:ECX bits.
constexpr uint32_t kEcxSse3 = 1u << 0, kEcxSsse3 = 1u << 9, kEcxCx16 = 1u << 13, kEcxSse41 = 1u << 19,
                   kEcxSse42 = 1u << 20, kEcxMovbe = 1u << 22, kEcxPopcnt = 1u << 23, kEcxXsave = 1u << 26;
// CPUID.1:ECX.x2APIC (kvm/irqchip/lapic_x2apic.cpp: MSRs 0x800..0x8ff;
// cpuid.c: kvm_cpu_cap_set(X86_FEATURE_X2APIC), always emulated).
constexpr uint32_t kEcxX2apic = 1u << 21;
// CPUID.1:ECX.TSC_DEADLINE (kvm/irqchip/lapic.*: LVT timer mode 2, kvm/tsc.h).
constexpr uint32_t kEcxTscDeadline = kCpuid1EcxTscDeadline;
// CPUID.1:ECX[31]: a hypervisor is present (Linux looks for the KVM leaves
// only then: kvm_para.h: kvm_cpuid_base).
constexpr uint32_t kEcxHypervisor = 1u << 31;
// CPUID.80000001H:ECX / EDX.
constexpr uint32_t kExtEcxLahfLm = 1u << 0, kExtEcxAbm = 1u << 5;
constexpr uint32_t kExtEdxSyscall = 1u << 11, kExtEdxNx = 1u << 20, kExtEdxRdtscp = 1u << 27,
                   kExtEdxLm = 1u << 29;

// CPUID.0DH subleaves (significant index).
kvm_cpuid_entry2 xsave_leaf(uint32_t index, uint32_t eax, uint32_t ebx, uint32_t ecx) {
  kvm_cpuid_entry2 e = entry(0xd, eax, ebx, ecx, 0);
  e.index = index;
  e.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
  return e;
}

kvm_cpuid_entry2 leaf7(uint32_t ebx) {
  kvm_cpuid_entry2 e = entry(0x7, 0, ebx, 0, 0);
  e.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
  return e;
}

}  // namespace

// Only what the engine implements (src/cpu/isa/opcodes.inc and the MMU):
// PSE/PAE/PGE/PAT paging, TSC (RDTSC), MSR (RDMSR/WRMSR), CX8/CX16
// (CMPXCHG8B/16B), SEP (SYSENTER/SYSEXIT), CMOV, POPCNT, MOVBE, ADX, ABM (LZCNT),
// SYSCALL/SYSRET, RDTSCP, LAHF/SAHF in 64-bit mode, long mode and NX, CLFSH (CLFLUSH), FXSR
// (FXSAVE/FXRSTOR), XSAVE with leaf 0xD for x87|SSE, FPU (exec/x87*),
// MMX, SSE, SSE2, SSE3, SSSE3, SSE4.1, SSE4.2 (exec/sse*, exec/simd_int*).
// Left out on purpose: MONITOR/MWAIT, AVX*, BMI1 (TZCNT alone is not
// enough), PCLMULQDQ, AES.
const std::vector<kvm_cpuid_entry2>& supported_cpuid() {
  static const std::vector<kvm_cpuid_entry2> table = {
      // Max basic leaf 0x16 (TSC frequency), "GenuineIntel" in EBX, EDX, ECX.
      // Leaves 2..0x14 not listed read as zeros.
      entry(0x0, 0x16, 0x756e6547, 0x6c65746e, 0x49656e69),
      // Family 6, model 0x3a (Ivy Bridge), stepping 9; CLFLUSH size 8 qwords.
      entry(0x1, 0x000306a9, 0x00000800,
            kEcxSse3 | kEcxSsse3 | kEcxCx16 | kEcxSse41 | kEcxSse42 | kEcxMovbe | kEcxPopcnt | kEcxXsave |
                kEcxTscDeadline | kEcxX2apic | kEcxHypervisor,
            kEdxFpu | kEdxPse | kEdxTsc | kEdxMsr | kEdxPae | kEdxApic | kEdxCx8 | kEdxSep | kEdxPge |
                kEdxCmov | kEdxPat | kEdxClfsh | kEdxMmx | kEdxFxsr | kEdxSse | kEdxSse2),
      // XSAVE (exec/sse_state.h): XCR0 may enable x87 | SSE, 576-byte area;
      // subleaf 1: XSAVEOPT, XSAVEC (no XGETBV ECX=1 bit, no XSAVES).
      // Leaf 7.0 EBX: ADX (ADCX/ADOX, exec/adx.h); no BMI1/BMI2 (not implemented).
      leaf7(1u << 19),
      xsave_leaf(0, 0x3, 576, 576),
      xsave_leaf(1, 0x3, 576, 0),
      // The TSC rate of a new vCPU (kvm/tsc.h): 0x15 = 1 GHz crystal (the
      // LAPIC timer input) and TSC/crystal ratio, 0x16 = base MHz. A client
      // that changes the rate (KVM_SET_TSC_KHZ) updates these itself.
      tsc_leaf_15(kDefaultTscKhz),
      tsc_leaf_16(kDefaultTscKhz),
      // KVM's paravirtual leaves (Documentation/virt/kvm/x86/cpuid.rst):
      // "KVMKVMKVM\0\0\0", features = kvmclock (kvm/kvmclock.h:
      // MSR_KVM_SYSTEM_TIME_NEW / MSR_KVM_WALL_CLOCK_NEW) with a stable TSC
      // (one clock for all vCPUs); no async PF, PV EOI, steal time, PV IPIs.
      entry(0x40000000, 0x40000001, 0x4b4d564b, 0x564b4d56, 0x0000004d),
      entry(0x40000001, (1u << kKvmFeatureClocksource2) | (1u << kKvmFeatureClocksourceStableBit), 0, 0, 0),
      entry(0x80000000, 0x80000008, 0, 0, 0),
      entry(0x80000001, 0, 0, kExtEcxLahfLm | kExtEcxAbm, kExtEdxSyscall | kExtEdxNx | kExtEdxRdtscp | kExtEdxLm),
      // 48-bit linear, 40-bit physical addresses.
      entry(0x80000008, 0x00003028, 0, 0, 0),
  };
  return table;
}

const kvm_cpuid_entry2* CpuidTable::find(uint32_t function, uint32_t index, bool any_index) const {
  for (const kvm_cpuid_entry2& e : entries_) {
    if (e.function != function) continue;
    if (any_index || !(e.flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e.index == index) return &e;
  }
  return nullptr;
}

// cpuid.c: kvm_cpuid(), get_out_of_range_cpuid_entry().
void CpuidTable::lookup(uint32_t leaf, uint32_t subleaf, uint32_t out[4]) const {
  const kvm_cpuid_entry2* e = find(leaf, subleaf, false);
  if (e == nullptr) {
    const kvm_cpuid_entry2* basic = find(0, 0, true);
    const bool amd_like = basic != nullptr &&
                          ((basic->ebx == 0x68747541 && basic->ecx == 0x444d4163 && basic->edx == 0x69746e65) ||
                           (basic->ebx == 0x6f677948 && basic->ecx == 0x656e6975 && basic->edx == 0x6e65476e));
    if (basic != nullptr && !amd_like) {
      const kvm_cpuid_entry2* cls;
      if (leaf >= 0x40000000 && leaf <= 0x4fffffff)
        cls = find(leaf & 0xffffff00, 0, true);
      else if (leaf >= 0xc0000000)
        cls = find(0xc0000000, 0, true);
      else
        cls = find(leaf & 0x80000000, 0, true);
      if (!(cls != nullptr && leaf <= cls->eax)) e = find(basic->eax, subleaf, false);
    }
  }
  if (e != nullptr) {
    out[0] = e->eax;
    out[1] = e->ebx;
    out[2] = e->ecx;
    out[3] = e->edx;
    return;
  }
  out[0] = out[1] = out[2] = out[3] = 0;
  // Leaves 0BH/1FH: CL passes through and EDX is the x2APIC ID.
  if (leaf == 0xb || leaf == 0x1f) {
    const kvm_cpuid_entry2* topo = find(leaf, 1, false);
    if (topo != nullptr) {
      out[2] = subleaf & 0xff;
      out[3] = topo->edx;
    }
  }
}

uint64_t CpuidTable::features() const {
  return cpu::isa::features_from_cpuid([this](uint32_t leaf, uint32_t subleaf, uint32_t out[4]) { lookup(leaf, subleaf, out); });
}

unsigned CpuidTable::max_phys_addr_bits() const {
  const kvm_cpuid_entry2* ext = find(0x80000000, 0, true);
  if (ext == nullptr || ext->eax < 0x80000008) return 36;
  const kvm_cpuid_entry2* sizes = find(0x80000008, 0, true);
  return sizes != nullptr ? (sizes->eax & 0xff) : 36;
}

}  // namespace skvm::kvm
