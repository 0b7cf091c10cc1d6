// CPUID features that gate instruction forms: the `feature` column of the
// instruction table (opcodes*.inc). A row whose feature the vCPU's CPUID
// table (KVM_SET_CPUID2) does not give decodes to #UD (decode/decoder.cpp);
// the CPUID bit of each feature is written once, here (SDM Vol. 2A CPUID,
// Tables 3-10/3-11 and leaves 07H, 0DH, 80000001H). kvm/cpuid.cpp
// advertises a feature only when its rows are implemented and tested.
#pragma once

#include <cstdint>
#include <string_view>

namespace skvm::cpu::isa {

enum Feature : uint8_t {
  kFeatNone,      // not gated
  kFeatFpu,       // 1:EDX[0]  x87
  kFeatCx8,       // 1:EDX[8]  CMPXCHG8B
  kFeatSep,       // 1:EDX[11] SYSENTER/SYSEXIT
  kFeatCmov,      // 1:EDX[15] CMOVcc
  kFeatFcmov,     // FPU and CMOV: FCMOVcc, FCOMI/FCOMIP/FUCOMI/FUCOMIP
  kFeatClfsh,     // 1:EDX[19] CLFLUSH
  kFeatMmx,       // 1:EDX[23]
  kFeatFxsr,      // 1:EDX[24] FXSAVE/FXRSTOR
  kFeatSse,       // 1:EDX[25] (also the MMX forms added with SSE)
  kFeatSse2,      // 1:EDX[26]
  kFeatSse3,      // 1:ECX[0]  (also FISTTP)
  kFeatSsse3,     // 1:ECX[9]
  kFeatCx16,      // 1:ECX[13] CMPXCHG16B (the REX.W form of the CX8 row)
  kFeatSse41,     // 1:ECX[19]
  kFeatSse42,     // 1:ECX[20] (also CRC32, PCMPGTQ)
  kFeatMovbe,     // 1:ECX[22]
  kFeatPopcnt,    // 1:ECX[23]
  kFeatXsave,     // 1:ECX[26] XSAVE/XRSTOR/XGETBV/XSETBV (CR4.OSXSAVE at execution)
  kFeatBmi1,      // 7.0:EBX[3]
  kFeatBmi2,      // 7.0:EBX[8]
  kFeatAdx,       // 7.0:EBX[19]
  kFeatXsaveopt,  // 0DH.1:EAX[0]
  kFeatXsavec,    // 0DH.1:EAX[1]
  kFeatLahfLm,    // 80000001H:ECX[0] LAHF/SAHF, gated in 64-bit mode only
  kFeatLzcnt,     // 80000001H:ECX[5] (ABM)
  kFeatRdtscp,    // 80000001H:EDX[27]
  kNumFeatures,
};

// A set of features: bit f for Feature f (bit kFeatNone is always set).
using FeatureSet = uint64_t;
inline constexpr FeatureSet kAllFeatures = ~FeatureSet{0};
static_assert(kNumFeatures <= 64, "FeatureSet is one 64-bit word");

inline constexpr bool has_feature(FeatureSet set, Feature f) { return (set >> f) & 1; }

// Where the CPUID bit lives. reg: 0..3 = EAX..EDX. `also`: a second feature
// the form needs (FCMOVcc needs FPU and CMOV). only64: the gate applies in
// 64-bit mode only (LAHF/SAHF exist everywhere else).
struct FeatureInfo {
  std::string_view name;
  uint32_t leaf;
  uint32_t subleaf;
  uint8_t reg;
  uint8_t bit;
  Feature also;
  bool only64;
};

inline constexpr FeatureInfo kFeatureInfo[kNumFeatures] = {
    {"-", 0, 0, 0, 0, kFeatNone, false},
    {"FPU", 1, 0, 3, 0, kFeatNone, false},
    {"CX8", 1, 0, 3, 8, kFeatNone, false},
    {"SEP", 1, 0, 3, 11, kFeatNone, false},
    {"CMOV", 1, 0, 3, 15, kFeatNone, false},
    {"CMOV+FPU", 1, 0, 3, 15, kFeatFpu, false},
    {"CLFSH", 1, 0, 3, 19, kFeatNone, false},
    {"MMX", 1, 0, 3, 23, kFeatNone, false},
    {"FXSR", 1, 0, 3, 24, kFeatNone, false},
    {"SSE", 1, 0, 3, 25, kFeatNone, false},
    {"SSE2", 1, 0, 3, 26, kFeatNone, false},
    {"SSE3", 1, 0, 2, 0, kFeatNone, false},
    {"SSSE3", 1, 0, 2, 9, kFeatNone, false},
    {"CX16", 1, 0, 2, 13, kFeatNone, false},
    {"SSE4.1", 1, 0, 2, 19, kFeatNone, false},
    {"SSE4.2", 1, 0, 2, 20, kFeatNone, false},
    {"MOVBE", 1, 0, 2, 22, kFeatNone, false},
    {"POPCNT", 1, 0, 2, 23, kFeatNone, false},
    {"XSAVE", 1, 0, 2, 26, kFeatNone, false},
    {"BMI1", 7, 0, 1, 3, kFeatNone, false},
    {"BMI2", 7, 0, 1, 8, kFeatNone, false},
    {"ADX", 7, 0, 1, 19, kFeatNone, false},
    {"XSAVEOPT", 0xd, 1, 0, 0, kFeatXsave, false},
    {"XSAVEC", 0xd, 1, 0, 1, kFeatXsave, false},
    {"LAHF-SAHF", 0x80000001u, 0, 2, 0, kFeatNone, true},
    {"LZCNT", 0x80000001u, 0, 2, 5, kFeatNone, false},
    {"RDTSCP", 0x80000001u, 0, 3, 27, kFeatNone, false},
};

// Every feature has a name and a real register/bit; `also` does not chain.
consteval bool feature_info_valid() {
  for (unsigned f = 1; f < kNumFeatures; ++f) {
    const FeatureInfo& i = kFeatureInfo[f];
    if (i.reg > 3 || i.bit > 31 || i.name.empty()) return false;
    if (i.also != kFeatNone && kFeatureInfo[i.also].also != kFeatNone) return false;
  }
  return true;
}
static_assert(feature_info_valid(), "features.h: bad kFeatureInfo row");

// The gate of a row's feature for one decoded instruction: the REX.W form
// of CMPXCHG8B is CMPXCHG16B (CX16); LAHF/SAHF are gated in 64-bit mode only.
inline constexpr Feature effective_feature(Feature f, bool m64, bool rex_w) {
  if (f == kFeatCx8 && rex_w) return kFeatCx16;
  if (f < kNumFeatures && kFeatureInfo[f].only64 && !m64) return kFeatNone;
  return f;
}

inline constexpr std::string_view feature_name(Feature f) {
  return f < kNumFeatures ? kFeatureInfo[f].name : std::string_view("?");
}

// The feature set a CPUID table gives, read through `cpuid(leaf, subleaf,
// out[4])` (KVM's lookup: a leaf above the class maximum answers another
// leaf, so leaves are read only up to the maximum of their class).
template <typename CpuidFn>
FeatureSet features_from_cpuid(CpuidFn&& cpuid) {
  uint32_t basic[4] = {}, ext[4] = {};
  cpuid(0u, 0u, basic);
  cpuid(0x80000000u, 0u, ext);
  FeatureSet set = FeatureSet{1} << kFeatNone;
  for (unsigned f = 1; f < kNumFeatures; ++f) {
    const FeatureInfo& i = kFeatureInfo[f];
    const uint32_t max = i.leaf >= 0x80000000u ? ext[0] : basic[0];
    if (i.leaf >= 0x80000000u ? (ext[0] < 0x80000000u || i.leaf > max) : i.leaf > max) continue;
    uint32_t r[4] = {};
    cpuid(i.leaf, i.subleaf, r);
    if ((r[i.reg] >> i.bit) & 1) set |= FeatureSet{1} << f;
  }
  for (unsigned f = 1; f < kNumFeatures; ++f) {
    const Feature also = kFeatureInfo[f].also;
    if (also != kFeatNone && !has_feature(set, also)) set &= ~(FeatureSet{1} << f);
  }
  return set;
}

}  // namespace skvm::cpu::isa
