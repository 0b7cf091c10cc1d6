// SSE exceptions and state management on the engine: #XM vs #UD by
// CR4.OSXMMEXCPT with the destination unchanged, the availability gates
// (CR0.EM / CR4.OSFXSR -> #UD, CR0.TS -> #NM), the 16-byte alignment #GP of
// the aligned forms, LDMXCSR reserved bits, LOCK and VEX -> #UD; FXSAVE /
// FXRSTOR images compared with the host's own FXSAVE; XSAVE / XRSTOR /
// XSAVEOPT / XSAVEC headers and a simulated context switch; XGETBV /
// XSETBV rules (SDM Vol. 1 ch. 13, Vol. 2 of each form).
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "cpu/exec/sse_xsave.h"
#include "sse_native.h"

namespace skvm::cpu::testing {
namespace {

constexpr uint64_t kIdt = 0x6000, kGdt = 0x5000, kHandlers = 0x7000;
constexpr uint8_t kNone = 0xff;

class SseState : public ::testing::Test {
 protected:
  // Long mode with an IDT whose vector v handler is a HLT at kHandlers + 16 v.
  void enter(uint64_t cr4_extra = kCr4OSFXSR | kCr4OSXMMEXCPT) {
    g_.enter(GuestMode::kLong64);
    CpuState& s = g_.s();
    FakeBus& b = g_.bus();
    b.poke<uint64_t>(kGdt + 8, 0x00209a0000000000ull);   // 0x08: 64-bit code
    b.poke<uint64_t>(kGdt + 16, 0x0000920000000000ull);  // 0x10: data
    s.gdt.base = kGdt;
    s.gdt.limit = 23;
    s.idt.base = kIdt;
    s.idt.limit = 32 * 16 - 1;
    for (uint64_t v = 0; v < 32; ++v) {
      uint64_t h = kHandlers + 16 * v;
      b.poke<uint64_t>(kIdt + 16 * v, (h & 0xffff) | (0x08ull << 16) | (0x8eull << 40) | ((h >> 16 & 0xffff) << 48));
      b.poke<uint64_t>(kIdt + 16 * v + 8, h >> 32);
      b.poke<uint8_t>(h, 0xf4);
    }
    s.cr4 |= cr4_extra;
    s.gpr[kRsi] = kMem;
    simd::set_mxcsr(s, simd::kMxcsrReset);
    uint16_t fcw = 0x37f;
    std::memcpy(s.fxsave.data(), &fcw, 2);
    g_.cpu().state_changed();
  }
  // Runs code + HLT; returns the exception vector taken, or kNone when the
  // code reached its own HLT.
  uint8_t run(std::vector<uint8_t> code) {
    code.push_back(0xf4);
    g_.load(code);
    g_.s().rip = Guest::kCode;
    g_.s().halted = false;
    Stop st = g_.run();
    EXPECT_EQ(st, Stop::kHlt);
    uint64_t rip = g_.s().rip - 1;
    if (rip >= kHandlers && rip < kHandlers + 32 * 16) return static_cast<uint8_t>((rip - kHandlers) / 16);
    return kNone;
  }
  void set_xmm_f32(unsigned r, float a) {
    simd::Xmm v{};
    for (unsigned k = 0; k < 4; ++k) std::memcpy(v.b + 4 * k, &a, 4);
    simd::xmm_set(g_.s(), r, v);
  }
  Guest g_;
};

// ---- Exceptions -------------------------------------------------------------

TEST_F(SseState, UnmaskedInvalidRaisesXmWithDestinationUnchangedAndFlagSet) {
  enter();
  set_xmm_f32(1, 1.0f);
  simd::Xmm snan{};
  snan.set_d(0, 0x7f800001);  // signalling NaN
  simd::xmm_set(g_.s(), 2, snan);
  simd::set_mxcsr(g_.s(), simd::kMxcsrReset & ~(simd::kMxIE << 7));  // IM = 0
  EXPECT_EQ(run({0x0f, 0x58, 0xca}), kXM);  // addps xmm1, xmm2
  EXPECT_EQ(simd::xmm_d(g_.s(), 1, 0), 0x3f800000u) << "destination unchanged";
  EXPECT_EQ(simd::mxcsr(g_.s()) & simd::kMxFlags, simd::kMxIE);
}

TEST_F(SseState, UnmaskedExceptionWithoutOsxmmexcptRaisesUd) {
  enter(kCr4OSFXSR);
  set_xmm_f32(1, 1.0f);
  set_xmm_f32(2, 0.0f);
  simd::set_mxcsr(g_.s(), simd::kMxcsrReset & ~(simd::kMxZE << 7));  // ZM = 0
  EXPECT_EQ(run({0xf3, 0x0f, 0x5e, 0xca}), kUD);  // divss xmm1, xmm2
  EXPECT_EQ(simd::xmm_d(g_.s(), 1, 0), 0x3f800000u);
  EXPECT_EQ(simd::mxcsr(g_.s()) & simd::kMxFlags, simd::kMxZE);
}

TEST_F(SseState, MaskedDivideByZeroSetsFlagAndWritesInfinity) {
  enter();
  set_xmm_f32(1, 1.0f);
  set_xmm_f32(2, 0.0f);
  EXPECT_EQ(run({0xf3, 0x0f, 0x5e, 0xca}), kNone);
  EXPECT_EQ(simd::xmm_d(g_.s(), 1, 0), 0x7f800000u);
  EXPECT_EQ(simd::xmm_d(g_.s(), 1, 1), 0x3f800000u) << "upper lanes of DIVSS kept";
  EXPECT_EQ(simd::mxcsr(g_.s()) & simd::kMxFlags, simd::kMxZE);
}

TEST_F(SseState, UnmaskedPrecisionRecordsAllFlagsOfThePostComputationStep) {
  enter();
  set_xmm_f32(1, 1.0f);
  set_xmm_f32(2, 3.0f);
  simd::set_mxcsr(g_.s(), simd::kMxcsrReset & ~(simd::kMxPE << 7));
  EXPECT_EQ(run({0x0f, 0x5e, 0xca}), kXM);  // divps: 1/3 inexact
  EXPECT_EQ(simd::mxcsr(g_.s()) & simd::kMxFlags, simd::kMxPE);
  EXPECT_EQ(simd::xmm_d(g_.s(), 1, 2), 0x3f800000u);
}

TEST_F(SseState, WithoutOsfxsrSseFormsRaiseUd) {
  enter(0);
  EXPECT_EQ(run({0x0f, 0x58, 0xca}), kUD);
}

TEST_F(SseState, CrZeroEmRaisesUdAndTsRaisesNm) {
  enter();
  g_.s().cr0 |= kCr0EM;
  EXPECT_EQ(run({0x0f, 0x28, 0xca}), kUD);
  enter();
  g_.s().cr0 |= kCr0TS;
  EXPECT_EQ(run({0x0f, 0x28, 0xca}), kNM);
  enter();
  g_.s().cr0 |= kCr0TS;
  EXPECT_EQ(run({0x0f, 0xae, 0x06}), kNM) << "FXSAVE with CR0.TS";
}

TEST_F(SseState, MisalignedMovapsRaisesGpButMovupsDoesNot) {
  enter();
  g_.s().gpr[kRsi] = kMem + 8;
  EXPECT_EQ(run({0x0f, 0x28, 0x0e}), kGP);  // movaps xmm1, [rsi]
  enter();
  g_.s().gpr[kRsi] = kMem + 8;
  EXPECT_EQ(run({0x0f, 0x10, 0x0e}), kNone);  // movups xmm1, [rsi]
  enter();
  g_.s().gpr[kRsi] = kMem + 8;
  EXPECT_EQ(run({0x0f, 0x58, 0x0e}), kGP) << "ADDPS m128 is an aligned operand";
  enter();
  g_.s().gpr[kRsi] = kMem + 4;
  EXPECT_EQ(run({0xf3, 0x0f, 0x58, 0x0e}), kNone) << "ADDSS m32 is not";
}

TEST_F(SseState, LdmxcsrWithReservedBitRaisesGp) {
  enter();
  g_.bus().poke<uint32_t>(kMem, 0x10000 | simd::kMxcsrReset);
  EXPECT_EQ(run({0x0f, 0xae, 0x16}), kGP);
  EXPECT_EQ(simd::mxcsr(g_.s()), simd::kMxcsrReset);
  enter();
  g_.bus().poke<uint32_t>(kMem, 0x7fc0);
  EXPECT_EQ(run({0x0f, 0xae, 0x16, 0x0f, 0xae, 0x5e, 0x10}), kNone);  // ldmxcsr [rsi]; stmxcsr [rsi+16]
  EXPECT_EQ(simd::mxcsr(g_.s()), 0x7fc0u);
  EXPECT_EQ(g_.bus().peek<uint32_t>(kMem + 16), 0x7fc0u);
}

TEST_F(SseState, LockPrefixAndVexRaiseUd) {
  enter();
  EXPECT_EQ(run({0xf0, 0x0f, 0x58, 0x0e}), kUD) << "lock addps";
  enter();
  EXPECT_EQ(run({0xc5, 0xf8, 0x58, 0xca}), kUD) << "vaddps (VEX) without AVX";
  enter();
  EXPECT_EQ(run({0xc4, 0xe1, 0x78, 0x58, 0xca}), kUD) << "3-byte VEX";
}

TEST_F(SseState, MandatoryF3TakesPrecedenceOver66) {
  enter();
  set_xmm_f32(1, 1.0f);
  set_xmm_f32(2, 2.0f);
  EXPECT_EQ(run({0x66, 0xf3, 0x0f, 0x58, 0xca}), kNone);  // addss (66 ignored)
  EXPECT_EQ(simd::xmm_d(g_.s(), 1, 0), 0x40400000u);
  EXPECT_EQ(simd::xmm_d(g_.s(), 1, 1), 0x3f800000u) << "scalar form: upper lanes kept";
}

// ---- FXSAVE / FXRSTOR ---------------------------------------------------------

TEST_F(SseState, FxsaveImagesMatchTheHostFxsave) {
  SseNativeRunner native;
  ASSERT_TRUE(native.ok());
  for (bool wide : {true, false}) {
    SseCtx want{};
    for (unsigned b = 0; b < 512; ++b) want.fx[b] = static_cast<uint8_t>(b * 37 + 11);
    uint32_t mx = 0x1f80 | 0x3d;
    std::memcpy(want.fx + simd::kFxMxcsr, &mx, 4);
    uint16_t fsw = 0x0800, fcw = 0x37f;  // TOP = 1, no pending exception
    std::memcpy(want.fx + simd::kFxFsw, &fsw, 2);
    std::memcpy(want.fx + simd::kFxFcw, &fcw, 2);
    want.fx[simd::kFxFtw] = 0x5a;
    std::memset(want.fx + 5, 0, 19);  // FOP/FIP/FDP 0
    for (unsigned k = 0; k < 8; ++k) std::memset(want.fx + simd::kFxSt0 + 16 * k + 10, 0, 6);
    std::memset(want.mem, 0xee, sizeof want.mem);  // bytes FXSAVE leaves alone stay 0xee
    want.flags = kFlagFixed1;
    SseCtx got = want;
    std::vector<uint8_t> insn = wide ? std::vector<uint8_t>{0x48, 0x0f, 0xae, 0x06} : std::vector<uint8_t>{0x0f, 0xae, 0x06};
    native.run(insn, &want);
    ASSERT_EQ(run_engine(insn, &got, g_), Stop::kHlt);
    for (unsigned b = 0; b < 512; ++b) {
      if (b >= 28 && b < 32) continue;  // MXCSR_MASK: the host's
      ASSERT_EQ(want.mem[b], got.mem[b]) << "image byte " << b << (wide ? " (FXSAVE64)" : " (FXSAVE)");
    }
  }
}

TEST_F(SseState, FxsaveThenFxrstorRestoresXmmAndMxcsrAcrossAContextSwitch) {
  enter();
  set_xmm_f32(3, 2.5f);
  set_xmm_f32(15, -7.0f);
  simd::set_mxcsr(g_.s(), 0x3f80);
  // fxsave64 [rsi]; xorps xmm3, xmm3; xorps xmm15, xmm15; ldmxcsr [rsi+0x200]
  // (1F80); fxrstor64 [rsi]
  g_.bus().poke<uint32_t>(kMem + 0x200, 0x1f80);
  EXPECT_EQ(run({0x48, 0x0f, 0xae, 0x06, 0x0f, 0x57, 0xdb, 0x45, 0x0f, 0x57, 0xff, 0x0f, 0xae, 0x96, 0x00, 0x02,
                 0x00, 0x00, 0x48, 0x0f, 0xae, 0x0e}),
            kNone);
  float f;
  uint32_t d = simd::xmm_d(g_.s(), 15, 3);
  std::memcpy(&f, &d, 4);
  EXPECT_EQ(f, -7.0f);
  EXPECT_EQ(simd::xmm_d(g_.s(), 3, 0), 0x40200000u);
  EXPECT_EQ(simd::mxcsr(g_.s()), 0x3f80u);
  EXPECT_EQ(g_.bus().peek<uint32_t>(kMem + 24), 0x3f80u) << "MXCSR in the image";
  EXPECT_EQ(g_.bus().peek<uint32_t>(kMem + 28), simd::kMxcsrMask) << "MXCSR_MASK";
}

TEST_F(SseState, FxrstorWithReservedMxcsrBitsRaisesGpAndMisalignedRaisesGp) {
  enter();
  g_.bus().poke<uint32_t>(kMem + 24, 0x20000);
  EXPECT_EQ(run({0x48, 0x0f, 0xae, 0x0e}), kGP);
  enter();
  g_.s().gpr[kRsi] = kMem + 8;
  EXPECT_EQ(run({0x48, 0x0f, 0xae, 0x06}), kGP);
}

// ---- XSAVE family --------------------------------------------------------------

TEST_F(SseState, XsaveWithoutOsxsaveRaisesUd) {
  enter();
  EXPECT_EQ(run({0x0f, 0xae, 0x26}), kUD);
  enter();
  EXPECT_EQ(run({0x0f, 0x01, 0xd0}), kUD) << "XGETBV";
}

TEST_F(SseState, XsetbvAcceptsX87SseAndRejectsTheRest) {
  g_.bus().set_cpuid(0xd, 0, 0x3, 576, 576, 0);  // CPUID 0xD.0: x87 | SSE
  struct Case {
    uint64_t value;
    uint32_t ecx;
    bool ok;
  } cases[] = {{3, 0, true}, {1, 0, true}, {2, 0, false}, {7, 0, false}, {3, 1, false}, {0, 0, false}};
  for (const Case& c : cases) {
    enter(kCr4OSFXSR | kCr4OSXSAVE);
    g_.s().gpr[kRax] = c.value & 0xffffffff;
    g_.s().gpr[kRdx] = c.value >> 32;
    g_.s().gpr[kRcx] = c.ecx;
    EXPECT_EQ(run({0x0f, 0x01, 0xd1, 0x31, 0xc0, 0x31, 0xd2, 0x31, 0xc9, 0x0f, 0x01, 0xd0}), c.ok ? kNone : static_cast<uint8_t>(kGP))
        << "xsetbv " << c.value << " ecx " << c.ecx;
    if (c.ok) {
      EXPECT_EQ(g_.s().gpr[kRax], c.value) << "XGETBV reads XCR0 back";
    }
  }
}

TEST_F(SseState, XsaveXrstorRoundTripAcrossAContextSwitch) {
  enter(kCr4OSFXSR | kCr4OSXSAVE);
  g_.s().xcr0 = 3;
  set_xmm_f32(5, 9.0f);
  g_.s().gpr[kRax] = 3;
  g_.s().gpr[kRdx] = 0;
  // xsave64 [rsi]; xorps xmm5, xmm5; xrstor64 [rsi]
  EXPECT_EQ(run({0x48, 0x0f, 0xae, 0x26, 0x0f, 0x57, 0xed, 0x48, 0x0f, 0xae, 0x2e}), kNone);
  EXPECT_EQ(simd::xmm_d(g_.s(), 5, 1), 0x41100000u);
  EXPECT_EQ(g_.bus().peek<uint64_t>(kMem + 512) & 2, 2u) << "XSTATE_BV.SSE: XMM in use";
  EXPECT_EQ(g_.bus().peek<uint32_t>(kMem + 24), simd::kMxcsrReset);
}

TEST_F(SseState, XrstorOfAnInitHeaderResetsTheComponents) {
  enter(kCr4OSFXSR | kCr4OSXSAVE);
  g_.s().xcr0 = 3;
  set_xmm_f32(5, 9.0f);
  g_.bus().poke<uint32_t>(kMem + 24, 0x1f80);
  g_.s().gpr[kRax] = 3;
  EXPECT_EQ(run({0x48, 0x0f, 0xae, 0x2e}), kNone);  // header all zero: init both
  EXPECT_EQ(simd::xmm_q(g_.s(), 5, 0), 0u);
  uint16_t fcw;
  std::memcpy(&fcw, g_.s().fxsave.data(), 2);
  EXPECT_EQ(fcw, 0x37f);
}

TEST_F(SseState, XrstorWithBadHeaderRaisesGp) {
  for (unsigned which = 0; which < 3; ++which) {
    enter(kCr4OSFXSR | kCr4OSXSAVE);
    g_.s().xcr0 = 3;
    g_.s().gpr[kRax] = 3;
    if (which == 0) g_.bus().poke<uint64_t>(kMem + 512, 4);       // XSTATE_BV outside XCR0
    if (which == 1) g_.bus().poke<uint64_t>(kMem + 520, 1);       // XCOMP_BV != 0 (standard)
    if (which == 2) g_.bus().poke<uint32_t>(kMem + 24, 0x10000);  // reserved MXCSR bit
    EXPECT_EQ(run({0x48, 0x0f, 0xae, 0x2e}), kGP) << "case " << which;
  }
}

TEST_F(SseState, XsavecWritesCompactedHeaderAndSkipsInitComponents) {
  enter(kCr4OSFXSR | kCr4OSXSAVE);
  g_.s().xcr0 = 3;
  g_.s().gpr[kRax] = 3;
  std::memset(g_.bus().ram() + kMem, 0xcc, 160);
  EXPECT_EQ(run({0x48, 0x0f, 0xc7, 0x26}), kNone);  // xsavec64 [rsi]
  EXPECT_EQ(g_.bus().peek<uint64_t>(kMem + 512), 0u) << "XSTATE_BV: nothing in use";
  EXPECT_EQ(g_.bus().peek<uint64_t>(kMem + 520), (1ull << 63) | 3) << "XCOMP_BV";
  EXPECT_EQ(g_.bus().peek<uint16_t>(kMem), 0xccccu) << "x87 in its init state: not written";
  // The compacted image restores.
  set_xmm_f32(1, 4.0f);
  EXPECT_EQ(run({0x48, 0x0f, 0xae, 0x2e}), kNone);
  EXPECT_EQ(simd::xmm_q(g_.s(), 1, 0), 0u);
}

TEST_F(SseState, XsetbvOfSseWithoutCpuidLeafDRaisesGp) {
  enter(kCr4OSFXSR | kCr4OSXSAVE);
  g_.s().gpr[kRax] = 3;
  g_.s().gpr[kRdx] = 0;
  g_.s().gpr[kRcx] = 0;
  EXPECT_EQ(run({0x0f, 0x01, 0xd1}), kGP) << "the guest CPUID allows x87 only";
}

TEST_F(SseState, XgetbvEcx1ReportsInUseComponents) {
  enter(kCr4OSFXSR | kCr4OSXSAVE);
  g_.s().xcr0 = 3;
  set_xmm_f32(1, 4.0f);
  g_.s().gpr[kRcx] = 1;
  EXPECT_EQ(run({0x0f, 0x01, 0xd0}), kNone);
  EXPECT_EQ(g_.s().gpr[kRax], 2u) << "SSE in use, x87 in its initial configuration";
}

}  // namespace
}  // namespace skvm::cpu::testing

