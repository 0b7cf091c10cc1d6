// Virtual-8086 mode (SDM Vol. 3B chapter 20): IRETD from CPL 0 into it
// (SDM Vol. 2A IRET, RETURN-TO-VIRTUAL-8086-MODE), interrupts and
// exceptions out of it through a 32-bit IDT with the ring-0 stack from the
// TSS (GS, FS, DS, ES pushed, then cleared), and the IOPL-sensitive
// instructions (#GP(0) when IOPL < 3; CR4.VME is never advertised).
#include <gtest/gtest.h>

#include "exec_harness.h"

namespace skvm::cpu::testing {
namespace {

constexpr uint64_t kGdt = 0x4000, kTss = 0x5000, kIdt = 0x6000, kHandler = 0x3000;
constexpr uint64_t kV86Code = 0x7000;  // CS = 0x0700, IP = 0
constexpr uint64_t kRing0Stack = 0xa000;
constexpr uint64_t kFrame = 0x8000 - 36;  // the IRETD frame the test builds

void gate(Guest& g, uint8_t vector, uint8_t access) {
  const uint64_t raw = (kHandler & 0xffff) | (uint64_t{0x08} << 16) | (uint64_t{access} << 40) |
                       ((kHandler >> 16) << 48);
  g.bus().poke<uint64_t>(kIdt + vector * 8u, raw);
}

// 32-bit protected mode at CPL 0 with a GDT (code 0x08, data 0x10, TSS
// 0x18), a TSS whose ring-0 stack is 0x10:kRing0Stack and whose I/O map base
// is beyond its limit, an IDT sending #GP and vector 0x21 (DPL 3) to a
// `hlt` at kHandler, and an IRETD frame into virtual-8086 mode at
// 0700:0000 with EFLAGS = `v86_flags`. Runs `code` in virtual-8086 mode.
void enter_v86(Guest& g, uint32_t v86_flags, const std::vector<uint8_t>& code) {
  g.bus().poke<uint64_t>(kGdt + 0x08, 0x00cf9a000000ffffull);
  g.bus().poke<uint64_t>(kGdt + 0x10, 0x00cf92000000ffffull);
  g.bus().poke<uint64_t>(kGdt + 0x18, 0x0000890050000067ull);  // 32-bit TSS at 0x5000
  g.s().gdt = {kGdt, 0x1f};
  g.bus().poke<uint32_t>(kTss + 4, kRing0Stack);
  g.bus().poke<uint32_t>(kTss + 8, 0x10);
  g.bus().poke<uint16_t>(kTss + 0x66, 0x68);
  Segment tr;
  tr.base = kTss;
  tr.limit = 0x67;
  tr.selector = 0x18;
  tr.type = 0xb;
  tr.s = 0;
  g.s().tr = tr;
  gate(g, kGP, 0x8e);
  gate(g, 0x21, 0xee);
  g.s().idt = {kIdt, 0x7ff};
  g.load({0xf4}, kHandler);
  const uint32_t frame[9] = {0, 0x700, v86_flags, 0x1000, 0x800, 0x111, 0x222, 0x333, 0x444};
  for (unsigned k = 0; k < 9; ++k) g.bus().poke<uint32_t>(kFrame + 4 * k, frame[k]);
  g.r(kRsp) = kFrame;
  g.load({0xcf});  // iretd
  g.load(code, kV86Code);
  g.cpu().state_changed();
}

constexpr uint32_t kVm = 1u << 17, kIopl3 = 3u << 12;

TEST(V86, IretdFromCpl0EntersV86AndIntGoesBackThroughTheIdtWithSegmentsPushed) {
  Guest g(GuestMode::kProt32);
  // mov ax, 0x1234 ; int 0x21
  enter_v86(g, kVm | kIopl3 | 2, {0xb8, 0x34, 0x12, 0xcd, 0x21});
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.s().rip, kHandler + 1);
  EXPECT_EQ(g.r(kRax) & 0xffff, 0x1234u);
  EXPECT_EQ(g.s().rflags & kFlagVM, 0u);
  EXPECT_EQ(g.s().seg[kCs].selector, 0x08);
  EXPECT_EQ(g.s().seg[kSs].selector, 0x10);
  EXPECT_EQ(g.s().seg[kDs].selector, 0);
  EXPECT_EQ(g.s().seg[kGs].selector, 0);
  ASSERT_EQ(g.r(kRsp), kRing0Stack - 36);
  const uint64_t f = kRing0Stack - 36;
  EXPECT_EQ(g.bus().peek<uint32_t>(f + 0), 5u);  // EIP after INT 0x21
  EXPECT_EQ(g.bus().peek<uint32_t>(f + 4), 0x700u);
  EXPECT_EQ(g.bus().peek<uint32_t>(f + 8) & (kVm | kIopl3), kVm | kIopl3);
  EXPECT_EQ(g.bus().peek<uint32_t>(f + 12), 0x1000u);  // ESP
  EXPECT_EQ(g.bus().peek<uint32_t>(f + 16), 0x800u);   // SS
  EXPECT_EQ(g.bus().peek<uint32_t>(f + 20), 0x111u);   // ES
  EXPECT_EQ(g.bus().peek<uint32_t>(f + 24), 0x222u);   // DS
  EXPECT_EQ(g.bus().peek<uint32_t>(f + 28), 0x333u);   // FS
  EXPECT_EQ(g.bus().peek<uint32_t>(f + 32), 0x444u);   // GS
}

TEST(V86, SegmentsLoadedByIretdAreVirtual8086Segments) {
  Guest g(GuestMode::kProt32);
  // mov al, [0x10] ; int 0x21  — DS = 0x222: linear 0x2230
  enter_v86(g, kVm | kIopl3 | 2, {0xa0, 0x10, 0x00, 0xcd, 0x21});
  g.bus().poke<uint8_t>(0x2230, 0x5a);
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.r(kRax) & 0xff, 0x5au);
}

