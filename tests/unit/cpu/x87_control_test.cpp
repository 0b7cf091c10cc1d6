// x87 control: #NM (CR0.EM/TS/MP), #MF at the next waiting instruction,
// non-waiting forms, #UD for reserved register encodings, FNINIT/FNCLEX/
// FNSTSW/FNSTCW, faulting stores that leave the FPU untouched, and the
// environment formats of FNSTENV/FLDENV/FNSAVE/FRSTOR (SDM Vol. 1 8.1.10):
// the 64-bit-mode forms (32-bit and, with 66, 16-bit protected formats)
// against the host, the real-mode formats against the SDM's figures.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "exec_harness.h"
#include "x87_oracle.h"

namespace skvm::cpu::testing {
namespace {

constexpr uint64_t kHandlers = 0x500;  // vector v: HLT at kHandlers + 16 * v
constexpr uint64_t kData = 0x3000;

uint16_t r16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
uint64_t r64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
void w16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }
void w64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, 8); }

// Real mode with an IVT whose every vector halts at its own address.
class X87Real : public ::testing::Test {
 protected:
  void SetUp() override {
    g_.enter(GuestMode::kReal);
    for (unsigned v = 0; v < 32; ++v) {
      g_.bus().poke<uint16_t>(4 * v, static_cast<uint16_t>(kHandlers + 16 * v));
      g_.bus().poke<uint16_t>(4 * v + 2, 0);
      g_.bus().poke<uint8_t>(kHandlers + 16 * v, 0xf4);
    }
    uint8_t* f = g_.s().fxsave.data();
    w16(f + 0, 0x037f);
    w16(f + 24, 0x1f80);
  }
  // Runs `code` at kCode; returns the vector taken (-1: reached the final HLT).
  int run(std::vector<uint8_t> code) {
    code.push_back(0xf4);
    g_.load(code);
    g_.cpu().state_changed();
    EXPECT_EQ(g_.run(), Stop::kHlt);
    uint64_t rip = g_.s().rip;
    if (rip > kHandlers && rip <= kHandlers + 16 * 32) return static_cast<int>((rip - 1 - kHandlers) / 16);
    EXPECT_EQ(rip, Guest::kCode + code.size());
    return -1;
  }
  // IP pushed by the exception (the faulting instruction).
  uint16_t faulting_ip() { return g_.bus().peek<uint16_t>(g_.s().gpr[kRsp]); }
  uint16_t fsw() { return r16(g_.s().fxsave.data() + 2); }
  uint16_t fcw() { return r16(g_.s().fxsave.data()); }

  Guest g_{GuestMode::kReal};
};

TEST_F(X87Real, TsRaisesNmAndLeavesStackUntouched) {
  g_.s().cr0 |= kCr0TS;
  EXPECT_EQ(run({0xd9, 0xe8}), kNM);  // FLD1
  EXPECT_EQ(faulting_ip(), Guest::kCode);
  EXPECT_EQ(fsw(), 0);
}

TEST_F(X87Real, EmRaisesNmEvenForNonWaitingForms) {
  g_.s().cr0 |= kCr0EM;
  EXPECT_EQ(run({0xdb, 0xe3}), kNM);  // FNINIT
}

TEST_F(X87Real, WaitIgnoresTsWithoutMp) {
  g_.s().cr0 |= kCr0TS;
  EXPECT_EQ(run({0x9b}), -1);
}

TEST_F(X87Real, WaitRaisesNmWithMpAndTs) {
  g_.s().cr0 |= kCr0TS | kCr0MP;
  EXPECT_EQ(run({0x9b}), kNM);
}

TEST_F(X87Real, WaitIgnoresEm) {
  g_.s().cr0 |= kCr0EM;
  EXPECT_EQ(run({0x9b}), -1);
}

// FLDCW [0x3000] (ZE unmasked); FLDZ; FLD1; FDIV ST0,ST1 (flags ZE, ES);
// FNSTSW AX (non-waiting: runs); FWAIT -> #MF with FIP/FOP of the FDIV.
TEST_F(X87Real, UnmaskedZeroDivideRaisesMfAtNextWaitingInstruction) {
  g_.bus().poke<uint16_t>(kData, 0x037b);
  int v = run({0xd9, 0x2e, 0x00, 0x30, 0xd9, 0xee, 0xd9, 0xe8, 0xd8, 0xf1, 0xdf, 0xe0, 0x9b});
  EXPECT_EQ(v, kMF);
  EXPECT_EQ(faulting_ip(), Guest::kCode + 12);
  EXPECT_EQ(g_.s().gpr[kRax] & 0xffff, 0xb084u) << "ZE | ES | B, TOP = 6";
  const uint8_t* f = g_.s().fxsave.data();
  EXPECT_EQ(r64(f + 8), Guest::kCode + 8) << "FIP: the FDIV";
  EXPECT_EQ(r16(f + 6), 0x0f1) << "FOP: D8 F1";
}

