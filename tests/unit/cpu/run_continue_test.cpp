// Blocks continued across a direct JMP / CALL (exec/engine.cpp build():
// 64-bit code, target on the block's page): same results as one
// instruction at a time, host writes to the continued part are seen
// (revalidation covers both byte runs), and guest writes to it end the
// running block (SMC).
#include <gtest/gtest.h>

#include "cpu/exec/engine_impl.h"
#include "exec_harness.h"

namespace skvm::cpu::testing {
namespace {

// mov ecx, 1000 ; L: call f ; dec ecx ; jnz L ; hlt ; f: inc eax ; ret
const std::vector<uint8_t> kCallLoop = {0xb9, 0xe8, 0x03, 0x00, 0x00, 0xe8, 0x05, 0x00, 0x00,
                                        0x00, 0xff, 0xc9, 0x75, 0xf7, 0xf4, 0xff, 0xc0, 0xc3};

TEST(RunContinue, CallLoopBuildsOneBlockPerCallAndMatchesStepping) {
  Guest g;
  g.load(kCallLoop);
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.r(kRax), 1000u);
  EXPECT_EQ(g.r(kRcx), 0u);
  EXPECT_EQ(g.r(kRsp), 0x8000u);
  // [mov, call -> inc, ret], [dec, jnz], [call -> inc, ret], [hlt].
  EXPECT_EQ(g.cpu().engine().blocks_built(), 4u);

  Guest h;
  h.load(kCallLoop);
  ASSERT_EQ(h.run_stepping(), Stop::kHlt);
  EXPECT_EQ(h.r(kRax), g.r(kRax));
  EXPECT_EQ(h.s().rip, g.s().rip);
  EXPECT_EQ(h.bus().peek<uint64_t>(0x8000 - 8), g.bus().peek<uint64_t>(0x8000 - 8));
}

TEST(RunContinue, HostWriteToJumpTargetIsRunAfterRevalidation) {
  Guest g;
  // xor eax, eax ; jmp t ; int3 ; t: add eax, 7 ; hlt
  g.load({0x31, 0xc0, 0xeb, 0x01, 0xcc, 0x83, 0xc0, 0x07, 0xf4});
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.r(kRax), 7u);
  EXPECT_EQ(g.cpu().engine().blocks_built(), 1u);  // one block across the jmp
  // The bytes after the jump change; those before it do not.
  g.load({0x83, 0xc0, 0x09}, Guest::kCode + 5);
  g.s().rip = Guest::kCode;
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.r(kRax), 9u);
}

TEST(RunContinue, GuestWriteToJumpTargetEndsTheRunningBlock) {
  Guest g;
  // mov byte [t+1], 5 ; jmp t ; nop ; nop ; t: mov eax, 1 ; hlt
  g.load({0xc6, 0x04, 0x25, 0x0d, 0x10, 0x00, 0x00, 0x05, 0xeb, 0x02, 0x90, 0x90, 0xb8, 0x01, 0x00,
          0x00, 0x00, 0xf4});
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.r(kRax), 5u);  // the written immediate, not the decoded one
}

TEST(RunContinue, JumpToNextInstructionStillEndsItsBlock) {
  Guest g;
  // inc eax ; jmp $+2 ; inc eax ; hlt
  g.load({0xff, 0xc0, 0xeb, 0x00, 0xff, 0xc0, 0xf4});
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.r(kRax), 2u);
  EXPECT_EQ(g.cpu().engine().blocks_built(), 2u);
}

}  // namespace
}  // namespace skvm::cpu::testing
