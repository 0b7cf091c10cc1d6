// Far CALL / JMP through call gates (SDM Vol. 2A CALL, JMP; Vol. 3A 5.8):
// CPL 3 -> 0 with the TSS stack and parameter copy, RETF imm16 back, the
// same-privilege form, and the privilege checks (#GP with the selector).
#include <gtest/gtest.h>

#include "exec_harness.h"

namespace skvm::cpu::testing {
namespace {

constexpr uint64_t kGdt = 0x4000, kTss = 0x5000, kIdt = 0x6000;
constexpr uint64_t kGate = 0x3000, kGpHandler = 0x3800;
constexpr uint64_t kRing0Stack = 0xa000;

uint64_t code_desc(unsigned dpl, bool conforming) {
  return 0x00cf9a000000ffffull | (uint64_t{dpl} << 45) | (conforming ? (1ull << 42) : 0);
}
uint64_t data_desc(unsigned dpl) { return 0x00cf92000000ffffull | (uint64_t{dpl} << 45); }
uint64_t call_gate(uint16_t sel, uint32_t off, unsigned dpl, unsigned params, bool gate32 = true) {
  return (off & 0xffff) | (uint64_t{sel} << 16) | (uint64_t{params} << 32) |
         (uint64_t{gate32 ? 0xcu : 0x4u} << 40) | (uint64_t{dpl} << 45) | (1ull << 47) |
         (uint64_t{off >> 16} << 48);
}

Segment flat(uint16_t sel, uint8_t type, unsigned dpl) {
  Segment s;
  s.selector = sel;
  s.type = type;
  s.dpl = static_cast<uint8_t>(dpl);
  s.db = 1;
  s.g = 1;
  s.limit = 0xffffffff;
  return s;
}

// 32-bit protected mode. GDT: 0x08 ring-0 code, 0x10 ring-0 data, 0x18
// TSS (ESP0 = kRing0Stack, SS0 = 0x10), 0x20 32-bit call gate (DPL 3, two
// parameters) -> 0x08:kGate, 0x28 ring-3 code, 0x30 ring-3 data, 0x38 call
// gate with DPL 0, 0x40 16-bit call gate (DPL 3, one parameter). IDT: #GP
// -> 0x08:kGpHandler (`hlt`). The guest starts at CPL `cpl` with IOPL 3.
void setup(Guest& g, unsigned cpl, const std::vector<uint8_t>& code, const std::vector<uint8_t>& gate_code) {
  const uint64_t gdt[9] = {0,
                           code_desc(0, false),
                           data_desc(0),
                           0x0000890050000067ull,
                           call_gate(0x08, kGate, 3, 2),
                           code_desc(3, false),
                           data_desc(3),
                           call_gate(0x08, kGate, 0, 0),
                           call_gate(0x08, kGate, 3, 1, false)};
  for (unsigned k = 0; k < 9; ++k) g.bus().poke<uint64_t>(kGdt + 8 * k, gdt[k]);
  g.s().gdt = {kGdt, sizeof gdt - 1};
  g.bus().poke<uint32_t>(kTss + 4, kRing0Stack);
  g.bus().poke<uint32_t>(kTss + 8, 0x10);
  Segment tr;
  tr.base = kTss;
  tr.limit = 0x67;
  tr.selector = 0x18;
  tr.type = 0xb;
  tr.s = 0;
  g.s().tr = tr;
  const uint64_t gp = (kGpHandler & 0xffff) | (uint64_t{0x08} << 16) | (uint64_t{0x8e} << 40);
  g.bus().poke<uint64_t>(kIdt + 13 * 8, gp);
  g.s().idt = {kIdt, 0xff};
  g.load({0xf4}, kGpHandler);
  g.load(gate_code, kGate);
  g.load(code);
  if (cpl == 3) {
    g.s().seg[kCs] = flat(0x2b, 0xb, 3);
    for (SegReg r : {kSs, kDs, kEs, kFs, kGs}) g.s().seg[r] = flat(0x33, 3, 3);
  }
  g.s().rflags |= kFlagIOPL;
  g.cpu().state_changed();
}

// push 0x11111111 ; push 0x22222222 ; call 0x20:0
const std::vector<uint8_t> kCallWithTwoParams = {0x68, 0x11, 0x11, 0x11, 0x11, 0x68, 0x22, 0x22, 0x22,
                                                 0x22, 0x9a, 0, 0, 0, 0, 0x20, 0};

TEST(CallGate, CallFromCpl3SwitchesToTheTssStackAndCopiesParameters) {
  Guest g(GuestMode::kProt32);
  setup(g, 3, kCallWithTwoParams, {0xf4});
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.s().rip, kGate + 1);
  EXPECT_EQ(g.s().seg[kCs].selector, 0x08);
  EXPECT_EQ(g.s().seg[kSs].selector, 0x10);
  ASSERT_EQ(g.r(kRsp), kRing0Stack - 24);
  const uint64_t f = kRing0Stack - 24;
  EXPECT_EQ(g.bus().peek<uint32_t>(f + 0), Guest::kCode + 17);  // return EIP
  EXPECT_EQ(g.bus().peek<uint32_t>(f + 4), 0x2bu);
  EXPECT_EQ(g.bus().peek<uint32_t>(f + 8), 0x22222222u);   // parameter 0: the caller's [ESP]
  EXPECT_EQ(g.bus().peek<uint32_t>(f + 12), 0x11111111u);  // parameter 1
  EXPECT_EQ(g.bus().peek<uint32_t>(f + 16), 0x8000u - 8);  // caller's ESP
  EXPECT_EQ(g.bus().peek<uint32_t>(f + 20), 0x33u);        // caller's SS
}

TEST(CallGate, RetfImm16ReturnsToCpl3AndReleasesTheParameters) {
  Guest g(GuestMode::kProt32);
  std::vector<uint8_t> code = kCallWithTwoParams;
  code.insert(code.end(), {0xe6, 0x80});  // out 0x80, al (IOPL 3): an I/O exit
  setup(g, 3, code, {0xb8, 0x77, 0, 0, 0, 0xca, 0x08, 0x00});  // mov eax, 0x77 ; retf 8
  ASSERT_EQ(g.run(), Stop::kIo);
  EXPECT_EQ(g.s().rip, Guest::kCode + 17);
  EXPECT_EQ(g.r(kRax), 0x77u);
  EXPECT_EQ(g.s().seg[kCs].selector, 0x2b);
  EXPECT_EQ(g.s().seg[kSs].selector, 0x33);
  EXPECT_EQ(g.r(kRsp), 0x8000u);  // the two parameters released
}

TEST(CallGate, SamePrivilegeCallPushesOnlyCsAndEip) {
  Guest g(GuestMode::kProt32);
  setup(g, 0, {0x9a, 0, 0, 0, 0, 0x20, 0}, {0xf4});
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.s().rip, kGate + 1);
  EXPECT_EQ(g.s().seg[kSs].selector, 0x10);
  ASSERT_EQ(g.r(kRsp), 0x8000u - 8);
  EXPECT_EQ(g.bus().peek<uint32_t>(0x8000 - 8), Guest::kCode + 7);
  EXPECT_EQ(g.bus().peek<uint32_t>(0x8000 - 4), 0x08u);
}

