// The 64-bit stack fast path (exec/stack.h flat_stack_slot): the same
// results and the same exceptions as the generic path, whichever is taken.
#include <gtest/gtest.h>

#include "cpu/exec/branch.h"
#include "cpu/exec/stack.h"
#include "exec_harness.h"

namespace skvm::cpu::testing {
namespace {

class StackFast : public ::testing::Test {
 protected:
  StackFast() : g_(GuestMode::kLong64), x_(g_.cpu()) {
    call_.osize = 8;
    call_.asize = 8;
    call_.imm = 0x100;
    ret_.osize = 8;
    ret_.asize = 8;
    push_.osize = 8;
    push_.reg = kRbx;
  }
  Signals& sig() { return g_.cpu().signals(); }
  Guest g_;
  Exec x_;
  Insn call_{}, ret_{}, push_{};
};

TEST_F(StackFast, CallAndRetRoundTripThroughTheTlbHit) {
  g_.r(kRsp) = 0x9000;
  g_.s().rip = 0x1005;
  uint64_t v;
  ASSERT_TRUE(read_linear(g_.cpu(), 0x8ff8, &v, 8, Acc::kRead));  // warm the TLB
  ASSERT_TRUE(exec::call_rel<8>(x_, call_));
  EXPECT_EQ(g_.r(kRsp), 0x8ff8u);
  EXPECT_EQ(g_.s().rip, 0x1105u);
  EXPECT_EQ(g_.bus().peek<uint64_t>(0x8ff8), 0x1005u);
  ASSERT_TRUE(exec::ret_near<8>(x_, ret_));
  EXPECT_EQ(g_.r(kRsp), 0x9000u);
  EXPECT_EQ(g_.s().rip, 0x1005u);
}

TEST_F(StackFast, PushToAnUnmappedPageIsPageFaultAndCommitsNothing) {
  g_.r(kRsp) = 0x400008;  // the identity map ends at 4 MiB
  g_.r(kRbx) = 0x1234;
  EXPECT_FALSE(exec::push_r<8>(x_, push_));
  EXPECT_TRUE(sig().exception);
  EXPECT_EQ(sig().vector, kPF);
  EXPECT_EQ(sig().fault_cr2, 0x400000u);
  EXPECT_EQ(sig().error_code, 2u);  // not present, write, supervisor
  EXPECT_EQ(g_.r(kRsp), 0x400008u);
}

TEST_F(StackFast, NonCanonicalStackIsStackFault) {
  g_.r(kRsp) = 0x0000800000000008ull;
  EXPECT_FALSE(exec::call_rel<8>(x_, call_));
  EXPECT_TRUE(sig().exception);
  EXPECT_EQ(sig().vector, kSS);
  EXPECT_EQ(g_.r(kRsp), 0x0000800000000008ull);
}

TEST_F(StackFast, SlotCrossingAPageIsWrittenAcrossBoth) {
  g_.r(kRsp) = 0x9004;
  g_.r(kRbx) = 0x1122334455667788ull;
  uint64_t v;
  ASSERT_TRUE(read_linear(g_.cpu(), 0x8000, &v, 8, Acc::kRead));
  ASSERT_TRUE(exec::push_r<8>(x_, push_));
  EXPECT_EQ(g_.r(kRsp), 0x8ffcu);
  EXPECT_EQ(g_.bus().peek<uint64_t>(0x8ffc), 0x1122334455667788ull);
  push_.reg = kRcx;
  ASSERT_TRUE(exec::pop_r<8>(x_, push_));
  EXPECT_EQ(g_.r(kRcx), 0x1122334455667788ull);
  EXPECT_EQ(g_.r(kRsp), 0x9004u);
}

TEST_F(StackFast, RetImmReleasesTheExtraBytes) {
  g_.r(kRsp) = 0x9000;
  g_.bus().poke<uint64_t>(0x9000, 0x2222);
  ret_.imm = 0x10;
  ASSERT_TRUE(exec::ret_near<8>(x_, ret_));
  EXPECT_EQ(g_.s().rip, 0x2222u);
  EXPECT_EQ(g_.r(kRsp), 0x9018u);
}

}  // namespace
}  // namespace skvm::cpu::testing
