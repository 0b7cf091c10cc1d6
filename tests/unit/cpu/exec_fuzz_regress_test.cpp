// Mismatches found by the differential fuzzer (tests/fuzz) and fixed in
// exec/alu.h, exec/bits.h and exec/shift.h, pinned at unit level (the
// matching nasm guests are in tests/guest/regress/). Each program runs in
// blocks and single-stepped; expectations are what the host CPU produces.
#include <gtest/gtest.h>

#include "exec_harness.h"

namespace skvm::cpu::testing {
namespace {

constexpr uint64_t kData = 0x3000;

// Runs `code` (ending in hlt) both ways; returns the block-run guest.
Stop run_both(Guest& g, GuestMode mode, const std::vector<uint8_t>& code, void (*setup)(Guest&)) {
  g.enter(mode);
  setup(g);
  g.load(code);
  Stop s = g.run();
  Guest stepped(mode);
  setup(stepped);
  stepped.load(code);
  Stop s2 = stepped.run_stepping();
  EXPECT_EQ(s, s2) << "block and single-step runs stop differently";
  for (int r = 0; r < 16; ++r) EXPECT_EQ(g.s().gpr[r], stepped.s().gpr[r]) << "gpr " << r;
  EXPECT_EQ(g.s().rflags, stepped.s().rflags);
  return s;
}

void no_setup(Guest&) {}

TEST(ExecFuzzRegress, LockCmpRaisesUd) {
  Guest g;
  // mov rbx, kData ; lock cmp byte [rbx], 1 ; hlt
  std::vector<uint8_t> code = {0x48, 0xc7, 0xc3, 0x00, 0x30, 0x00, 0x00, 0xf0, 0x80, 0x3b, 0x01, 0xf4};
  EXPECT_EQ(run_both(g, GuestMode::kLong64, code, no_setup), Stop::kShutdown)
      << "LOCK CMP is #UD (CMP is not lockable); no IDT: triple fault";
}

TEST(ExecFuzzRegress, UnlockedCmpToMemoryStillRuns) {
  Guest g;
  // mov rbx, kData ; cmp byte [rbx], 1 ; hlt
  std::vector<uint8_t> code = {0x48, 0xc7, 0xc3, 0x00, 0x30, 0x00, 0x00, 0x80, 0x3b, 0x01, 0xf4};
  EXPECT_EQ(run_both(g, GuestMode::kLong64, code, no_setup), Stop::kHlt);
}

TEST(ExecFuzzRegress, CmpxchgR32UnequalKeepsTheDestinationsUpperHalf) {
  Guest g;
  // cmpxchg ebp, edx (unequal) ; cmpxchg esi, edx (equal) ; hlt
  std::vector<uint8_t> code = {0x0f, 0xb1, 0xd5, 0x0f, 0xb1, 0xd6, 0xf4};
  auto setup = [](Guest& x) {
    x.r(kRbp) = 0x100000005;
    x.r(kRax) = 0;
    x.r(kRdx) = 7;
    x.r(kRsi) = 0x200000005;
  };
  ASSERT_EQ(run_both(g, GuestMode::kLong64, code, setup), Stop::kHlt);
  EXPECT_EQ(g.r(kRbp), 0x100000005u) << "unequal: the register destination is not written";
  EXPECT_EQ(g.r(kRax), 5u) << "unequal: EAX = destination (zero-extended)";
  EXPECT_EQ(g.r(kRsi), 7u) << "equal: destination = source, zero-extended";
}

TEST(ExecFuzzRegress, RotateMemoryByImmediateComputesOf) {
  Guest g;
  // ror byte [rbx], 3 ; hlt   (0x01 -> 0x20: OF = bit0 ^ bit7 of the source = 1)
  std::vector<uint8_t> code = {0xc0, 0x0b, 0x03, 0xf4};
  auto setup = [](Guest& x) {
    x.r(kRbx) = kData;
    x.bus().poke<uint8_t>(kData, 0x01);
  };
  ASSERT_EQ(run_both(g, GuestMode::kLong64, code, setup), Stop::kHlt);
  EXPECT_EQ(g.bus().peek<uint8_t>(kData), 0x20);
  EXPECT_EQ(g.s().rflags & (kFlagOF | kFlagCF), kFlagOF);
}

TEST(ExecFuzzRegress, RotateRegisterByImmediateLeavesOf) {
  Guest g;
  // ror al, 3 ; hlt   (OF stays clear on the host CPU)
  std::vector<uint8_t> code = {0xc0, 0xc8, 0x03, 0xf4};
  auto setup = [](Guest& x) { x.r(kRax) = 0x01; };
  ASSERT_EQ(run_both(g, GuestMode::kLong64, code, setup), Stop::kHlt);
  EXPECT_EQ(g.r(kRax), 0x20u);
  EXPECT_EQ(g.s().rflags & kFlagOF, 0u);
}

TEST(ExecFuzzRegress, ShiftByZeroOfANonWritableOperandFaults) {
  Guest g;
  // xor ecx, ecx ; shl dword [ebx], cl ; shl dword [cs:ebx], cl ; hlt
  std::vector<uint8_t> code = {0x31, 0xc9, 0xd3, 0x23, 0x2e, 0xd3, 0x23, 0xf4};
  auto setup = [](Guest& x) { x.r(kRbx) = kData; };
  EXPECT_EQ(run_both(g, GuestMode::kProt32, code, setup), Stop::kShutdown)
      << "count 0 still needs a writable destination: #GP(0) for CS, then a triple fault";
}

TEST(ExecFuzzRegress, ShiftByZeroOfAWritableOperandKeepsValueAndFlags) {
  Guest g;
  // xor ecx, ecx (ZF=1 PF=1) ; shl dword [rbx], cl ; hlt
  std::vector<uint8_t> code = {0x31, 0xc9, 0xd3, 0x23, 0xf4};
  auto setup = [](Guest& x) {
    x.r(kRbx) = kData;
    x.bus().poke<uint32_t>(kData, 0x80000001u);
  };
  ASSERT_EQ(run_both(g, GuestMode::kLong64, code, setup), Stop::kHlt);
  EXPECT_EQ(g.bus().peek<uint32_t>(kData), 0x80000001u);
  EXPECT_EQ(g.s().rflags & (kFlagZF | kFlagCF), kFlagZF);
}

}  // namespace
}  // namespace skvm::cpu::testing