namespace skvm::cpu::testing {
namespace {

// Mandatory-prefix precedence (SDM Vol. 2A 2.1.2): F2 before 66 selects
// CRC32 and 66 still sizes the operand: F2 66 0F 38 F1 /r is CRC32 r32,
// r/m16, as the host runs it.
TEST(SsePrefixes, F2Then66IsCrc32WithA16BitSourceAsTheHostRunsIt) {
  SseNativeRunner native;
  ASSERT_TRUE(native.ok());
  Guest g;
  for (const std::vector<uint8_t>& insn : {std::vector<uint8_t>{0xf2, 0x66, 0x0f, 0x38, 0xf1, 0xca},
                                           std::vector<uint8_t>{0x66, 0xf2, 0x0f, 0x38, 0xf1, 0xca}}) {
    SseCtx want{};
    uint32_t mx = simd::kMxcsrReset;
    std::memcpy(want.fx + simd::kFxMxcsr, &mx, 4);
    want.rcx = 0x12345678;
    want.rdx = 0xdeadbeefcafe;
    want.flags = kFlagFixed1;
    SseCtx got = want;
    native.run(insn, &want);
    ASSERT_EQ(run_engine(insn, &got, g), Stop::kHlt);
    EXPECT_EQ(got.rcx, want.rcx);
  }
}

}  // namespace
}  // namespace skvm::cpu::testing
