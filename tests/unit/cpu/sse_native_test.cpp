// Every SSE floating-point / data-movement form of isa/opcodes_sse.inc that
// a user program can run, executed natively on the host CPU and on the
// engine from the same state (STYLE rule 4): random operands drawn from
// NaNs (quiet and signalling), infinities, zeros, denormals, boundary
// integers and random bits; MXCSR rounding, DAZ, FZ and sticky flags varied
// (exceptions masked: an unmasked one would be a host SIGFPE; those are
// covered by sse_exceptions_test.cpp). XMM registers, MXCSR, MMX/x87
// registers and tags, RAX..RBX, the arithmetic flags and the memory operand
// must match bit for bit; both the register and the [rsi] memory forms run.
#include <gtest/gtest.h>

#include <cctype>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "sse_native.h"

namespace skvm::cpu::testing {
namespace {

enum class Lane : uint8_t { kF32, kF64, kI32, kI64 };

struct Form {
  const char* name;
  std::vector<uint8_t> op;  // prefixes, REX, 0F [38|3A] opcode (ModRM follows)
  Lane lane;                // what random values to draw
  bool imm = false;
  bool reg_form = true;     // ModRM.mod = 11 allowed
  bool mem_form = true;     // [rsi] allowed
};

void PrintTo(const Form& f, std::ostream* os) { *os << f.name; }

uint32_t special32(std::mt19937_64& rng) {
  static const uint32_t kV[] = {0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00001,
                                0x7f800001, 0xff812345, 0x00000001, 0x807fffff, 0x00400000, 0x00800000,
                                0x3f800000, 0xbf800000, 0x7f7fffff, 0x4f000000, 0xcf000000, 0x4effffff,
                                0x5f000000, 0xdf000000, 0x3f000000, 0x3fc00000, 0x40200000, 0x34000000};
  switch (rng() % 4) {
    case 0: return kV[rng() % (sizeof kV / sizeof kV[0])];
    case 1: return static_cast<uint32_t>(rng());
    default: {
      // Moderate magnitudes, so that arithmetic is exercised with rounding.
      float f = static_cast<float>(static_cast<int64_t>(rng() % 2000001) - 1000000) / static_cast<float>(1 + rng() % 977);
      uint32_t b;
      std::memcpy(&b, &f, 4);
      return b;
    }
  }
}
uint64_t special64(std::mt19937_64& rng) {
  static const uint64_t kV[] = {0, 0x8000000000000000ull, 0x7ff0000000000000ull, 0xfff0000000000000ull,
                                0x7ff8000000000000ull, 0xfff8000000000001ull, 0x7ff0000000000001ull,
                                0x0000000000000001ull, 0x800fffffffffffffull, 0x0010000000000000ull,
                                0x3ff0000000000000ull, 0xbff0000000000000ull, 0x7fefffffffffffffull,
                                0x41e0000000000000ull, 0xc1e0000000000000ull, 0x43e0000000000000ull,
                                0xc3e0000000000000ull, 0x3fe0000000000000ull, 0x3ff8000000000000ull,
                                0x36a0000000000000ull, 0x3800000000000000ull, 0x47efffffe0000000ull};
  switch (rng() % 4) {
    case 0: return kV[rng() % (sizeof kV / sizeof kV[0])];
    case 1: return rng();
    default: {
      double d = static_cast<double>(static_cast<int64_t>(rng() % 2000000001) - 1000000000) / static_cast<double>(1 + rng() % 9973);
      uint64_t b;
      std::memcpy(&b, &d, 8);
      return b;
    }
  }
}
uint64_t special_int(std::mt19937_64& rng) {
  static const uint64_t kV[] = {0, 1, 0xffffffffull, 0x7fffffffull, 0x80000000ull, 0xffffffff80000000ull,
                                0x7fffffffffffffffull, 0x8000000000000000ull, 0xffffffffffffffffull,
                                0x1000001ull, 0x20000000000001ull};
  return rng() % 2 ? kV[rng() % (sizeof kV / sizeof kV[0])] : rng() >> (rng() % 64);
}

void fill(uint8_t* p, unsigned bytes, Lane lane, std::mt19937_64& rng) {
  for (unsigned k = 0; k < bytes;) {
    if (lane == Lane::kF32) {
      uint32_t v = special32(rng);
      std::memcpy(p + k, &v, 4);
      k += 4;
    } else {
      uint64_t v = lane == Lane::kF64 ? special64(rng) : special_int(rng);
      std::memcpy(p + k, &v, 8);
      k += 8;
    }
  }
}

void random_state(SseCtx* c, Lane lane, std::mt19937_64& rng) {
  std::memset(c, 0, sizeof *c);
  uint16_t fcw = 0x37f;
  std::memcpy(c->fx, &fcw, 2);
  // MXCSR: masks all set, random RC / DAZ / FZ / sticky flags.
  uint32_t mx = simd::kMxMasks | (static_cast<uint32_t>(rng()) & (simd::kMxRc | simd::kMxDAZ | simd::kMxFZ | simd::kMxFlags));
  std::memcpy(c->fx + simd::kFxMxcsr, &mx, 4);
  for (unsigned r = 0; r < 16; ++r) fill(c->fx + simd::kFxXmm0 + 16 * r, 16, rng() % 4 ? lane : Lane::kI64, rng);
  for (unsigned r = 0; r < 8; ++r) fill(c->fx + simd::kFxSt0 + 16 * r, 8, Lane::kI64, rng);
  fill(c->mem, 64, lane, rng);
  c->rax = special_int(rng);
  c->rcx = special_int(rng);
  c->rdx = lane == Lane::kI32 || lane == Lane::kI64 ? special_int(rng) : rng();
  c->rbx = rng();
  c->flags = kFlagFixed1 | (rng() & kFlagsArith);
}

// Compares the architectural results; FOP/FIP/FDP (bytes 6..23) and the
// software-available area are not results of SSE forms.
void expect_same(const SseCtx& want, const SseCtx& got, const std::string& what) {
  for (unsigned b = 0; b < 416; ++b) {
    if (b >= 6 && b < 24) continue;
    if (b >= 28 && b < 32) continue;  // MXCSR_MASK: host value
    if (want.fx[b] != got.fx[b]) {
      ADD_FAILURE() << what << ": FXSAVE byte " << b << " want 0x" << std::hex << unsigned{want.fx[b]}
                    << " got 0x" << unsigned{got.fx[b]};
      return;
    }
  }
  EXPECT_EQ(want.rax, got.rax) << what;
  EXPECT_EQ(want.rcx, got.rcx) << what;
  EXPECT_EQ(want.rdx, got.rdx) << what;
  EXPECT_EQ(want.rbx, got.rbx) << what;
  EXPECT_EQ(want.flags & kFlagsArith, got.flags & kFlagsArith) << what;
  EXPECT_EQ(0, std::memcmp(want.mem, got.mem, sizeof want.mem)) << what << ": memory operand";
}

std::string hex(const std::vector<uint8_t>& v) {
  std::string s;
  char b[4];
  for (uint8_t x : v) {
    std::snprintf(b, sizeof b, "%02x ", x);
    s += b;
  }
  return s;
}

const Form kForms[] = {
    // Moves.
    {"MOVUPS", {0x0f, 0x10}, Lane::kF32},         {"MOVUPD", {0x66, 0x0f, 0x10}, Lane::kF64},
    {"MOVSS", {0xf3, 0x0f, 0x10}, Lane::kF32},    {"MOVSD", {0xf2, 0x0f, 0x10}, Lane::kF64},
    {"MOVUPS st", {0x0f, 0x11}, Lane::kF32},      {"MOVSS st", {0xf3, 0x0f, 0x11}, Lane::kF32},
    {"MOVSD st", {0xf2, 0x0f, 0x11}, Lane::kF64}, {"MOVLPS/MOVHLPS", {0x0f, 0x12}, Lane::kF32},
    {"MOVLPD", {0x66, 0x0f, 0x12}, Lane::kF64, false, false},
    {"MOVSLDUP", {0xf3, 0x0f, 0x12}, Lane::kF32}, {"MOVDDUP", {0xf2, 0x0f, 0x12}, Lane::kF64},
    {"MOVLPS st", {0x0f, 0x13}, Lane::kF32, false, false},
    {"MOVHPS/MOVLHPS", {0x0f, 0x16}, Lane::kF32}, {"MOVHPD", {0x66, 0x0f, 0x16}, Lane::kF64, false, false},
    {"MOVSHDUP", {0xf3, 0x0f, 0x16}, Lane::kF32}, {"MOVHPD st", {0x66, 0x0f, 0x17}, Lane::kF64, false, false},
    {"MOVAPS", {0x0f, 0x28}, Lane::kF32},         {"MOVAPD st", {0x66, 0x0f, 0x29}, Lane::kF64},
    {"MOVNTPS", {0x0f, 0x2b}, Lane::kF32, false, false},
    {"MOVMSKPS", {0x0f, 0x50}, Lane::kF32, false, true, false},
    {"MOVMSKPD", {0x66, 0x0f, 0x50}, Lane::kF64, false, true, false},
    {"MOVD xmm,r32", {0x66, 0x0f, 0x6e}, Lane::kI64}, {"MOVQ xmm,r64", {0x66, 0x48, 0x0f, 0x6e}, Lane::kI64},
    {"MOVD r32,xmm", {0x66, 0x0f, 0x7e}, Lane::kI64}, {"MOVQ r64,xmm", {0x66, 0x48, 0x0f, 0x7e}, Lane::kI64},
    {"MOVD mm,r32", {0x0f, 0x6e}, Lane::kI64},     {"MOVQ r64,mm", {0x48, 0x0f, 0x7e}, Lane::kI64},
    {"MOVQ mm,mm", {0x0f, 0x6f}, Lane::kI64},      {"MOVQ mm/m,mm", {0x0f, 0x7f}, Lane::kI64},
    {"MOVDQA", {0x66, 0x0f, 0x6f}, Lane::kI64},    {"MOVDQU", {0xf3, 0x0f, 0x6f}, Lane::kI64},
    {"MOVDQU st", {0xf3, 0x0f, 0x7f}, Lane::kI64}, {"MOVQ xmm,xmm/m64", {0xf3, 0x0f, 0x7e}, Lane::kI64},
    {"MOVQ xmm/m64,xmm", {0x66, 0x0f, 0xd6}, Lane::kI64},
    {"MOVQ2DQ", {0xf3, 0x0f, 0xd6}, Lane::kI64, false, true, false},
    {"MOVDQ2Q", {0xf2, 0x0f, 0xd6}, Lane::kI64, false, true, false},
    {"MOVNTDQ", {0x66, 0x0f, 0xe7}, Lane::kI64, false, false},
    {"MOVNTQ", {0x0f, 0xe7}, Lane::kI64, false, false},
    {"LDDQU", {0xf2, 0x0f, 0xf0}, Lane::kI64, false, false},
    {"MOVNTI", {0x48, 0x0f, 0xc3}, Lane::kI64, false, false},
    // Unpack / shuffle / logic.
    {"UNPCKLPS", {0x0f, 0x14}, Lane::kF32},       {"UNPCKLPD", {0x66, 0x0f, 0x14}, Lane::kF64},
    {"UNPCKHPS", {0x0f, 0x15}, Lane::kF32},       {"UNPCKHPD", {0x66, 0x0f, 0x15}, Lane::kF64},
    {"SHUFPS", {0x0f, 0xc6}, Lane::kF32, true},   {"SHUFPD", {0x66, 0x0f, 0xc6}, Lane::kF64, true},
    {"ANDPS", {0x0f, 0x54}, Lane::kF32},          {"ANDNPD", {0x66, 0x0f, 0x55}, Lane::kF64},
    {"ORPS", {0x0f, 0x56}, Lane::kF32},           {"XORPD", {0x66, 0x0f, 0x57}, Lane::kF64},
    // Arithmetic.
    {"SQRTPS", {0x0f, 0x51}, Lane::kF32},         {"SQRTSS", {0xf3, 0x0f, 0x51}, Lane::kF32},
    {"SQRTPD", {0x66, 0x0f, 0x51}, Lane::kF64},   {"SQRTSD", {0xf2, 0x0f, 0x51}, Lane::kF64},
    {"RSQRTPS", {0x0f, 0x52}, Lane::kF32},        {"RSQRTSS", {0xf3, 0x0f, 0x52}, Lane::kF32},
    {"RCPPS", {0x0f, 0x53}, Lane::kF32},          {"RCPSS", {0xf3, 0x0f, 0x53}, Lane::kF32},
    {"ADDPS", {0x0f, 0x58}, Lane::kF32},          {"ADDSS", {0xf3, 0x0f, 0x58}, Lane::kF32},
    {"ADDPD", {0x66, 0x0f, 0x58}, Lane::kF64},    {"ADDSD", {0xf2, 0x0f, 0x58}, Lane::kF64},
    {"MULPS", {0x0f, 0x59}, Lane::kF32},          {"MULSS", {0xf3, 0x0f, 0x59}, Lane::kF32},
    {"MULPD", {0x66, 0x0f, 0x59}, Lane::kF64},    {"MULSD", {0xf2, 0x0f, 0x59}, Lane::kF64},
    {"SUBPS", {0x0f, 0x5c}, Lane::kF32},          {"SUBSS", {0xf3, 0x0f, 0x5c}, Lane::kF32},
    {"SUBPD", {0x66, 0x0f, 0x5c}, Lane::kF64},    {"SUBSD", {0xf2, 0x0f, 0x5c}, Lane::kF64},
    {"MINPS", {0x0f, 0x5d}, Lane::kF32},          {"MINSS", {0xf3, 0x0f, 0x5d}, Lane::kF32},
    {"MINPD", {0x66, 0x0f, 0x5d}, Lane::kF64},    {"MINSD", {0xf2, 0x0f, 0x5d}, Lane::kF64},
    {"DIVPS", {0x0f, 0x5e}, Lane::kF32},          {"DIVSS", {0xf3, 0x0f, 0x5e}, Lane::kF32},
    {"DIVPD", {0x66, 0x0f, 0x5e}, Lane::kF64},    {"DIVSD", {0xf2, 0x0f, 0x5e}, Lane::kF64},
    {"MAXPS", {0x0f, 0x5f}, Lane::kF32},          {"MAXSS", {0xf3, 0x0f, 0x5f}, Lane::kF32},
    {"MAXPD", {0x66, 0x0f, 0x5f}, Lane::kF64},    {"MAXSD", {0xf2, 0x0f, 0x5f}, Lane::kF64},
    {"HADDPD", {0x66, 0x0f, 0x7c}, Lane::kF64},   {"HADDPS", {0xf2, 0x0f, 0x7c}, Lane::kF32},
    {"HSUBPD", {0x66, 0x0f, 0x7d}, Lane::kF64},   {"HSUBPS", {0xf2, 0x0f, 0x7d}, Lane::kF32},
    {"ADDSUBPD", {0x66, 0x0f, 0xd0}, Lane::kF64}, {"ADDSUBPS", {0xf2, 0x0f, 0xd0}, Lane::kF32},
    // Compares.
    {"CMPPS", {0x0f, 0xc2}, Lane::kF32, true},    {"CMPPD", {0x66, 0x0f, 0xc2}, Lane::kF64, true},
    {"CMPSS", {0xf3, 0x0f, 0xc2}, Lane::kF32, true}, {"CMPSD", {0xf2, 0x0f, 0xc2}, Lane::kF64, true},
    {"UCOMISS", {0x0f, 0x2e}, Lane::kF32},        {"UCOMISD", {0x66, 0x0f, 0x2e}, Lane::kF64},
    {"COMISS", {0x0f, 0x2f}, Lane::kF32},         {"COMISD", {0x66, 0x0f, 0x2f}, Lane::kF64},
    // Conversions.
    {"CVTPI2PS", {0x0f, 0x2a}, Lane::kI32},       {"CVTPI2PD", {0x66, 0x0f, 0x2a}, Lane::kI32},
    {"CVTSI2SS r32", {0xf3, 0x0f, 0x2a}, Lane::kI64}, {"CVTSI2SS r64", {0xf3, 0x48, 0x0f, 0x2a}, Lane::kI64},
    {"CVTSI2SD r32", {0xf2, 0x0f, 0x2a}, Lane::kI64}, {"CVTSI2SD r64", {0xf2, 0x48, 0x0f, 0x2a}, Lane::kI64},
    {"CVTTPS2PI", {0x0f, 0x2c}, Lane::kF32},      {"CVTTPD2PI", {0x66, 0x0f, 0x2c}, Lane::kF64},
    {"CVTTSS2SI", {0xf3, 0x0f, 0x2c}, Lane::kF32}, {"CVTTSS2SI r64", {0xf3, 0x48, 0x0f, 0x2c}, Lane::kF32},
    {"CVTTSD2SI", {0xf2, 0x0f, 0x2c}, Lane::kF64}, {"CVTTSD2SI r64", {0xf2, 0x48, 0x0f, 0x2c}, Lane::kF64},
    {"CVTPS2PI", {0x0f, 0x2d}, Lane::kF32},       {"CVTPD2PI", {0x66, 0x0f, 0x2d}, Lane::kF64},
    {"CVTSS2SI", {0xf3, 0x0f, 0x2d}, Lane::kF32}, {"CVTSS2SI r64", {0xf3, 0x48, 0x0f, 0x2d}, Lane::kF32},
    {"CVTSD2SI", {0xf2, 0x0f, 0x2d}, Lane::kF64}, {"CVTSD2SI r64", {0xf2, 0x48, 0x0f, 0x2d}, Lane::kF64},
    {"CVTPS2PD", {0x0f, 0x5a}, Lane::kF32},       {"CVTPD2PS", {0x66, 0x0f, 0x5a}, Lane::kF64},
    {"CVTSS2SD", {0xf3, 0x0f, 0x5a}, Lane::kF32}, {"CVTSD2SS", {0xf2, 0x0f, 0x5a}, Lane::kF64},
    {"CVTDQ2PS", {0x0f, 0x5b}, Lane::kI32},       {"CVTPS2DQ", {0x66, 0x0f, 0x5b}, Lane::kF32},
    {"CVTTPS2DQ", {0xf3, 0x0f, 0x5b}, Lane::kF32}, {"CVTTPD2DQ", {0x66, 0x0f, 0xe6}, Lane::kF64},
    {"CVTDQ2PD", {0xf3, 0x0f, 0xe6}, Lane::kI32}, {"CVTPD2DQ", {0xf2, 0x0f, 0xe6}, Lane::kF64},
    // SSE4.1.
    {"BLENDVPS", {0x66, 0x0f, 0x38, 0x14}, Lane::kF32}, {"BLENDVPD", {0x66, 0x0f, 0x38, 0x15}, Lane::kF64},
    {"ROUNDPS", {0x66, 0x0f, 0x3a, 0x08}, Lane::kF32, true}, {"ROUNDPD", {0x66, 0x0f, 0x3a, 0x09}, Lane::kF64, true},
    {"ROUNDSS", {0x66, 0x0f, 0x3a, 0x0a}, Lane::kF32, true}, {"ROUNDSD", {0x66, 0x0f, 0x3a, 0x0b}, Lane::kF64, true},
    {"BLENDPS", {0x66, 0x0f, 0x3a, 0x0c}, Lane::kF32, true}, {"BLENDPD", {0x66, 0x0f, 0x3a, 0x0d}, Lane::kF64, true},
    {"EXTRACTPS", {0x66, 0x0f, 0x3a, 0x17}, Lane::kF32, true},
    {"INSERTPS", {0x66, 0x0f, 0x3a, 0x21}, Lane::kF32, true},
    {"DPPS", {0x66, 0x0f, 0x3a, 0x40}, Lane::kF32, true}, {"DPPD", {0x66, 0x0f, 0x3a, 0x41}, Lane::kF64, true},
};

class SseNative : public ::testing::TestWithParam<Form> {};

TEST_P(SseNative, EngineMatchesHostOnRandomOperands) {
  SseNativeRunner native;
  ASSERT_TRUE(native.ok());
  Guest g;
  const Form& f = GetParam();
  std::mt19937_64 rng(0x55e + f.op.back() * 131 + f.op.size() * 7 + f.op.front());
  for (unsigned n = 0; n < 160; ++n) {
    bool mem = f.mem_form && (!f.reg_form || n % 2);
    std::vector<uint8_t> insn = f.op;
    // ModRM: reg = 1 (xmm1 / rcx / mm1), rm = 2 (xmm2 / rdx / mm2) or [rsi].
    insn.push_back(mem ? 0x0e : 0xca);
    if (f.imm) insn.push_back(static_cast<uint8_t>(rng()));
    SseCtx want, got;
    random_state(&want, f.lane, rng);
    // Some operand pairs equal, for the compare / min / max forms.
    if (rng() % 8 == 0) std::memcpy(want.fx + simd::kFxXmm0 + 32, want.fx + simd::kFxXmm0 + 16, 16);
    std::memcpy(&got, &want, sizeof want);
    native.run(insn, &want);
    Stop st = run_engine(insn, &got, g);
    ASSERT_EQ(st, Stop::kHlt) << f.name << " [" << hex(insn) << "] did not retire";
    expect_same(want, got, std::string(f.name) + " [" + hex(insn) + "] case " + std::to_string(n));
    if (HasFailure()) return;
  }
}

INSTANTIATE_TEST_SUITE_P(Forms, SseNative, ::testing::ValuesIn(kForms),
                         [](const ::testing::TestParamInfo<Form>& info) {
                           std::string s;
                           for (const char* p = info.param.name; *p; ++p)
                             s += std::isalnum(static_cast<unsigned char>(*p)) ? *p : '_';
                           return s + "_" + std::to_string(info.index);
                         });

}  // namespace
}  // namespace skvm::cpu::testing
