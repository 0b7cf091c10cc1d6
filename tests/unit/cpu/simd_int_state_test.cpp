// MMX / integer SIMD architectural side effects the native oracle cannot
// see: the x87 state an MMX instruction leaves (TOP, tags, exponents),
// EMMS, the availability gates (#UD/#NM/#MF), 16-byte alignment #GP,
// register-only forms, REX-extended registers.
// SDM Vol. 1 9.5.1 (MMX and x87 state), Vol. 2 per-form exception lists.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "cpu/exec/simd_int_compute.h"
#include "cpu/exec/simd_operands.h"
#include "exec_harness.h"

namespace skvm::cpu::testing {
namespace {

uint16_t fsw(const CpuState& s) {
  uint16_t v;
  std::memcpy(&v, s.fxsave.data() + simd::kFxFsw, 2);
  return v;
}
void set_fsw(CpuState& s, uint16_t v) { std::memcpy(s.fxsave.data() + simd::kFxFsw, &v, 2); }
uint64_t slot_mantissa(const CpuState& s, unsigned k) {
  uint64_t v;
  std::memcpy(&v, s.fxsave.data() + simd::kFxSt0 + 16 * k, 8);
  return v;
}
uint16_t slot_exponent(const CpuState& s, unsigned k) {
  uint16_t v;
  std::memcpy(&v, s.fxsave.data() + simd::kFxSt0 + 16 * k + 8, 2);
  return v;
}
void set_slot(CpuState& s, unsigned k, uint64_t mant, uint16_t exp) {
  std::memcpy(s.fxsave.data() + simd::kFxSt0 + 16 * k, &mant, 8);
  std::memcpy(s.fxsave.data() + simd::kFxSt0 + 16 * k + 8, &exp, 2);
}

TEST(SimdIntMmxState, MmxInstructionResetsTopTagsAllValidAndSetsExponentOfDestination) {
  Guest g;
  g.load({0x0f, 0xfc, 0xc1, 0xf4});  // paddb mm0, mm1
  CpuState& s = g.s();
  // TOP = 3: physical register n lives in FXSAVE slot (n - 3) mod 8.
  set_fsw(s, 3 << 11);
  s.fxsave[simd::kFxFtw] = 0x01;
  set_slot(s, 5, 0x0102030405060708ull, 0x4000);  // mm0
  set_slot(s, 6, 0x1010101010101010ull, 0x1234);  // mm1
  g.cpu().state_changed();
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ((fsw(s) >> 11) & 7, 0) << "TOP = 0";
  EXPECT_EQ(s.fxsave[simd::kFxFtw], 0xff) << "every tag valid";
  EXPECT_EQ(slot_mantissa(s, 0), 0x1112131415161718ull) << "mm0 = physical register 0 = slot 0";
  EXPECT_EQ(slot_exponent(s, 0), 0xffff) << "the written register's bits 64..79 are ones";
  EXPECT_EQ(slot_mantissa(s, 1), 0x1010101010101010ull);
  EXPECT_EQ(slot_exponent(s, 1), 0x1234) << "a register only read keeps its exponent";
}

TEST(SimdIntMmxState, EmmsEmptiesEveryTagAndKeepsTop) {
  Guest g;
  g.load({0x0f, 0x77, 0xf4});  // emms
  set_fsw(g.s(), 2 << 11);
  g.s().fxsave[simd::kFxFtw] = 0xff;
  g.cpu().state_changed();
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.s().fxsave[simd::kFxFtw], 0);
  EXPECT_EQ((fsw(g.s()) >> 11) & 7, 2);
}

TEST(SimdIntXmm, RexExtendedRegistersAreAddressed) {
  Guest g;
  g.load({0x66, 0x45, 0x0f, 0xfe, 0xc1, 0xf4});  // paddd xmm8, xmm9
  CpuState& s = g.s();
  s.cr4 |= kCr4OSFXSR;
  simd::Xmm a{}, b{};
  for (unsigned k = 0; k < 4; ++k) {
    a.set_d(k, 100 * k + 1);
    b.set_d(k, 0xffffffffu);
  }
  simd::xmm_set(s, 8, a);
  simd::xmm_set(s, 9, b);
  g.cpu().state_changed();
  ASSERT_EQ(g.run(), Stop::kHlt);
  for (unsigned k = 0; k < 4; ++k) EXPECT_EQ(simd::xmm_d(s, 8, k), 100 * k) << k;
  EXPECT_EQ(simd::xmm_d(s, 0, 0), 0u) << "xmm0 untouched";
}

__attribute__((target("sse4.2"))) uint32_t host_crc32_u8(uint32_t c, uint8_t v) { return __builtin_ia32_crc32qi(c, v); }

TEST(SimdIntCrc32, ByteFormWritesItsR32DestinationNotAHighByteRegister) {
  if (!__builtin_cpu_supports("sse4.2")) GTEST_SKIP() << "host CPU lacks SSE4.2 (CRC32 oracle)";
  Guest g;
  g.load({0xf2, 0x0f, 0x38, 0xf0, 0xf1, 0xf4});  // crc32 esi, cl
  g.r(kRsi) = 0xffffffff12345678ull;
  g.r(kRcx) = 0x9c;
  g.cpu().state_changed();
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.r(kRsi), host_crc32_u8(0x12345678u, 0x9c)) << "ESI written and zero-extended";
  EXPECT_EQ(g.r(kRdx), 0u) << "DH (ModRM.reg 6 as a byte register) untouched";
}

