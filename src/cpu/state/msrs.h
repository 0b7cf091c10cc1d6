// Model-specific registers the engine implements (SDM Vol. 4). Guest
// RDMSR/WRMSR (core.h rdmsr/wrmsr) and host KVM_GET/SET_MSRS
// (Cpu::get_msr/set_msr) share one table.
#pragma once

#include <cstdint>
#include <span>

namespace skvm::cpu {

namespace msr {
inline constexpr uint32_t kTsc = 0x10;
inline constexpr uint32_t kApicBase = 0x1b;
inline constexpr uint32_t kUcodeRev = 0x8b;
inline constexpr uint32_t kPlatformInfo = 0xce;
inline constexpr uint32_t kMtrrCap = 0xfe;
inline constexpr uint32_t kSysenterCs = 0x174;
inline constexpr uint32_t kMcgCap = 0x179;
inline constexpr uint32_t kMcgStatus = 0x17a;
inline constexpr uint32_t kMcgCtl = 0x17b;
inline constexpr uint32_t kDebugCtl = 0x1d9;
inline constexpr uint32_t kSysenterEsp = 0x175;
inline constexpr uint32_t kSysenterEip = 0x176;
inline constexpr uint32_t kMiscEnable = 0x1a0;
inline constexpr uint32_t kMtrrPhysBase0 = 0x200;
inline constexpr uint32_t kMtrrFix64k = 0x250;
inline constexpr uint32_t kMtrrFix16k80000 = 0x258;
inline constexpr uint32_t kMtrrFix16kA0000 = 0x259;
inline constexpr uint32_t kMtrrFix4kC0000 = 0x268;
inline constexpr uint32_t kPat = 0x277;
inline constexpr uint32_t kMtrrDefType = 0x2ff;
inline constexpr uint32_t kEfer = 0xc0000080;
inline constexpr uint32_t kStar = 0xc0000081;
inline constexpr uint32_t kLstar = 0xc0000082;
inline constexpr uint32_t kCstar = 0xc0000083;
inline constexpr uint32_t kSfmask = 0xc0000084;
inline constexpr uint32_t kFsBase = 0xc0000100;
inline constexpr uint32_t kGsBase = 0xc0000101;
inline constexpr uint32_t kKernelGsBase = 0xc0000102;
inline constexpr uint32_t kTscAux = 0xc0000103;
}  // namespace msr

// MSRs the engine keeps that have no field in CpuState (the kvm layer saves
// and restores them through Cpu::get_msr/set_msr like the others).
struct ExtraMsrs {
  uint64_t ucode_rev = 0x100000000ull;
  // DEVIATION: KVM sets bit 31 (CPUID faulting) and emulates
  // MSR_MISC_FEATURES_ENABLES; the engine has no CPUID faulting, so it does
  // not advertise it (tested in state_msr_test).
  uint64_t platform_info = 0;
  uint64_t mcg_cap = 0;               // no banks, no MCG_CTL (KVM_X86_SETUP_MCE not used)
  uint64_t mcg_status = 0;
  uint64_t debugctl = 0;
};

// Every MSR index get_msr/set_msr accept (for KVM_GET_MSR_INDEX_LIST).
std::span<const uint32_t> supported_msrs();

}  // namespace skvm::cpu