TEST_F(X87Real, PendingExceptionBlocksNextArithmeticButNotFnclex) {
  g_.bus().poke<uint16_t>(kData, 0x037b);
  EXPECT_EQ(run({0xd9, 0x2e, 0x00, 0x30, 0xd9, 0xee, 0xd9, 0xe8, 0xd8, 0xf1, 0xd9, 0xe8}), kMF);
  EXPECT_EQ(faulting_ip(), Guest::kCode + 10) << "the second FLD1";
  EXPECT_EQ((fsw() >> 11) & 7, 6u) << "FLD1 did not push";
  SetUp();
  g_.bus().poke<uint16_t>(kData, 0x037b);
  EXPECT_EQ(run({0xd9, 0x2e, 0x00, 0x30, 0xd9, 0xee, 0xd9, 0xe8, 0xd8, 0xf1, 0xdb, 0xe2, 0xd9, 0xe8}), -1);
  EXPECT_EQ(fsw() & 0x80ff, 0) << "FNCLEX cleared flags, ES and B";
}

TEST_F(X87Real, FldcwUnmaskingAPendingFlagFaultsAtNextWaitingInstruction) {
  g_.bus().poke<uint16_t>(kData, 0x037b);
  w16(g_.s().fxsave.data() + 2, 0x0004);  // ZE flagged while masked
  EXPECT_EQ(run({0xd9, 0x2e, 0x00, 0x30, 0xd9, 0xe8}), kMF);
  EXPECT_EQ(faulting_ip(), Guest::kCode + 4);
}

TEST_F(X87Real, ReservedRegisterEncodingsRaiseUd) {
  for (std::vector<uint8_t> code : {std::vector<uint8_t>{0xd9, 0xd1}, {0xd9, 0xe2}, {0xd9, 0xef}, {0xda, 0xe8},
                                    {0xdb, 0xe5}, {0xdd, 0xf0}, {0xde, 0xd8}, {0xdf, 0xe1}, {0xdf, 0xf8}}) {
    SetUp();
    EXPECT_EQ(run(code), kUD) << std::hex << int(code[0]) << " " << int(code[1]);
  }
}

TEST_F(X87Real, ReservedMemoryEncodingRaisesUd) {
  EXPECT_EQ(run({0xd9, 0x0e, 0x00, 0x30}), kUD);  // D9 /1 mem
}

TEST_F(X87Real, FninitResetsControlStatusTagsAndPointers) {
  uint8_t* f = g_.s().fxsave.data();
  w16(f + 0, 0x0c7f);
  w16(f + 2, 0x38c1);
  f[4] = 0x5a;
  w16(f + 6, 0x123);
  w64(f + 8, 0x1234);
  w64(f + 16, 0x5678);
  EXPECT_EQ(run({0xdb, 0xe3}), -1);
  EXPECT_EQ(fcw(), 0x037f);
  EXPECT_EQ(fsw(), 0);
  EXPECT_EQ(f[4], 0);
  EXPECT_EQ(r16(f + 6), 0);
  EXPECT_EQ(r64(f + 8), 0u);
  EXPECT_EQ(r64(f + 16), 0u);
}

TEST_F(X87Real, FnstcwAndFnstswStoreTheWords) {
  w16(g_.s().fxsave.data() + 2, 0x3a21);
  // FNSTCW [0x3000]; FNSTSW [0x3002]; FNSTSW AX
  EXPECT_EQ(run({0xd9, 0x3e, 0x00, 0x30, 0xdd, 0x3e, 0x02, 0x30, 0xdf, 0xe0}), -1);
  EXPECT_EQ(g_.bus().peek<uint16_t>(kData), 0x037f);
  EXPECT_EQ(g_.bus().peek<uint16_t>(kData + 2), 0x3a21);
  EXPECT_EQ(g_.s().gpr[kRax] & 0xffff, 0x3a21u);
}