// Real mode with an IVT whose vector v handler is `mov al, v; hlt` at
// 0x500 + 4v: after the run AL holds the vector raised (or 0xee if none).
class SimdIntFaults : public ::testing::Test {
 protected:
  static constexpr uint64_t kHandlers = 0x500;
  void SetUp() override {
    g_.enter(GuestMode::kReal);
    for (uint8_t v = 0; v < 32; ++v) {
      g_.bus().poke<uint16_t>(4u * v, static_cast<uint16_t>(kHandlers + 4 * v));
      g_.bus().poke<uint16_t>(4u * v + 2, 0);
      g_.bus().load(kHandlers + 4 * v, {0xb0, v, 0xf4});
    }
  }
  // Runs insn (then HLT) with the given CR0/CR4 bits; returns AL.
  uint8_t run(std::vector<uint8_t> insn, uint64_t cr0_set = 0, bool osfxsr = true, uint16_t si = 0x3000) {
    insn.push_back(0xf4);
    g_.load(insn);
    CpuState& s = g_.s();
    s.cr0 |= cr0_set;
    if (osfxsr) s.cr4 |= kCr4OSFXSR;
    s.gpr[kRax] = 0xee;
    s.gpr[kRsi] = si;
    s.gpr[kRsp] = 0x7000;
    g_.cpu().state_changed();
    Stop stop = g_.run();
    if (stop != Stop::kHlt) {
      const InternalExit& ie = g_.cpu().exit().internal;
      std::string bytes;
      for (unsigned k = 0; k < ie.insn_len; ++k) bytes += std::to_string(ie.insn[k]) + " ";
      ADD_FAILURE() << "stop " << static_cast<int>(stop) << " suberror " << ie.suberror << " rip 0x" << std::hex
                    << g_.s().rip << " insn " << bytes;
    }
    return static_cast<uint8_t>(g_.s().gpr[kRax]);
  }
  Guest g_{GuestMode::kReal};
};

