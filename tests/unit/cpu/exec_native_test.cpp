// The host CPU as the oracle (STYLE rule 4): each instruction form runs
// natively (mmap'd code) and on the engine in 64-bit mode with the same
// registers and flags; results and all six arithmetic flags — including the
// SDM's "undefined" ones — must match. Operands sweep edge values.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstring>
#include <string>
#include <vector>

#include "exec_harness.h"
#include "native_runner.h"

namespace skvm::cpu::testing {
namespace {

const uint64_t kValues[] = {0,
                            1,
                            2,
                            0x0f,
                            0x10,
                            0x7f,
                            0x80,
                            0xff,
                            0x100,
                            0x7fff,
                            0x8000,
                            0xffff,
                            0x7fffffff,
                            0x80000000,
                            0xffffffff,
                            0x123456789abcdef0ull,
                            0x7fffffffffffffffull,
                            0x8000000000000000ull,
                            0xffffffffffffffffull};
const uint64_t kCounts[] = {0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 255};
const uint64_t kFlagsIn[] = {kFlagFixed1, kFlagFixed1 | kFlagsArith};

class NativeOracle : public ::testing::Test {
 protected:
  // Runs `insn` natively and on the engine from the same state; compares.
  void check(const std::string& name, const std::vector<uint8_t>& insn, Regs in) {
    Regs native = in;
    native_.run(insn, &native);
    g_.enter(GuestMode::kLong64);
    std::vector<uint8_t> code = insn;
    code.push_back(0xf4);
    g_.load(code);
    g_.r(kRax) = in.rax;
    g_.r(kRcx) = in.rcx;
    g_.r(kRdx) = in.rdx;
    g_.r(kRbx) = in.rbx;
    g_.s().rflags = in.flags;
    g_.cpu().state_changed();
    Stop st = g_.run();
    ASSERT_EQ(st, Stop::kHlt) << name;
    const uint64_t fm = kFlagsArith | kFlagDF;
    bool same = g_.r(kRax) == native.rax && g_.r(kRcx) == native.rcx && g_.r(kRdx) == native.rdx &&
                g_.r(kRbx) == native.rbx && (g_.s().rflags & fm) == (native.flags & fm);
    if (!same && ++failures_ <= 20) {
      ADD_FAILURE() << name << " rax=" << std::hex << in.rax << " rcx=" << in.rcx << " rdx=" << in.rdx
                    << " flags=" << in.flags << "\n  native: rax=" << native.rax << " rcx=" << native.rcx
                    << " rdx=" << native.rdx << " flags=" << (native.flags & fm) << "\n  engine: rax=" << g_.r(kRax)
                    << " rcx=" << g_.r(kRcx) << " rdx=" << g_.r(kRdx) << " flags=" << (g_.s().rflags & fm);
    }
    ++cases_;
  }
  // Prefix bytes selecting an operand width for the Ev,Gv forms.
  static std::vector<uint8_t> form(unsigned w, uint8_t byte_op, std::vector<uint8_t> rest) {
    std::vector<uint8_t> v;
    if (w == 2) v.push_back(0x66);
    if (w == 8) v.push_back(0x48);
    v.push_back(w == 1 ? byte_op : static_cast<uint8_t>(byte_op + 1));
    v.insert(v.end(), rest.begin(), rest.end());
    return v;
  }
  void sweep2(const std::string& name, const std::vector<uint8_t>& insn) {
    for (uint64_t a : kValues)
      for (uint64_t b : kValues)
        for (uint64_t f : kFlagsIn) check(name, insn, Regs{a, b, 0x5555, 0, f});
  }

  void SetUp() override {
    if (!native_.ok()) GTEST_SKIP() << "cannot map executable memory for the native oracle";
  }