TEST_F(X87Real, FaultingStoreLeavesStackAndMemoryUntouched) {
  // FLD1; FSTP qword [0xfffc] crosses the 64 KiB limit: #GP, TOP unchanged.
  EXPECT_EQ(run({0xd9, 0xe8, 0xdd, 0x1e, 0xfc, 0xff}), kGP);
  EXPECT_EQ(faulting_ip(), Guest::kCode + 2);
  EXPECT_EQ((fsw() >> 11) & 7, 7u);
  EXPECT_EQ(g_.s().fxsave[4], 0x80) << "ST0 still valid";
}

// An unmasked exception on a memory form records FOP from the encoded ModRM
// (past any prefix) and, in real mode, FDP as the linear address.
TEST_F(X87Real, UnmaskedFaultOnMemoryFormRecordsLinearFdpAndFop) {
  g_.s().seg[kEs].selector = 0x200;
  g_.s().seg[kEs].base = 0x2000;
  g_.bus().poke<uint16_t>(kData, 0x037b);
  g_.bus().poke<uint32_t>(0x2200, 0);  // 0.0f
  // FLDCW [0x3000]; FLD1; FDIV dword [es:0x200]; FWAIT
  EXPECT_EQ(run({0xd9, 0x2e, 0x00, 0x30, 0xd9, 0xe8, 0x26, 0xd8, 0x36, 0x00, 0x02, 0x9b}), kMF);
  const uint8_t* f = g_.s().fxsave.data();
  EXPECT_EQ(r16(f + 6), 0x036) << "FOP: D8 36";
  EXPECT_EQ(r64(f + 8), Guest::kCode + 6) << "FIP: the FDIV, prefix included";
  EXPECT_EQ(r64(f + 16), 0x2200u) << "FDP: ES base + offset";
  EXPECT_EQ(fsw() & 0x80ff, 0x8084) << "ZE, ES, B";
}

// Stack fault (SDM Vol. 1 8.5.1.1), values as the host gives them: a
// ninth push sets IE, SF and C1 and loads the QNaN indefinite; reading an
// empty register sets IE and SF with C1 clear.
TEST_F(X87Real, NinthPushOverflowsWithIeSfC1AndIndefinite) {
  std::vector<uint8_t> code;
  for (int k = 0; k < 9; ++k) code.insert(code.end(), {0xd9, 0xe8});  // FLD1
  code.insert(code.end(), {0xdf, 0xe0});                              // FNSTSW AX
  EXPECT_EQ(run(code), -1);
  EXPECT_EQ(g_.s().gpr[kRax] & 0xffff, 0x3a41u);
  const uint8_t* f = g_.s().fxsave.data();
  EXPECT_EQ(r64(f + 32), 0xc000000000000000ull);
  EXPECT_EQ(r16(f + 40), 0xffff);
}

TEST_F(X87Real, ReadingAnEmptyRegisterUnderflowsWithIeSf) {
  // FLD1; FADD ST0, ST3 (empty); FNSTSW AX
  EXPECT_EQ(run({0xd9, 0xe8, 0xd8, 0xc3, 0xdf, 0xe0}), -1);
  EXPECT_EQ(g_.s().gpr[kRax] & 0xffff, 0x3841u);
  const uint8_t* f = g_.s().fxsave.data();
  EXPECT_EQ(r64(f + 32), 0xc000000000000000ull);
  EXPECT_EQ(r16(f + 40), 0xffff);
  EXPECT_EQ(f[4], 0x80);
}

// STYLE rule 5: one instruction at a time and whole blocks agree.
TEST_F(X87Real, SteppingAndBlockExecutionAgree) {
  // FLDPI; FLD1; FSCALE; FSQRT; FXCH; FPREM; FISTP [0x3000]; FSTP [0x3004]; FNSTSW AX
  const std::vector<uint8_t> code = {0xd9, 0xeb, 0xd9, 0xe8, 0xd9, 0xfd, 0xd9, 0xfa, 0xd9, 0xc9, 0xd9, 0xf8,
                                     0xdb, 0x1e, 0x00, 0x30, 0xd9, 0x1e, 0x04, 0x30, 0xdf, 0xe0, 0xf4};
  g_.load(code);
  g_.cpu().state_changed();
  ASSERT_EQ(g_.run(), Stop::kHlt);
  const CpuState block = g_.s();
  const uint64_t mem = g_.bus().peek<uint64_t>(kData);
  SetUp();
  g_.bus().poke<uint64_t>(kData, 0);
  g_.load(code);
  g_.cpu().state_changed();
  ASSERT_EQ(g_.run_stepping(), Stop::kHlt);
  EXPECT_EQ(std::memcmp(g_.s().fxsave.data(), block.fxsave.data(), 160), 0);
  EXPECT_EQ(g_.s().gpr[kRax], block.gpr[kRax]);
  EXPECT_EQ(g_.bus().peek<uint64_t>(kData), mem);
  EXPECT_NE(mem, 0u);
}