TEST_F(SimdIntFaults, XmmFormWithoutOsfxsrIsUndefined) {
  EXPECT_EQ(run({0x66, 0x0f, 0xfc, 0xc1}, 0, false), kUD);
}
TEST_F(SimdIntFaults, MmxFormWithoutOsfxsrRuns) { EXPECT_EQ(run({0x0f, 0xfc, 0xc1}, 0, false), 0xee); }
TEST_F(SimdIntFaults, Cr0EmMakesMmxAndXmmFormsUndefined) {
  EXPECT_EQ(run({0x0f, 0xfc, 0xc1}, kCr0EM), kUD);
  SetUp();
  EXPECT_EQ(run({0x66, 0x0f, 0x38, 0x00, 0xc1}, kCr0EM), kUD);
}
TEST_F(SimdIntFaults, Cr0TsRaisesDeviceNotAvailable) {
  EXPECT_EQ(run({0x0f, 0xfc, 0xc1}, kCr0TS), kNM);
  SetUp();
  EXPECT_EQ(run({0x66, 0x0f, 0x3a, 0x63, 0xc1, 0x00}, kCr0TS), kNM);
  SetUp();
  EXPECT_EQ(run({0x0f, 0x77}, kCr0TS), kNM) << "EMMS";
}
TEST_F(SimdIntFaults, MmxFormWithPendingX87ErrorRaisesMathFault) {
  set_fsw(g_.s(), 0x0081);  // IE, ES
  EXPECT_EQ(run({0x0f, 0xfc, 0xc1}, kCr0NE), kMF);
}
TEST_F(SimdIntFaults, Crc32IgnoresTheSimdGates) {
  if (!__builtin_cpu_supports("sse4.2")) GTEST_SKIP() << "host CPU lacks SSE4.2";
  EXPECT_NE(run({0x66, 0xf2, 0x0f, 0x38, 0xf1, 0xd9}, kCr0EM | kCr0TS, false), kUD);  // crc32 ebx, ecx
}
TEST_F(SimdIntFaults, MisalignedM128OperandRaisesGeneralProtection) {
  EXPECT_EQ(run({0x66, 0x0f, 0xfc, 0x04}, 0, true, 0x3001), kGP) << "paddb xmm0, [si]";
  SetUp();
  EXPECT_EQ(run({0x66, 0x0f, 0x38, 0x17, 0x04}, 0, true, 0x3008), kGP) << "ptest";
  SetUp();
  EXPECT_EQ(run({0x66, 0x0f, 0x38, 0x2a, 0x04}, 0, true, 0x3004), kGP) << "movntdqa";
}
TEST_F(SimdIntFaults, UnalignedFormsDoNotFault) {
  EXPECT_EQ(run({0x66, 0x0f, 0x3a, 0x63, 0x04, 0x0c}, 0, true, 0x3001), 0xee) << "pcmpistri";
  SetUp();
  EXPECT_EQ(run({0x66, 0x0f, 0x38, 0x30, 0x04}, 0, true, 0x3003), 0xee) << "pmovzxbw m64";
  SetUp();
  EXPECT_EQ(run({0x0f, 0xfc, 0x04}, 0, true, 0x3001), 0xee) << "paddb mm0, m64";
}
TEST_F(SimdIntFaults, MemoryEncodingsOfRegisterOnlyFormsAreUndefined) {
  EXPECT_EQ(run({0x0f, 0x71, 0x14, 0x03}), kUD) << "psrlw [si], 3";
  SetUp();
  EXPECT_EQ(run({0x66, 0x0f, 0x73, 0x3c, 0x03}), kUD) << "pslldq [si], 3";
  SetUp();
  EXPECT_EQ(run({0x66, 0x0f, 0xd7, 0x04}), kUD) << "pmovmskb eax, [si]";
  SetUp();
  EXPECT_EQ(run({0x0f, 0xf7, 0x04}), kUD) << "maskmovq mm0, [si]";
}

TEST_F(SimdIntFaults, UndefinedShiftGroupEncodingsAreUndefined) {
  EXPECT_EQ(run({0x0f, 0x71, 0xc1, 0x03}), kUD) << "0F 71 /0";
  SetUp();
  EXPECT_EQ(run({0x0f, 0x73, 0xf9, 0x03}), kUD) << "NP 0F 73 /7 (PSLLDQ has no MMX form)";
  SetUp();
  EXPECT_EQ(run({0xf3, 0x0f, 0x72, 0xd1, 0x03}), kUD) << "F3 0F 72 /2";
}

TEST(SimdIntCompute, PcmpstrFlagsFollowTheValidLengths) {
  simd::Xmm a{}, b{};
  std::memcpy(a.b, "ab", 2);
  std::memcpy(b.b, "xxabyy", 6);
  // Unsigned bytes, equal ordered, positive polarity.
  simd::StrResult r = simd::si_pcmpstr(a, b, 2, 6, 0x0c);
  EXPECT_EQ(r.int_res2, 1u << 2) << "substring at index 2";
  EXPECT_EQ(r.flags, kFlagCF | kFlagZF | kFlagSF);
  EXPECT_EQ(simd::si_str_len(b, 0x0c), 6u);
  EXPECT_EQ(simd::si_str_len_explicit(0x80000000u, false, 0x0c), 16u) << "|INT32_MIN| saturates";
  EXPECT_EQ(simd::si_str_len_explicit(static_cast<uint64_t>(-5), true, 0x01), 5u);
}

}  // namespace
}  // namespace skvm::cpu::testing