// SDM Vol. 3B 20.2.7: CLI, STI, PUSHF, POPF, INT n and IRET are
// IOPL-sensitive in virtual-8086 mode.
class V86Iopl : public ::testing::TestWithParam<std::vector<uint8_t>> {};

TEST_P(V86Iopl, SensitiveInstructionFaultsWithGp0WhenIoplBelow3) {
  Guest g(GuestMode::kProt32);
  enter_v86(g, kVm | 2, GetParam());
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.s().rip, kHandler + 1);
  ASSERT_EQ(g.r(kRsp), kRing0Stack - 40);  // with an error code
  EXPECT_EQ(g.bus().peek<uint32_t>(kRing0Stack - 40), 0u);  // #GP(0)
  EXPECT_EQ(g.bus().peek<uint32_t>(kRing0Stack - 36), 0u);  // EIP: the faulting instruction
}

INSTANTIATE_TEST_SUITE_P(Forms, V86Iopl,
                         ::testing::Values(std::vector<uint8_t>{0xfa}, std::vector<uint8_t>{0xfb},
                                           std::vector<uint8_t>{0x9c}, std::vector<uint8_t>{0x9d},
                                           std::vector<uint8_t>{0xcd, 0x21}, std::vector<uint8_t>{0xcf}));

TEST(V86, IretInsideV86WithIopl3ReturnsLikeRealMode) {
  Guest g(GuestMode::kProt32);
  // push 0x0202 (flags) ; push cs ; push 9 ; iret ; (ip 9:) int 0x21
  enter_v86(g, kVm | kIopl3 | 2, {0x68, 0x02, 0x02, 0x0e, 0x6a, 0x09, 0xcf, 0x90, 0x90, 0xcd, 0x21});
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.s().rip, kHandler + 1);
  EXPECT_EQ(g.bus().peek<uint32_t>(kRing0Stack - 36), 11u);  // returned to IP 9, then INT at 9
  // IRET in V86 keeps VM and IOPL: the pushed EFLAGS still has them.
  EXPECT_EQ(g.bus().peek<uint32_t>(kRing0Stack - 28) & (kVm | kIopl3), kVm | kIopl3);
  EXPECT_TRUE(g.bus().peek<uint32_t>(kRing0Stack - 28) & kFlagIF);
}

TEST(V86, IoWithoutAnIoBitmapFaultsEvenAtIopl3) {
  Guest g(GuestMode::kProt32);
  enter_v86(g, kVm | kIopl3 | 2, {0xe6, 0x80});  // out 0x80, al
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.s().rip, kHandler + 1);
  EXPECT_EQ(g.r(kRsp), kRing0Stack - 40);  // #GP(0)
}

TEST(V86, StepAndRunAgree) {
  Guest a(GuestMode::kProt32), b(GuestMode::kProt32);
  const std::vector<uint8_t> code = {0xb8, 0x34, 0x12, 0x40, 0xcd, 0x21};
  enter_v86(a, kVm | kIopl3 | 2, code);
  enter_v86(b, kVm | kIopl3 | 2, code);
  ASSERT_EQ(a.run(), Stop::kHlt);
  ASSERT_EQ(b.run_stepping(), Stop::kHlt);
  EXPECT_EQ(a.s().rip, b.s().rip);
  EXPECT_EQ(a.r(kRax), b.r(kRax));
  EXPECT_EQ(a.r(kRsp), b.r(kRsp));
  EXPECT_EQ(a.s().rflags, b.s().rflags);
}

}  // namespace
}  // namespace skvm::cpu::testing
