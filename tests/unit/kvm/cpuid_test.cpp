#include "kvm/cpuid.h"

#include <gtest/gtest.h>

#include "cpu/isa/isa.h"

namespace skvm::kvm {
namespace {

kvm_cpuid_entry2 leaf(uint32_t fn, uint32_t eax, uint32_t ebx = 0, uint32_t ecx = 0, uint32_t edx = 0,
                      uint32_t index = 0, uint32_t flags = 0) {
  kvm_cpuid_entry2 e{};
  e.function = fn;
  e.index = index;
  e.flags = flags;
  e.eax = eax;
  e.ebx = ebx;
  e.ecx = ecx;
  e.edx = edx;
  return e;
}

constexpr uint32_t kIntel[3] = {0x756e6547, 0x6c65746e, 0x49656e69};  // ebx, ecx, edx
constexpr uint32_t kAmd[3] = {0x68747541, 0x444d4163, 0x69746e65};

struct Out {
  uint32_t r[4];
};
Out query(const CpuidTable& t, uint32_t fn, uint32_t idx = 0) {
  Out o{};
  t.lookup(fn, idx, o.r);
  return o;
}

TEST(SupportedCpuid, IsIntelAndAdvertisesOnlyImplementedFeatures) {
  CpuidTable t;
  t.set(supported_cpuid());
  Out l0 = query(t, 0);
  EXPECT_EQ(l0.r[1], kIntel[0]);
  EXPECT_EQ(l0.r[2], kIntel[1]);
  EXPECT_EQ(l0.r[3], kIntel[2]);
  // Exactly the implemented features (opcodes.inc rows that exist and are
  // tested): a new bit here must come with its instructions.
  Out l1 = query(t, 1);
  EXPECT_EQ(l1.r[3], (1u << 0) | (1u << 3) | (1u << 4) | (1u << 5) | (1u << 6) | (1u << 8) | (1u << 9) |
                         (1u << 11) | (1u << 13) | (1u << 15) | (1u << 16) | (1u << 19) | (1u << 23) |
                         (1u << 24) | (1u << 25) | (1u << 26))
      << "EDX: FPU PSE TSC MSR PAE CX8 APIC SEP PGE CMOV PAT CLFSH MMX FXSR SSE SSE2";
  EXPECT_EQ(l1.r[2],
            (1u << 0) | (1u << 9) | (1u << 13) | (1u << 19) | (1u << 20) | (1u << 22) | (1u << 23) | (1u << 26) |
                (1u << 24) | (1u << 21) | (1u << 31))
      << "ECX: SSE3 SSSE3 CX16 SSE4.1 SSE4.2 MOVBE POPCNT XSAVE, TSC-deadline (lapic_timer_test), x2APIC "
         "(x2apic_test), HYPERVISOR (KVM leaves: kvmclock_test); no MONITOR/AVX";
  // Leaf 0xD: XCR0 may hold x87 | SSE only (AVX is not implemented), 576
  // bytes; XSAVEOPT and XSAVEC, no XSAVES.
  Out d0 = query(t, 0xd, 0), d1 = query(t, 0xd, 1);
  EXPECT_EQ(d0.r[0], 3u);
  EXPECT_EQ(d0.r[3], 0u);
  EXPECT_EQ(d0.r[2], 576u);
  EXPECT_EQ(d1.r[0], 3u);
  Out e1 = query(t, 0x80000001);
  EXPECT_EQ(e1.r[3], (1u << 11) | (1u << 20) | (1u << 27) | (1u << 29)) << "EDX: SYSCALL NX RDTSCP LM";
  EXPECT_EQ(e1.r[2], (1u << 0) | (1u << 5)) << "ECX: LAHF/SAHF in 64-bit mode, ABM (LZCNT)";
  Out l7 = query(t, 7);
  EXPECT_EQ(l7.r[1], 1u << 19) << "leaf 7 EBX: ADX only (no BMI1/BMI2: not implemented)";
  EXPECT_EQ(t.max_phys_addr_bits(), 40u);
}

// The instruction gates (cpu/isa/features.h, the table's feature column):
// every feature KVM_GET_SUPPORTED_CPUID offers has implemented rows, and
// the half-implemented ones stay off.
TEST(SupportedCpuid, OffersAnInstructionFeatureOnlyWithItsRows) {
  namespace isa = cpu::isa;
  CpuidTable t;
  t.set(supported_cpuid());
  const isa::FeatureSet offered = t.features();
  for (unsigned f = 1; f < isa::kNumFeatures; ++f) {
    unsigned rows = 0;
    for (const isa::Row& r : isa::kRows) {
      if (r.attrs & isa::kAttrUd) continue;
      // CX16 is the REX.W form of the CX8 row; RDTSCP shares its row with
      // SWAPGS and is checked when it executes (exec/system_seg.h).
      rows += r.feature == f || (f == isa::kFeatCx16 && r.feature == isa::kFeatCx8) ||
              (f == isa::kFeatRdtscp && r.name == "SWAPGS_RDTSCP");
    }
    if (isa::has_feature(offered, static_cast<isa::Feature>(f))) {
      EXPECT_GT(rows, 0u) << isa::feature_name(static_cast<isa::Feature>(f)) << " offered without rows";
    }
  }
  EXPECT_FALSE(isa::has_feature(offered, isa::kFeatBmi1)) << "TZCNT alone is not BMI1";
  EXPECT_FALSE(isa::has_feature(offered, isa::kFeatBmi2));
  EXPECT_TRUE(isa::has_feature(offered, isa::kFeatAdx));
  EXPECT_TRUE(isa::has_feature(offered, isa::kFeatMovbe));
  EXPECT_TRUE(isa::has_feature(offered, isa::kFeatLahfLm));
  EXPECT_TRUE(isa::has_feature(offered, isa::kFeatXsavec));
}

TEST(CpuidTable, EmptyTableGivesZerosAnd36BitPhysical) {
  CpuidTable t;
  Out o = query(t, 0);
  EXPECT_EQ(o.r[0] | o.r[1] | o.r[2] | o.r[3], 0u);
  EXPECT_EQ(t.max_phys_addr_bits(), 36u);
}

TEST(CpuidTable, IntelOutOfRangeLeafReturnsHighestBasicLeaf) {
  CpuidTable t;
  t.set({leaf(0, 2, kIntel[0], kIntel[1], kIntel[2]), leaf(2, 0x22, 0x33), leaf(0x80000000, 0x80000001)});
  Out o = query(t, 5);  // above max basic leaf 2
  EXPECT_EQ(o.r[0], 0x22u);
  o = query(t, 0x80000008);  // above the extended maximum
  EXPECT_EQ(o.r[0], 0x22u);
}

TEST(CpuidTable, MissingLeafInsideTheRangeIsZero) {
  CpuidTable t;
  t.set({leaf(0, 2, kIntel[0], kIntel[1], kIntel[2]), leaf(2, 0x22)});
  Out o = query(t, 1);
  EXPECT_EQ(o.r[0] | o.r[1] | o.r[2] | o.r[3], 0u);
}

TEST(CpuidTable, AmdOutOfRangeLeafIsZero) {
  CpuidTable t;
  t.set({leaf(0, 2, kAmd[0], kAmd[1], kAmd[2]), leaf(2, 0x22)});
  Out o = query(t, 5);
  EXPECT_EQ(o.r[0], 0u);
}

TEST(CpuidTable, SignificantIndexSelectsSubleaf) {
  CpuidTable t;
  t.set({leaf(0, 7, kIntel[0], kIntel[1], kIntel[2]), leaf(4, 0x41, 0, 0, 0, 0, KVM_CPUID_FLAG_SIGNIFCANT_INDEX),
         leaf(4, 0x42, 0, 0, 0, 1, KVM_CPUID_FLAG_SIGNIFCANT_INDEX), leaf(6, 0x66)});
  EXPECT_EQ(query(t, 4, 1).r[0], 0x42u);
  EXPECT_EQ(query(t, 4, 0).r[0], 0x41u);
  EXPECT_EQ(query(t, 4, 2).r[0], 0u);     // missing subleaf
  EXPECT_EQ(query(t, 6, 9).r[0], 0x66u);  // index not significant
}

TEST(CpuidTable, TopologyLeafPassesClAndX2apicId) {
  CpuidTable t;
  t.set({leaf(0, 0xb, kIntel[0], kIntel[1], kIntel[2]),
         leaf(0xb, 1, 2, 0x100, 5, 0, KVM_CPUID_FLAG_SIGNIFCANT_INDEX),
         leaf(0xb, 4, 4, 0x201, 5, 1, KVM_CPUID_FLAG_SIGNIFCANT_INDEX)});
  Out o = query(t, 0xb, 3);
  EXPECT_EQ(o.r[0], 0u);
  EXPECT_EQ(o.r[2], 3u);
  EXPECT_EQ(o.r[3], 5u);
}

}  // namespace
}  // namespace skvm::kvm
