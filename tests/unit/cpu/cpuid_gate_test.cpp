// CPUID gating of instruction forms (isa/features.h, the feature column of
// isa/opcodes*.inc, decided in decode/decoder.cpp): for each feature, one
// form of it raises #UD when Cpu::set_cpuid_features() lacks the feature
// and executes (no #UD) when it has it. The FakeBus CPUID offers every bit,
// so the checks some handlers still make at execution time pass and only
// the decoder's gate differs.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cpu/decode/decoder.h"
#include "cpu/isa/features.h"
#include "cpu/isa/isa.h"
#include "exec_harness.h"

namespace skvm::cpu::testing {
namespace {

using isa::Feature;
using isa::FeatureSet;

constexpr uint64_t kIdt = 0x4000, kGdt = 0x5000, kStubs = 0x3000, kData = 0x6000;

FeatureSet without(Feature f) { return isa::kAllFeatures & ~(FeatureSet{1} << f); }

// A 64-bit (or 32-bit) guest whose IDT sends vector v to a HLT at
// kStubs + v, so that the vector an instruction raised can be read off RIP.
class GateGuest {
 public:
  explicit GateGuest(GuestMode mode) : g_(mode) {
    FakeBus& b = g_.bus();
    // Every feature bit the gates read (features.h), so that execution-time
    // checks agree with the decoder.
    b.set_cpuid(0, 0, 0xd, 0x756e6547, 0x6c65746e, 0x49656e69);
    b.set_cpuid(1, 0, 0, 0, 0xffffffffu, 0xffffffffu);
    b.set_cpuid(7, 0, 0, 0xffffffffu, 0, 0);
    b.set_cpuid(0xd, 0, 0x3, 576, 576, 0);
    b.set_cpuid(0xd, 1, 0x3, 0, 0, 0);
    b.set_cpuid(0x80000001u, 0, 0, 0, 0xffffffffu, 0xffffffffu);
    std::vector<uint8_t> stubs(256, 0xf4);
    b.load(kStubs, stubs);
    const bool m64 = mode == GuestMode::kLong64;
    // GDT: null, code (0x08), data (0x10).
    b.poke<uint64_t>(kGdt, 0);
    b.poke<uint64_t>(kGdt + 8, m64 ? 0x00209a0000000000ull : 0x00cf9a000000ffffull);
    b.poke<uint64_t>(kGdt + 16, 0x00cf92000000ffffull);
    for (unsigned v = 0; v < 256; ++v) {
      const uint64_t h = kStubs + v;
      if (m64) {
        uint64_t lo = (h & 0xffff) | (uint64_t{0x8} << 16) | (uint64_t{0x8e00} << 32) | ((h >> 16 & 0xffff) << 48);
        b.poke<uint64_t>(kIdt + 16 * v, lo);
        b.poke<uint64_t>(kIdt + 16 * v + 8, h >> 32);
      } else {
        uint64_t d = (h & 0xffff) | (uint64_t{0x8} << 16) | (uint64_t{0x8e00} << 32) | ((h >> 16 & 0xffff) << 48);
        b.poke<uint64_t>(kIdt + 8 * v, d);
      }
    }
    CpuState& s = g_.s();
    s.gdt.base = kGdt;
    s.gdt.limit = 23;
    s.idt.base = kIdt;
    s.idt.limit = m64 ? 16 * 256 - 1 : 8 * 256 - 1;
    s.cr4 |= kCr4OSFXSR | kCr4OSXMMEXCPT | kCr4OSXSAVE;
    s.cr0 |= kCr0MP | kCr0NE;
    s.xcr0 = 3;
    g_.cpu().state_changed();
  }

