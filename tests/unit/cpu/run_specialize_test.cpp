// The run loop's block-build time specialization (exec/specialize.h,
// exec/dispatch.cpp exec::specialize) and its plain fast path
// (exec/engine.cpp): a Jcc right after a flag-producing record of the same
// block (CMP/SUB/AND/OR/XOR/TEST/INC/DEC, every width, every condition
// code) must branch exactly as the generic condition evaluation does. The
// oracle is the same code single-stepped (each Jcc is then the first record
// of its block and takes the generic path) and a reference model of the
// SDM's flag definitions; kicks must stop a chained loop at a block end.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <vector>

#include "exec_harness.h"

namespace skvm::cpu::testing {
namespace {

enum class Op { kCmp, kSub, kAnd, kOr, kXor, kTest, kDec, kInc };

// Encodes `op rax, rbx` (or `dec/inc rax`) at operand width w (1, 2, 4, 8).
std::vector<uint8_t> encode(Op op, unsigned w) {
  std::vector<uint8_t> v;
  if (w == 2) v.push_back(0x66);
  if (w == 8) v.push_back(0x48);
  const uint8_t b = w == 1 ? 0 : 1;  // byte form: opcode - 1
  switch (op) {
    case Op::kCmp: v.insert(v.end(), {static_cast<uint8_t>(0x38 + b), 0xd8}); break;
    case Op::kSub: v.insert(v.end(), {static_cast<uint8_t>(0x28 + b), 0xd8}); break;
    case Op::kAnd: v.insert(v.end(), {static_cast<uint8_t>(0x20 + b), 0xd8}); break;
    case Op::kOr: v.insert(v.end(), {static_cast<uint8_t>(0x08 + b), 0xd8}); break;
    case Op::kXor: v.insert(v.end(), {static_cast<uint8_t>(0x30 + b), 0xd8}); break;
    case Op::kTest: v.insert(v.end(), {static_cast<uint8_t>(0x84 + b), 0xd8}); break;
    case Op::kDec: v.insert(v.end(), {static_cast<uint8_t>(0xfe + b), 0xc8}); break;
    case Op::kInc: v.insert(v.end(), {static_cast<uint8_t>(0xfe + b), 0xc0}); break;
  }
  return v;
}

// SDM Vol. 1 3.4.3.1 / Appendix B: the condition from the flags the
// operation defines (INC/DEC keep CF = cf_in).
bool reference(Op op, unsigned w, uint64_t a, uint64_t b, bool cf_in, unsigned cc) {
  const unsigned top = 8 * w - 1;
  const uint64_t m = w == 8 ? ~0ull : (1ull << (8 * w)) - 1;
  a &= m;
  b &= m;
  uint64_t r = 0;
  bool cf = false, of = false;
  switch (op) {
    case Op::kCmp:
    case Op::kSub:
      r = (a - b) & m;
      cf = a < b;
      of = (((a ^ b) & (a ^ r)) >> top) & 1;
      break;
    case Op::kAnd:
    case Op::kTest: r = a & b; break;
    case Op::kOr: r = a | b; break;
    case Op::kXor: r = a ^ b; break;
    case Op::kDec:
      r = (a - 1) & m;
      cf = cf_in;
      of = a == (1ull << top);
      break;
    case Op::kInc:
      r = (a + 1) & m;
      cf = cf_in;
      of = a == (1ull << top) - 1;
      break;
  }
  const bool zf = r == 0, sf = (r >> top) & 1, pf = !__builtin_parity(static_cast<unsigned>(r & 0xff));
  bool v = false;
  switch (cc >> 1) {
    case 0: v = of; break;
    case 1: v = cf; break;
    case 2: v = zf; break;
    case 3: v = cf || zf; break;
    case 4: v = sf; break;
    case 5: v = pf; break;
    case 6: v = sf != of; break;
    default: v = zf || (sf != of); break;
  }
  return (cc & 1) ? !v : v;
}

// mov rax, a ; mov rbx, b ; stc/clc ; xor edx, edx would clobber flags, so
// rdx is cleared by the host; then: op ; jcc +2 ; mov dl, 1 ; hlt.
// DL = 1 when the branch was not taken.
std::vector<uint8_t> program(Op op, unsigned w, uint64_t a, uint64_t b, bool cf_in, unsigned cc) {
  std::vector<uint8_t> code = {0x48, 0xb8};
  for (int k = 0; k < 8; ++k) code.push_back(static_cast<uint8_t>(a >> (8 * k)));
  code.insert(code.end(), {0x48, 0xbb});
  for (int k = 0; k < 8; ++k) code.push_back(static_cast<uint8_t>(b >> (8 * k)));
  code.push_back(cf_in ? 0xf9 : 0xf8);
  const std::vector<uint8_t> o = encode(op, w);
  code.insert(code.end(), o.begin(), o.end());
  code.insert(code.end(), {static_cast<uint8_t>(0x70 + cc), 0x02, 0xb2, 0x01, 0xf4});
  return code;
}

bool taken(Guest& g, const std::vector<uint8_t>& code, bool stepping) {
  g.enter(GuestMode::kLong64);
  g.load(code);
  g.r(kRdx) = 0;
  const Stop st = stepping ? g.run_stepping() : g.run();
  EXPECT_EQ(st, Stop::kHlt);
  return (g.r(kRdx) & 0xff) == 0;
}

TEST(RunSpecialize, JccAfterFlagProducerBranchesAsTheGenericConditionInBlocksAndSteps) {
  Guest g(GuestMode::kLong64);
  const uint64_t values[] = {0, 1, 0x7f, 0x80, 0xff, 0x8000, 0x7fffffff, 0x80000000,
                             0xffffffffull, 0x8000000000000000ull, ~0ull, 0x123456789abcdef1ull};
  const Op ops[] = {Op::kCmp, Op::kSub, Op::kAnd, Op::kOr, Op::kXor, Op::kTest, Op::kDec, Op::kInc};
  unsigned checked = 0, taken_count = 0;
  for (Op op : ops) {
    for (unsigned w : {1u, 2u, 4u, 8u}) {
      for (uint64_t a : values) {
        for (uint64_t b : values) {
          if ((op == Op::kDec || op == Op::kInc) && b != values[0] && b != values[1]) continue;
          const bool cf_in = (op == Op::kDec || op == Op::kInc) && b == 1;
          for (unsigned cc = 0; cc < 16; ++cc) {
            const std::vector<uint8_t> code = program(op, w, a, b, cf_in, cc);
            const bool want = reference(op, w, a, b, cf_in, cc);
            ASSERT_EQ(taken(g, code, false), want)
                << "block: op " << static_cast<int>(op) << " w " << w << " a " << a << " b " << b << " cc " << cc;
            ASSERT_EQ(taken(g, code, true), want)
                << "step: op " << static_cast<int>(op) << " w " << w << " a " << a << " b " << b << " cc " << cc;
            ++checked;
            taken_count += want;
          }
        }
      }
    }
  }
  EXPECT_GT(checked, 10000u);
  EXPECT_GT(taken_count, checked / 4);
  EXPECT_LT(taken_count, 3 * checked / 4);
}

TEST(RunSpecialize, CountedDecLoopKeepsCarryFromBeforeTheLoop) {
  // stc ; L: dec ecx ; jnz L ; setc al ; hlt
  const std::vector<uint8_t> code = {0xf9, 0xff, 0xc9, 0x75, 0xfc, 0x0f, 0x92, 0xc0, 0xf4};
  for (bool stepping : {false, true}) {
    Guest g(GuestMode::kLong64);
    g.load(code);
    g.r(kRcx) = 1000;
    g.r(kRax) = 0;
    ASSERT_EQ(stepping ? g.run_stepping() : g.run(), Stop::kHlt);
    EXPECT_EQ(g.r(kRcx), 0u);
    EXPECT_EQ(g.r(kRax) & 0xff, 1u) << "stepping " << stepping;
    EXPECT_TRUE(g.s().rflags & kFlagCF);
  }
}

TEST(RunSpecialize, Jcc16BitCodeWrapsIpAfterASpecializedCompare) {
  // Real mode, CS = 0x100 (base 0x1000), IP 0: cmp ax, bx ; je $-0x10
  // jumps to IP 0xfff2 (16-bit wrap), where a hlt waits.
  Guest g(GuestMode::kReal);
  g.load({0x39, 0xd8, 0x74, 0xee, 0xf4});
  g.bus().poke<uint8_t>(Guest::kCode + 0xfff2, 0xf4);
  g.cpu().host_may_have_written_memory();
  g.s().seg[kCs].selector = 0x100;
  g.s().seg[kCs].base = Guest::kCode;
  g.s().rip = 0;
  g.r(kRax) = 5;
  g.r(kRbx) = 5;
  g.cpu().state_changed();
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.s().rip, 0xfff3u);
}

TEST(RunSpecialize, PopfSettingTfInAChainedLoopTrapsAfterTheNextInstruction) {
  // Real mode; IVT vector 1 -> 0000:2001 (hlt). The loop's first pass pops
  // FLAGS without TF and links POPF's block to the next one; the second
  // pass pops TF, so the chained successor must take the debug path: the
  // trap comes after the NOP (SDM Vol. 3B 17.3.1.4).
  //   L: push bx ; popf ; nop ; dec cx ; mov bx, 0x0102 ; jnz L ; hlt
  for (bool stepping : {false, true}) {
    Guest g(GuestMode::kReal);
    g.bus().poke<uint16_t>(4, 0x2001);
    g.bus().poke<uint16_t>(6, 0);
    g.load({0xf4, 0xf4}, 0x2000);
    g.load({0x53, 0x9d, 0x90, 0x49, 0xbb, 0x02, 0x01, 0x75, 0xf7, 0xf4});
    g.r(kRbx) = 0x0002;
    g.r(kRcx) = 2;
    g.r(kRsp) = 0x8000;
    ASSERT_EQ(stepping ? g.run_stepping() : g.run(), Stop::kHlt);
    EXPECT_EQ(g.s().rip, 0x2002u) << "stepping " << stepping;
    EXPECT_EQ(g.bus().peek<uint16_t>(0x8000 - 6), Guest::kCode + 3);  // stacked IP: after the NOP
    EXPECT_EQ(g.r(kRcx) & 0xffff, 1u);
  }
}

// A bus whose port 0x80 is handled in the engine and raises the kick on the
// third write, as a signal handler would in the middle of a block.
class KickBus : public FakeBus {
 public:
  std::atomic<int> kick{0};
  int outs = 0;
  bool pio_out(uint16_t port, unsigned, const void*) override {
    if (port != 0x80) return false;
    if (++outs == 3) kick.store(1);
    return true;
  }
};

TEST(RunSpecialize, KickRaisedInsideAChainedLoopStopsAtTheNextBlockEnd) {
  KickBus bus;
  Cpu cpu(bus);
  CpuState& s = cpu.state();
  // Flat 64-bit mode with 2 MiB identity pages (as exec_harness.h).
  const uint64_t pml4 = 0x100000;
  bus.poke<uint64_t>(pml4, (pml4 + 0x1000) | 3);
  bus.poke<uint64_t>(pml4 + 0x1000, (pml4 + 0x2000) | 3);
  bus.poke<uint64_t>(pml4 + 0x2000, 0x83);
  for (auto& seg : s.seg) {
    seg = Segment{};
    seg.limit = 0xffffffff;
    seg.g = 1;
    seg.db = 1;
    seg.type = 3;
    seg.s = 1;
    seg.present = 1;
  }
  s.seg[kCs].type = 0xb;
  s.seg[kCs].l = 1;
  s.seg[kCs].db = 0;
  s.cr3 = pml4;
  s.cr4 = kCr4PAE;
  s.efer = kEferLME | kEferLMA;
  s.cr0 = kCr0PE | kCr0ET | kCr0PG;
  s.rip = 0x1000;
  s.gpr[kRsp] = 0x8000;
  cpu.state_changed();
  // L: out 0x80, al ; jmp L
  bus.load(0x1000, {0xe6, 0x80, 0xeb, 0xfc});
  cpu.host_may_have_written_memory();
  ASSERT_EQ(cpu.run(&bus.kick), Stop::kKick);
  EXPECT_EQ(bus.outs, 3);
  // Between instructions of the loop: at the OUT or at the JMP.
  EXPECT_TRUE(s.rip == 0x1000 || s.rip == 0x1002) << s.rip;
}

}  // namespace
}  // namespace skvm::cpu::testing