// Real-mode environment layouts (SDM Vol. 1 Figs. 8-10, 8-12) and the
// FLDENV round trip. FIP/FDP are 20-bit linear addresses in real mode.
TEST_F(X87Real, FnstenvRealModeFormatsPlacePointersAsTheSdmShows) {
  uint8_t* f = g_.s().fxsave.data();
  w16(f + 6, 0x5f1);
  w64(f + 8, 0xabcde);
  w64(f + 16, 0x12345);
  // 66 FNSTENV [0x3000] (32-bit real format), FNSTENV [0x3100] (16-bit).
  EXPECT_EQ(run({0x66, 0xd9, 0x36, 0x00, 0x30, 0xd9, 0x36, 0x00, 0x31}), -1);
  FakeBus& b = g_.bus();
  EXPECT_EQ(b.peek<uint16_t>(kData + 0), 0x037f);
  EXPECT_EQ(b.peek<uint16_t>(kData + 8), 0xffff) << "all tags empty";
  EXPECT_EQ(b.peek<uint16_t>(kData + 12), 0xbcde);
  EXPECT_EQ(b.peek<uint32_t>(kData + 16), 0x0000a5f1u);
  EXPECT_EQ(b.peek<uint16_t>(kData + 20), 0x2345);
  EXPECT_EQ(b.peek<uint32_t>(kData + 24), 0x00001000u);
  EXPECT_EQ(b.peek<uint16_t>(kData + 0x100), 0x037f);
  EXPECT_EQ(b.peek<uint16_t>(kData + 0x106), 0xbcde);
  EXPECT_EQ(b.peek<uint16_t>(kData + 0x108), 0xa5f1);
  EXPECT_EQ(b.peek<uint16_t>(kData + 0x10a), 0x2345);
  EXPECT_EQ(b.peek<uint16_t>(kData + 0x10c), 0x1000);
  EXPECT_EQ(fcw(), 0x037f) << "all exceptions were masked already";
  // Reload both after clobbering the pointers: FLDENV restores them.
  SetUp();
  g_.bus().poke<uint16_t>(kData + 0x100, 0x0c7f);  // modified FCW in the 16-bit image
  EXPECT_EQ(run({0xd9, 0x26, 0x00, 0x31}), -1);    // FLDENV [0x3100]
  EXPECT_EQ(fcw(), 0x0c7f);
  EXPECT_EQ(r16(f + 6), 0x5f1);
  EXPECT_EQ(r64(f + 8), 0xabcdeu);
  EXPECT_EQ(r64(f + 16), 0x12345u);
  SetUp();
  EXPECT_EQ(run({0x66, 0xd9, 0x26, 0x00, 0x30}), -1);  // 66 FLDENV [0x3000]
  EXPECT_EQ(r64(f + 8), 0xabcdeu);
  EXPECT_EQ(r64(f + 16), 0x12345u);
}

// ---- 64-bit mode, against the host ------------------------------------------

void random_state(std::mt19937_64& rng, Fx* f) {
  std::memset(f->b, 0, sizeof f->b);
  for (unsigned k = 0; k < 8; ++k) {
    uint64_t m = rng() | (1ull << 63);
    uint16_t se = static_cast<uint16_t>(rng() % 3 == 0 ? 0 : 0x3fff + rng() % 40);
    if (rng() % 5 == 0) m = 0;
    std::memcpy(f->b + 32 + 16 * k, &m, 8);
    std::memcpy(f->b + 40 + 16 * k, &se, 2);
  }
  uint16_t fcw = static_cast<uint16_t>(0x0040 | (rng() & 0x0f3f));
  uint16_t fsw = static_cast<uint16_t>((rng() & 0x4700) | ((rng() % 8) << 11) | (rng() & fcw & 0x3f));
  w16(f->b + 0, fcw);
  w16(f->b + 2, fsw);
  f->b[4] = static_cast<uint8_t>(rng());
  w16(f->b + 6, static_cast<uint16_t>(rng() & 0x7ff));
  w64(f->b + 8, rng() & 0xffffffff);
  w64(f->b + 16, rng() & 0xffffffff);
  uint32_t mxcsr = 0x1f80;
  std::memcpy(f->b + 24, &mxcsr, 4);
}