  NativeRunner native_;
  Guest g_;
  int failures_ = 0;
  int cases_ = 0;
};

const unsigned kWidths[] = {1, 2, 4, 8};

TEST_F(NativeOracle, AluRegRegMatchesHostCpu) {
  const char* names[] = {"add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"};
  for (unsigned op = 0; op < 8; ++op)
    for (unsigned w : kWidths)
      sweep2(std::string(names[op]) + std::to_string(w), form(w, static_cast<uint8_t>(op * 8), {0xc8}));
  for (unsigned w : kWidths) sweep2("test" + std::to_string(w), form(w, 0x84, {0xc8}));
  EXPECT_GT(cases_, 5000);
}

TEST_F(NativeOracle, AluImmediateFormsMatchHostCpu) {
  for (unsigned op = 0; op < 8; ++op) {
    uint8_t modrm = static_cast<uint8_t>(0xc0 | (op << 3));
    sweep2("grp1-83/" + std::to_string(op), {0x48, 0x83, modrm, 0x80});
    sweep2("grp1-81/" + std::to_string(op), {0x81, modrm, 0x01, 0x80, 0xff, 0x7f});
    sweep2("grp1-80/" + std::to_string(op), {0x80, modrm, 0x7f});
    sweep2("alu-eAX-Iz/" + std::to_string(op), {0x66, static_cast<uint8_t>(op * 8 + 5), 0x00, 0x80});
  }
}

TEST_F(NativeOracle, UnaryFamilyMatchesHostCpu) {
  // inc, dec (fe/ff /0 /1), not, neg (f6/f7 /2 /3) on rax.
  for (unsigned w : kWidths) {
    sweep2("inc" + std::to_string(w), form(w, 0xfe, {0xc0}));
    sweep2("dec" + std::to_string(w), form(w, 0xfe, {0xc8}));
    sweep2("not" + std::to_string(w), form(w, 0xf6, {0xd0}));
    sweep2("neg" + std::to_string(w), form(w, 0xf6, {0xd8}));
  }
}

TEST_F(NativeOracle, ShiftsAndRotatesMatchHostCpu) {
  const char* names[] = {"rol", "ror", "rcl", "rcr", "shl", "shr", "sal", "sar"};
  for (unsigned op = 0; op < 8; ++op) {
    uint8_t modrm = static_cast<uint8_t>(0xc0 | (op << 3));
    for (unsigned w : kWidths) {
      std::string n = std::string(names[op]) + std::to_string(w);
      for (uint64_t a : kValues)
        for (uint64_t c : kCounts)
          for (uint64_t f : kFlagsIn) {
            check(n + ",cl", form(w, 0xd2, {modrm}), Regs{a, c, 0, 0, f});
            check(n + ",1", form(w, 0xd0, {modrm}), Regs{a, c, 0, 0, f});
          }
      for (uint64_t a : kValues)
        for (uint64_t c : kCounts)
          for (uint64_t f : kFlagsIn)
            check(n + ",imm", form(w, 0xc0, {modrm, static_cast<uint8_t>(c)}), Regs{a, 0, 0, 0, f});
    }
  }
}

TEST_F(NativeOracle, MultiplyAndDivideMatchHostCpu) {
  for (unsigned w : kWidths) {
    std::string n = std::to_string(w);
    sweep2("mul" + n, form(w, 0xf6, {0xe1}));
    sweep2("imul1-" + n, form(w, 0xf6, {0xe9}));
    if (w > 1) {
      std::vector<uint8_t> pfx = w == 2 ? std::vector<uint8_t>{0x66} : w == 8 ? std::vector<uint8_t>{0x48}
                                                                              : std::vector<uint8_t>{};
      auto with = [&](std::vector<uint8_t> v) {
        v.insert(v.begin(), pfx.begin(), pfx.end());
        return v;
      };
      sweep2("imul2-" + n, with({0x0f, 0xaf, 0xc1}));
      sweep2("imul3b-" + n, with({0x6b, 0xc1, 0xf9}));
      if (w == 2) sweep2("imul3z-" + n, with({0x69, 0xc1, 0x34, 0x92}));
      else sweep2("imul3z-" + n, with({0x69, 0xc1, 0x34, 0x12, 0x00, 0x80}));
    }
    // DIV/IDIV: only operands that do not raise #DE natively.
    for (uint64_t a : kValues)
      for (uint64_t d : kValues)
        for (uint64_t hi : {0ull, 1ull, ~0ull}) {
          unsigned bits = 8 * w;
          uint64_t m = w == 8 ? ~0ull : (1ull << bits) - 1;
          uint64_t dd = d & m;
          if (dd == 0) continue;
          unsigned __int128 num = w == 1 ? (a & 0xffff) : ((static_cast<unsigned __int128>(hi & m) << bits) | (a & m));
          if ((num / dd) >> bits) continue;
          check("div" + n, form(w, 0xf6, {0xf1}), Regs{a, d, hi, 0, kFlagFixed1});
          // Signed: sign-extend and check the range.
          auto sx = [&](unsigned __int128 v, unsigned b) {
            unsigned sh = 128 - b;
            return static_cast<__int128>(v << sh) >> sh;
          };
          __int128 sn = sx(num, w == 1 ? 16 : 2 * bits), sd = sx(dd, bits);
          __int128 q = sn / sd;
          __int128 lim = static_cast<__int128>(1) << (bits - 1);
          if (q >= lim || q < -lim) continue;
          check("idiv" + n, form(w, 0xf6, {0xf9}), Regs{a, d, hi, 0, kFlagFixed1 | kFlagsArith});
        }
  }
}

TEST_F(NativeOracle, FlagAndConversionInstructionsMatchHostCpu) {
  for (uint64_t a : kValues)
    for (uint64_t f : kFlagsIn) {
      check("sahf", {0x9e}, Regs{a, 0, 0, 0, f});
      check("lahf", {0x9f}, Regs{a, 0, 0, 0, f});
      check("cmc", {0xf5}, Regs{a, 0, 0, 0, f});
      check("cbw", {0x66, 0x98}, Regs{a, 0, 0, 0, f});
      check("cwde", {0x98}, Regs{a, 0, 0, 0, f});
      check("cdqe", {0x48, 0x98}, Regs{a, 0, 0, 0, f});
      check("cwd", {0x66, 0x99}, Regs{a, 0, 0, 0, f});
      check("cdq", {0x99}, Regs{a, 0, 0, 0, f});
      check("cqo", {0x48, 0x99}, Regs{a, 0, 0, 0, f});
      check("movzx", {0x0f, 0xb6, 0xc4}, Regs{a, 0, 0, 0, f});   // movzx eax, ah
      check("movsx", {0x48, 0x0f, 0xbf, 0xc1}, Regs{a, a >> 3, 0, 0, f});
      check("movsxd", {0x48, 0x63, 0xc1}, Regs{a, a * 3, 0, 0, f});
      check("xchg", {0x86, 0xe1}, Regs{a, ~a, 0, 0, f});         // xchg cl, ah
    }
  // SETcc / CMOVcc over all conditions and flag combinations.
  for (unsigned cc = 0; cc < 16; ++cc)
    for (uint64_t f = 0; f < 0x1000; f += 0x41)
      for (uint64_t a : {0ull, 1ull}) {
        uint64_t flags = kFlagFixed1 | (f & kFlagsArith);
        check("setcc" + std::to_string(cc), {0x0f, static_cast<uint8_t>(0x90 + cc), 0xc0}, Regs{a, 7, 0, 0, flags});
        check("cmovcc" + std::to_string(cc), {0x0f, static_cast<uint8_t>(0x40 + cc), 0xc1},
              Regs{0xffffffffffffffffull, 7, 0, 0, flags});
      }
}


TEST_F(NativeOracle, BitScanTestAndExchangeFamiliesMatchHostCpu) {
  for (unsigned w : {2u, 4u, 8u}) {
    std::vector<uint8_t> pfx = w == 2 ? std::vector<uint8_t>{0x66} : w == 8 ? std::vector<uint8_t>{0x48}
                                                                            : std::vector<uint8_t>{};
    auto with = [&](std::vector<uint8_t> v) {
      v.insert(v.begin(), pfx.begin(), pfx.end());
      return v;
    };
    std::string n = std::to_string(w);
    sweep2("bt" + n, with({0x0f, 0xa3, 0xc8}));
    sweep2("bts" + n, with({0x0f, 0xab, 0xc8}));
    sweep2("btr" + n, with({0x0f, 0xb3, 0xc8}));
    sweep2("btc" + n, with({0x0f, 0xbb, 0xc8}));
    sweep2("bt-imm" + n, with({0x0f, 0xba, 0xe0, 0x25}));
    sweep2("btc-imm" + n, with({0x0f, 0xba, 0xf8, 0x03}));
    sweep2("bsf" + n, with({0x0f, 0xbc, 0xc1}));
    sweep2("bsr" + n, with({0x0f, 0xbd, 0xc1}));
    sweep2("cmpxchg" + n, with({0x0f, 0xb1, 0xca}));   // cmpxchg edx, ecx
    sweep2("xadd" + n, with({0x0f, 0xc1, 0xc8}));      // xadd eax, ecx
    if (w != 2) sweep2("bswap" + n, with({0x0f, 0xc8}));
  }
  sweep2("cmpxchg1", {0x0f, 0xb0, 0xca});
  sweep2("xadd1", {0x0f, 0xc0, 0xc8});
  // cmpxchg with equal operands: rdx = rax
  for (uint64_t a : kValues) check("cmpxchg-eq", {0x0f, 0xb1, 0xca}, Regs{a, 0x77, a, 0, kFlagFixed1});
}

}  // namespace
}  // namespace skvm::cpu::testing