  // Runs `insn; hlt` and returns the vector it raised, or -1 when it retired.
  int run(const std::vector<uint8_t>& insn, FeatureSet features) {
    g_.cpu().set_cpuid_features(features);
    std::vector<uint8_t> code = insn;
    code.push_back(0xf4);
    g_.load(code);
    CpuState& s = g_.s();
    s.rip = Guest::kCode;
    s.gpr[kRsp] = 0x8000;
    s.gpr[kRbx] = kData;
    s.gpr[kRcx] = 0;  // XGETBV ECX = 0
    s.gpr[kRax] = 1;
    s.gpr[kRdx] = 0;
    g_.cpu().state_changed();
    Stop stop = g_.run();
    EXPECT_EQ(stop, Stop::kHlt);
    if (s.rip == Guest::kCode + code.size()) return -1;
    if (s.rip > kStubs && s.rip <= kStubs + 256) return static_cast<int>(s.rip - kStubs - 1);
    ADD_FAILURE() << "stopped at unexpected RIP " << std::hex << s.rip;
    return -2;
  }

  Guest& guest() { return g_; }

 private:
  Guest g_;
};

struct GateCase {
  Feature feature;
  std::vector<uint8_t> insn;
  const char* what;
};

// One form per feature (64-bit mode; rBX points at aligned writable data).
const std::vector<GateCase>& cases() {
  static const std::vector<GateCase> kCases = {
      {isa::kFeatFpu, {0xd9, 0xe8}, "fld1"},
      {isa::kFeatCx8, {0x0f, 0xc7, 0x0b}, "cmpxchg8b [rbx]"},
      {isa::kFeatCx16, {0x48, 0x0f, 0xc7, 0x0b}, "cmpxchg16b [rbx]"},
      {isa::kFeatCmov, {0x48, 0x0f, 0x44, 0xc1}, "cmove rax, rcx"},
      {isa::kFeatFcmov, {0xda, 0xc1}, "fcmovb st0, st1"},
      {isa::kFeatClfsh, {0x0f, 0xae, 0x3b}, "clflush [rbx]"},
      {isa::kFeatMmx, {0x0f, 0xfc, 0xc1}, "paddb mm0, mm1"},
      {isa::kFeatFxsr, {0x0f, 0xae, 0x03}, "fxsave [rbx]"},
      {isa::kFeatSse, {0x0f, 0x58, 0xc1}, "addps xmm0, xmm1"},
      {isa::kFeatSse, {0x0f, 0xae, 0x1b}, "stmxcsr [rbx]"},
      {isa::kFeatSse, {0x0f, 0xe0, 0xc1}, "pavgb mm0, mm1 (MMX form added by SSE)"},
      {isa::kFeatSse2, {0x66, 0x0f, 0x58, 0xc1}, "addpd xmm0, xmm1"},
      {isa::kFeatSse2, {0x66, 0x0f, 0xfc, 0xc1}, "paddb xmm0, xmm1"},
      {isa::kFeatSse2, {0x0f, 0xae, 0xe8}, "lfence"},
      {isa::kFeatSse3, {0xf2, 0x0f, 0x7c, 0xc1}, "haddps xmm0, xmm1"},
      {isa::kFeatSse3, {0xdd, 0x0b}, "fisttp qword [rbx]"},
      {isa::kFeatSsse3, {0x66, 0x0f, 0x38, 0x00, 0xc1}, "pshufb xmm0, xmm1"},
      {isa::kFeatSsse3, {0x0f, 0x38, 0x00, 0xc1}, "pshufb mm0, mm1"},
      {isa::kFeatSse41, {0x66, 0x0f, 0x38, 0x17, 0xc1}, "ptest xmm0, xmm1"},
      {isa::kFeatSse41, {0x66, 0x0f, 0x3a, 0x0a, 0xc1, 0x00}, "roundss xmm0, xmm1, 0"},
      {isa::kFeatSse42, {0x66, 0x0f, 0x38, 0x37, 0xc1}, "pcmpgtq xmm0, xmm1"},
      {isa::kFeatSse42, {0xf2, 0x48, 0x0f, 0x38, 0xf1, 0xc1}, "crc32 rax, rcx"},
      {isa::kFeatPopcnt, {0xf3, 0x48, 0x0f, 0xb8, 0xc1}, "popcnt rax, rcx"},
      {isa::kFeatMovbe, {0x0f, 0x38, 0xf0, 0x03}, "movbe eax, [rbx]"},
      {isa::kFeatAdx, {0x66, 0x48, 0x0f, 0x38, 0xf6, 0xc1}, "adcx rax, rcx"},
      {isa::kFeatAdx, {0xf3, 0x0f, 0x38, 0xf6, 0x03}, "adox eax, [rbx]"},
      {isa::kFeatMovbe, {0x66, 0x0f, 0x38, 0xf1, 0x03}, "movbe [rbx], ax"},
      {isa::kFeatXsave, {0x0f, 0x01, 0xd0}, "xgetbv"},
      {isa::kFeatXsave, {0x0f, 0xae, 0x23}, "xsave [rbx]"},
      {isa::kFeatXsaveopt, {0x0f, 0xae, 0x33}, "xsaveopt [rbx]"},
      {isa::kFeatXsavec, {0x0f, 0xc7, 0x23}, "xsavec [rbx]"},
      {isa::kFeatLahfLm, {0x9f}, "lahf (64-bit mode)"},
      {isa::kFeatLahfLm, {0x9e}, "sahf (64-bit mode)"},
      {isa::kFeatSep, {0x0f, 0x34}, "sysenter (#GP(0) with SYSENTER_CS = 0 when present)"},
  };
  return kCases;
}

TEST(CpuidGate, EachGatedFormIsUndefinedWithoutItsFeatureAndRunsWithIt) {
  for (const GateCase& c : cases()) {
    GateGuest g(GuestMode::kLong64);
    const std::string name = std::string(c.what) + " [" + std::string(isa::feature_name(c.feature)) + "]";
    EXPECT_EQ(g.run(c.insn, without(c.feature)), kUD) << name << " without its feature";
    EXPECT_NE(g.run(c.insn, isa::kAllFeatures), kUD) << name << " with its feature";
  }
}

TEST(CpuidGate, CmpxchgWithoutRexWNeedsOnlyCx8) {
  GateGuest g(GuestMode::kLong64);
  EXPECT_EQ(g.run({0x0f, 0xc7, 0x0b}, without(isa::kFeatCx16)), -1) << "cmpxchg8b without CX16";
  EXPECT_EQ(g.run({0x48, 0x0f, 0xc7, 0x0b}, without(isa::kFeatCx8)), -1) << "cmpxchg16b without CX8";
}

TEST(CpuidGate, FcmovNeedsFpuToo) {
  // FCMOVcc needs CPUID.CMOV and CPUID.FPU (SDM Vol. 2A FCMOVcc).
  uint32_t leaf1_edx = ~(1u << 0);  // no FPU
  FeatureSet set = isa::features_from_cpuid([&](uint32_t leaf, uint32_t, uint32_t out[4]) {
    out[0] = leaf == 0 ? 1 : 0;
    out[1] = out[2] = 0;
    out[3] = leaf == 1 ? leaf1_edx : 0;
  });
  EXPECT_TRUE(isa::has_feature(set, isa::kFeatCmov));
  EXPECT_FALSE(isa::has_feature(set, isa::kFeatFcmov));
  GateGuest g(GuestMode::kLong64);
  EXPECT_EQ(g.run({0xda, 0xc1}, set), kUD);
}

TEST(CpuidGate, LahfSahfOutsideLongModeIgnoreTheLahfLmBit) {
  GateGuest g(GuestMode::kProt32);
  EXPECT_EQ(g.run({0x9f}, without(isa::kFeatLahfLm)), -1) << "lahf in 32-bit mode";
  EXPECT_EQ(g.run({0x9e}, without(isa::kFeatLahfLm)), -1) << "sahf in 32-bit mode";
}

TEST(CpuidGate, TzcntWithoutBmi1IsBsf) {
  GateGuest g(GuestMode::kLong64);
  // tzcnt rax, rcx with rcx = 0: TZCNT writes 64 and sets CF; BSF leaves
  // rax and sets ZF.
  std::vector<uint8_t> tz = {0xf3, 0x48, 0x0f, 0xbc, 0xc1};
  EXPECT_EQ(g.run(tz, isa::kAllFeatures), -1);
  EXPECT_EQ(g.guest().r(kRax), 64u);
  EXPECT_EQ(g.run(tz, without(isa::kFeatBmi1)), -1);
  EXPECT_EQ(g.guest().r(kRax), 1u) << "BSF with a zero source leaves the destination";
  EXPECT_TRUE(g.guest().s().rflags & kFlagZF);
}

TEST(CpuidGate, LzcntWithoutAbmIsBsr) {
  GateGuest g(GuestMode::kLong64);
  // lzcnt rax, rdx with rdx = 0, then: 64; as BSR, rax stays 1.
  std::vector<uint8_t> lz = {0xf3, 0x48, 0x0f, 0xbd, 0xc2};
  EXPECT_EQ(g.run(lz, isa::kAllFeatures), -1);
  EXPECT_EQ(g.guest().r(kRax), 64u);
  EXPECT_EQ(g.run(lz, without(isa::kFeatLzcnt)), -1);
  EXPECT_EQ(g.guest().r(kRax), 1u);
}

TEST(CpuidGate, ChangingTheFeaturesDropsBlocksDecodedBefore) {
  // The same code at the same address: decoded with SSE first, then the
  // table loses SSE and the cached record must not run again.
  GateGuest g(GuestMode::kLong64);
  std::vector<uint8_t> addps = {0x0f, 0x58, 0xc1};
  EXPECT_EQ(g.run(addps, isa::kAllFeatures), -1);
  EXPECT_EQ(g.run(addps, without(isa::kFeatSse)), kUD);
  EXPECT_EQ(g.run(addps, isa::kAllFeatures), -1);
}

TEST(CpuidGate, UngatedFormsIgnoreAnEmptyFeatureSet) {
  GateGuest g(GuestMode::kLong64);
  const FeatureSet none = FeatureSet{1} << isa::kFeatNone;
  EXPECT_EQ(g.run({0x48, 0x01, 0xc8}, none), -1) << "add rax, rcx";
  EXPECT_EQ(g.run({0x0f, 0xa2}, none), -1) << "cpuid";
}

TEST(CpuidGate, DecoderMarksTheGatedRecordUndefined) {
  Insn in;
  const uint8_t popcnt[] = {0xf3, 0x0f, 0xb8, 0xc1};
  decode::Decoded d = decode::decode(popcnt, sizeof popcnt, 8, &in, without(isa::kFeatPopcnt));
  EXPECT_EQ(d.len, 4u);
  EXPECT_TRUE(d.ends_block);
  EXPECT_EQ(in.fn, exec::handler_ud());
  EXPECT_EQ(isa::row_name(in.row), "POPCNT_GvEv");
  decode::decode(popcnt, sizeof popcnt, 8, &in, isa::kAllFeatures);
  EXPECT_NE(in.fn, exec::handler_ud());
}

TEST(CpuidGate, FeaturesFromCpuidReadLeavesOnlyUpToTheirClassMaximum) {
  // Max basic leaf 1: leaf 7 is not read (KVM would answer it with leaf 1,
  // whose EBX bit 3 must not be taken for BMI1).
  FeatureSet set = isa::features_from_cpuid([](uint32_t leaf, uint32_t, uint32_t out[4]) {
    out[0] = out[1] = out[2] = out[3] = 0;
    if (leaf == 0) out[0] = 1;
    if (leaf == 1 || leaf == 7) out[1] = out[2] = out[3] = 0xffffffffu;
  });
  EXPECT_TRUE(isa::has_feature(set, isa::kFeatSse2));
  EXPECT_FALSE(isa::has_feature(set, isa::kFeatBmi1));
  EXPECT_FALSE(isa::has_feature(set, isa::kFeatXsaveopt));
  EXPECT_FALSE(isa::has_feature(set, isa::kFeatLzcnt)) << "no extended leaves";
}

TEST(CpuidGate, EveryFeatureOfTheTableHasACpuidBitAndAName) {
  unsigned gated_rows = 0;
  for (const isa::Row& r : isa::kRows) {
    ASSERT_LT(r.feature, isa::kNumFeatures) << r.name;
    if (r.feature != isa::kFeatNone) ++gated_rows;
  }
  EXPECT_GT(gated_rows, 400u) << "x87, MMX, SSE* and the integer gated forms";
}

}  // namespace
}  // namespace skvm::cpu::testing