// Runs one instruction with [rbx] = kData on the engine (64-bit mode) and
// natively with [rdi]; the engine's memory and state must equal the host's.
void expect_env_form_matches_host(const std::vector<uint8_t>& prefix, uint8_t op, uint8_t reg, unsigned size,
                                  bool load) {
  X87Oracle oracle;
  ASSERT_TRUE(oracle.ok());
  Guest g(GuestMode::kLong64);
  std::mt19937_64 rng(op * 8 + reg + prefix.size());
  for (unsigned trial = 0; trial < 50; ++trial) {
    Fx start, native;
    random_state(rng, &start);
    uint8_t mem[128], nmem[128];
    if (load) {
      // A plausible image: FNSAVE of another random state, by the host.
      Fx other;
      random_state(rng, &other);
      std::memset(mem, 0, sizeof mem);
      uint64_t fl = 2;
      std::vector<uint8_t> save = prefix;
      save.insert(save.end(), {0xdd, 0x37});
      oracle.run(save, &other, mem, &fl);
      if (rng() % 4 == 0) mem[0] |= 0x3f;  // sometimes everything masked
    } else {
      for (auto& m : mem) m = static_cast<uint8_t>(rng());
    }
    std::memcpy(nmem, mem, sizeof mem);
    native = start;
    uint64_t flags = 2;
    std::vector<uint8_t> insn = prefix;
    insn.insert(insn.end(), {op, static_cast<uint8_t>((reg << 3) | 7)});
    oracle.run(insn, &native, nmem, &flags);

    g.enter(GuestMode::kLong64);
    std::memcpy(g.s().fxsave.data(), start.b, 512);
    g.s().gpr[kRbx] = kData;
    for (unsigned k = 0; k < sizeof mem; ++k) g.bus().poke<uint8_t>(kData + k, mem[k]);
    std::vector<uint8_t> code = prefix;
    code.insert(code.end(), {op, static_cast<uint8_t>((reg << 3) | 3), 0xf4});
    g.load(code);
    g.cpu().state_changed();
    ASSERT_EQ(g.run(), Stop::kHlt);
    const uint8_t* e = g.s().fxsave.data();
    for (unsigned k = 0; k < size; ++k)
      ASSERT_EQ(g.bus().peek<uint8_t>(kData + k), nmem[k]) << "byte " << k << " trial " << trial;
    ASSERT_EQ(std::memcmp(e, native.b, 6), 0) << std::hex << r16(e) << "/" << r16(e + 2) << "/" << int(e[4])
                                                << " vs " << r16(native.b) << "/" << r16(native.b + 2) << "/"
                                                << int(native.b[4]);
    ASSERT_EQ(std::memcmp(e + 32, native.b + 32, 128), 0);
    if (load) {
      // FLDENV/FRSTOR load the pointers from the image (32-bit offsets).
      EXPECT_EQ(r64(e + 8), r64(native.b + 8) & 0xffffffff);
      EXPECT_EQ(r16(e + 6), r16(native.b + 6));
      EXPECT_EQ(r64(e + 16), r64(native.b + 16) & 0xffffffff);
    }
  }
}

TEST(X87Env, FnstenvMatchesHost) { expect_env_form_matches_host({}, 0xd9, 6, 28, false); }
TEST(X87Env, Fnstenv16BitFormatMatchesHost) { expect_env_form_matches_host({0x66}, 0xd9, 6, 14, false); }
TEST(X87Env, FnsaveMatchesHostAndReinitializes) { expect_env_form_matches_host({}, 0xdd, 6, 108, false); }
TEST(X87Env, Fnsave16BitFormatMatchesHost) { expect_env_form_matches_host({0x66}, 0xdd, 6, 94, false); }
TEST(X87Env, FldenvMatchesHost) { expect_env_form_matches_host({}, 0xd9, 4, 28, true); }
TEST(X87Env, Fldenv16BitFormatMatchesHost) { expect_env_form_matches_host({0x66}, 0xd9, 4, 14, true); }
TEST(X87Env, FrstorMatchesHost) { expect_env_form_matches_host({}, 0xdd, 4, 108, true); }
TEST(X87Env, Frstor16BitFormatMatchesHost) { expect_env_form_matches_host({0x66}, 0xdd, 4, 94, true); }

}  // namespace
}  // namespace skvm::cpu::testing
