// The run loop end to end on FakeBus: programs as byte vectors in real,
// 32-bit protected and 64-bit long mode; stops (HLT, I/O, MMIO, internal
// error, shutdown), exceptions, self-modifying code, single-step vs block.
#include <gtest/gtest.h>

#include "cpu/exec/engine_impl.h"
#include "exec_harness.h"

namespace skvm::cpu::testing {
namespace {

class RunAllModes : public ::testing::TestWithParam<GuestMode> {};

// mov ecx, 10 ; xor eax, eax ; L: add eax, ecx ; dec ecx ; jnz L ; hlt
// (16-bit code needs the 66 prefix to mean the 32-bit forms)
std::vector<uint8_t> sum_loop(GuestMode m) {
  if (m == GuestMode::kReal)
    return {0x66, 0xb9, 10, 0, 0, 0, 0x66, 0x31, 0xc0, 0x66, 0x01, 0xc8, 0x66, 0x49, 0x75, 0xf9, 0xf4};
  if (m == GuestMode::kProt32) return {0xb9, 10, 0, 0, 0, 0x31, 0xc0, 0x01, 0xc8, 0x49, 0x75, 0xfb, 0xf4};
  return {0xb9, 10, 0, 0, 0, 0x31, 0xc0, 0x01, 0xc8, 0xff, 0xc9, 0x75, 0xfa, 0xf4};
}

TEST_P(RunAllModes, SumLoopHaltsWithTheSumAndRipAfterHlt) {
  Guest g(GetParam());
  auto code = sum_loop(GetParam());
  g.load(code);
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.r(kRax), 55u);
  EXPECT_EQ(g.r(kRcx), 0u);
  EXPECT_TRUE(g.s().halted);
  EXPECT_EQ(g.s().rip, Guest::kCode + code.size());
  EXPECT_TRUE(g.s().rflags & kFlagZF);
}

TEST_P(RunAllModes, SingleStepAndBlockRunsReachTheSameState) {
  Guest a(GetParam()), b(GetParam());
  auto code = sum_loop(GetParam());
  a.load(code);
  b.load(code);
  ASSERT_EQ(a.run(), Stop::kHlt);
  ASSERT_EQ(b.run_stepping(), Stop::kHlt);
  EXPECT_EQ(a.s().gpr, b.s().gpr);
  EXPECT_EQ(a.s().rip, b.s().rip);
  EXPECT_EQ(a.s().rflags, b.s().rflags);
}

TEST_P(RunAllModes, OutExitsWithRipOnTheInstructionAndRetiresOnReentry) {
  Guest g(GetParam());
  // mov al, 0x5a ; out 0x80, al ; hlt
  g.load({0xb0, 0x5a, 0xe6, 0x80, 0xf4});
  ASSERT_EQ(g.run(), Stop::kIo);
  const IoExit& io = g.cpu().exit().io;
  EXPECT_FALSE(io.in);
  EXPECT_EQ(io.port, 0x80);
  EXPECT_EQ(io.size, 1);
  EXPECT_EQ(io.count, 1u);
  EXPECT_EQ(g.bus().pio_page()[0], 0x5a);
  EXPECT_EQ(g.s().rip, Guest::kCode + 2);
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.s().rip, Guest::kCode + 5);
}

TEST_P(RunAllModes, InTakesItsDataFromThePioPageOnReentry) {
  Guest g(GetParam());
  // mov dx, 0x3f8 ; in al, dx ; hlt
  if (GetParam() == GuestMode::kReal) g.load({0x90, 0xba, 0xf8, 0x03, 0xec, 0xf4});
  else g.load({0x66, 0xba, 0xf8, 0x03, 0xec, 0xf4});
  g.r(kRax) = 0x1234;
  ASSERT_EQ(g.run(), Stop::kIo);
  EXPECT_TRUE(g.cpu().exit().io.in);
  EXPECT_EQ(g.cpu().exit().io.port, 0x3f8);
  g.bus().pio_page()[0] = 0x77;
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.r(kRax), 0x1277u);
}

INSTANTIATE_TEST_SUITE_P(Modes, RunAllModes,
                         ::testing::Values(GuestMode::kReal, GuestMode::kProt32, GuestMode::kLong64),
                         [](const auto& info) { return std::string(mode_name(info.param)); });

}  // namespace
}  // namespace skvm::cpu::testing