TEST(CallGate, SixteenBitGatePushesWordsAndCopiesOneWordParameter) {
  Guest g(GuestMode::kProt32);
  // push word 0x1234 (66 68 imm16) ; call 0x40:0
  setup(g, 3, {0x66, 0x68, 0x34, 0x12, 0x9a, 0, 0, 0, 0, 0x40, 0}, {0xf4});
  ASSERT_EQ(g.run(), Stop::kHlt);
  ASSERT_EQ(g.r(kRsp), kRing0Stack - 10);
  const uint64_t f = kRing0Stack - 10;
  EXPECT_EQ(g.bus().peek<uint16_t>(f + 0), Guest::kCode + 11);
  EXPECT_EQ(g.bus().peek<uint16_t>(f + 2), 0x2bu);
  EXPECT_EQ(g.bus().peek<uint16_t>(f + 4), 0x1234u);
  EXPECT_EQ(g.bus().peek<uint16_t>(f + 6), 0x8000u - 2);
  EXPECT_EQ(g.bus().peek<uint16_t>(f + 8), 0x33u);
}

TEST(CallGate, GateDplBelowCplIsGpWithTheGateSelector) {
  Guest g(GuestMode::kProt32);
  setup(g, 3, {0x9a, 0, 0, 0, 0, 0x38, 0}, {0xf4});
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.s().rip, kGpHandler + 1);
  EXPECT_EQ(g.bus().peek<uint32_t>(kRing0Stack - 24), 0x38u);  // error code
  EXPECT_EQ(g.bus().peek<uint32_t>(kRing0Stack - 20), Guest::kCode);  // fault: the CALL
}

TEST(CallGate, JmpThroughAGateCannotRaisePrivilege) {
  Guest g(GuestMode::kProt32);
  setup(g, 3, {0xea, 0, 0, 0, 0, 0x20, 0}, {0xf4});  // jmp 0x20:0
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.s().rip, kGpHandler + 1);
  EXPECT_EQ(g.bus().peek<uint32_t>(kRing0Stack - 24), 0x08u);  // #GP(target code selector)
}

// IA-32e mode: 16-byte gates, the new RSP from TSS.RSPn, SS = NULL with
// RPL = new CPL, four 8-byte pushes and no parameter copy.
TEST(CallGate, SixtyFourBitGateFromCpl3PushesSsRspCsRip) {
  Guest g(GuestMode::kLong64);
  // The harness's identity map, made user-accessible for the CPL 3 caller.
  g.bus().poke<uint64_t>(Guest::kPml4, (Guest::kPml4 + 0x1000) | 7);
  g.bus().poke<uint64_t>(Guest::kPml4 + 0x1000, (Guest::kPml4 + 0x2000) | 7);
  g.bus().poke<uint64_t>(Guest::kPml4 + 0x2000, 0x87);
  const uint64_t gdt[10] = {0,
                            0x00209a0000000000ull,  // 0x08 64-bit code, DPL 0
                            0x00cf92000000ffffull,  // 0x10 data, DPL 0
                            0x0000890050000067ull,  // 0x18 64-bit TSS (low)
                            0,                      //      (high)
                            call_gate(0x08, kGate, 3, 0),  // 0x28 64-bit call gate (low)
                            0,                             //      (high: offset 63:32 = 0)
                            0x0020fa0000000000ull,  // 0x38 64-bit code, DPL 3
                            0x00cff2000000ffffull,  // 0x40 data, DPL 3
                            0};
  for (unsigned k = 0; k < 10; ++k) g.bus().poke<uint64_t>(kGdt + 8 * k, gdt[k]);
  g.s().gdt = {kGdt, sizeof gdt - 1};
  g.bus().poke<uint64_t>(kTss + 4, kRing0Stack);  // RSP0
  Segment tr;
  tr.base = kTss;
  tr.limit = 0x67;
  tr.selector = 0x18;
  tr.type = 0xb;
  tr.s = 0;
  g.s().tr = tr;
  Segment cs;
  cs.selector = 0x3b;
  cs.type = 0xb;
  cs.dpl = 3;
  cs.l = 1;
  g.s().seg[kCs] = cs;
  g.s().seg[kSs] = flat(0x43, 3, 3);
  g.bus().poke<uint32_t>(0x2000, 0);
  g.bus().poke<uint16_t>(0x2004, 0x28);
  g.load({0xf4}, kGate);
  g.load({0xff, 0x1c, 0x25, 0x00, 0x20, 0x00, 0x00});  // call far [0x2000] (m16:32)
  g.cpu().state_changed();
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.s().rip, kGate + 1);
  EXPECT_EQ(g.s().seg[kCs].selector, 0x08);
  EXPECT_EQ(g.s().seg[kSs].selector, 0);
  ASSERT_EQ(g.r(kRsp), kRing0Stack - 32);
  EXPECT_EQ(g.bus().peek<uint64_t>(kRing0Stack - 32), Guest::kCode + 7);
  EXPECT_EQ(g.bus().peek<uint64_t>(kRing0Stack - 24), 0x3bu);
  EXPECT_EQ(g.bus().peek<uint64_t>(kRing0Stack - 16), 0x8000u);
  EXPECT_EQ(g.bus().peek<uint64_t>(kRing0Stack - 8), 0x43u);
}

TEST(CallGate, StepAndRunAgree) {
  Guest a(GuestMode::kProt32), b(GuestMode::kProt32);
  std::vector<uint8_t> code = kCallWithTwoParams;
  code.insert(code.end(), {0xe6, 0x80});
  const std::vector<uint8_t> gate = {0xb8, 0x77, 0, 0, 0, 0xca, 0x08, 0x00};
  setup(a, 3, code, gate);
  setup(b, 3, code, gate);
  ASSERT_EQ(a.run(), Stop::kIo);
  ASSERT_EQ(b.run_stepping(), Stop::kIo);
  EXPECT_EQ(a.s().rip, b.s().rip);
  EXPECT_EQ(a.r(kRsp), b.r(kRsp));
  EXPECT_EQ(a.s().seg[kCs].selector, b.s().seg[kCs].selector);
}

}  // namespace
}  // namespace skvm::cpu::testing
