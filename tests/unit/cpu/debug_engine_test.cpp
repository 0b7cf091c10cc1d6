// SDM Vol. 3B chapter 17 as the engine applies it: RFLAGS.TF single-step,
// DR0-DR3/DR7 instruction and data breakpoints, DR7.GD, INT1, DR4/DR5
// aliasing, and the KVM_SET_GUEST_DEBUG exits (vmx.c handle_exception_nmi).
// Real-mode guests: every #DB goes through IVT vector 1 to a `hlt` handler,
// so the stacked IP / FLAGS say where and how the exception was taken.
#include <gtest/gtest.h>

#include "cpu/events/debug.h"
#include "exec_harness.h"

namespace skvm::cpu::testing {
namespace {

constexpr uint64_t kHandler = 0x2000;
constexpr uint64_t kTop = 0x8000;  // initial SP

// IVT vectors 1 (#DB), 3 (#BP) and 6 (#UD) -> 0000:kHandler + vector (hlt).
void setup_ivt(Guest& g) {
  for (uint8_t v : {1, 3, 6}) {
    g.bus().poke<uint16_t>(v * 4u, static_cast<uint16_t>(kHandler + v));
    g.bus().poke<uint16_t>(v * 4u + 2, 0);
  }
  g.load({0xf4, 0xf4, 0xf4, 0xf4, 0xf4, 0xf4, 0xf4}, kHandler);
}

// Where the handler of `vector` stopped, and the frame it was given.
struct Taken {
  uint64_t rip;
  uint16_t ip, flags;
};
Taken taken(Guest& g) {
  return {g.s().rip, g.bus().peek<uint16_t>(kTop - 6), g.bus().peek<uint16_t>(kTop - 2)};
}

void real_guest(Guest& g, const std::vector<uint8_t>& code) {
  setup_ivt(g);
  g.load(code);
}

// Both execution strategies must give the same result.
enum class How { kRun, kStep };
Stop go(Guest& g, How how) { return how == How::kRun ? g.run() : g.run_stepping(); }

class DebugBoth : public ::testing::TestWithParam<How> {};
INSTANTIATE_TEST_SUITE_P(Strategies, DebugBoth, ::testing::Values(How::kRun, How::kStep),
                         [](const auto& info) { return info.param == How::kRun ? "run" : "step"; });

TEST_P(DebugBoth, TrapFlagTrapsAfterTheFirstInstructionWithDr6Bs) {
  Guest g(GuestMode::kReal);
  real_guest(g, {0x90, 0x90, 0xf4});
  g.s().rflags |= kFlagTF;
  ASSERT_EQ(go(g, GetParam()), Stop::kHlt);
  Taken t = taken(g);
  EXPECT_EQ(t.rip, kHandler + 1 + 1);
  EXPECT_EQ(t.ip, Guest::kCode + 1);  // a trap: after the NOP
  EXPECT_TRUE(t.flags & kFlagTF);
  EXPECT_EQ(g.s().rflags & kFlagTF, 0u);
  EXPECT_EQ(g.s().dr6, 0xffff4ff0u);
}

TEST_P(DebugBoth, PopfThatSetsTfTrapsOnlyAfterTheNextInstruction) {
  // push 0x0102 ; popf ; nop ; hlt
  Guest g(GuestMode::kReal);
  real_guest(g, {0x68, 0x02, 0x01, 0x9d, 0x90, 0xf4});
  ASSERT_EQ(go(g, GetParam()), Stop::kHlt);
  EXPECT_EQ(g.s().rip, kHandler + 2);
  EXPECT_EQ(taken(g).ip, Guest::kCode + 5);  // after the NOP, not after POPF
}

TEST_P(DebugBoth, MovSsHoldsTheSingleStepTrapForOneInstruction) {
  // mov ss, ax ; nop ; nop ; hlt   (AX = 0 = SS)
  Guest g(GuestMode::kReal);
  real_guest(g, {0x8e, 0xd0, 0x90, 0x90, 0xf4});
  g.s().rflags |= kFlagTF;
  ASSERT_EQ(go(g, GetParam()), Stop::kHlt);
  EXPECT_EQ(g.s().rip, kHandler + 2);
  EXPECT_EQ(taken(g).ip, Guest::kCode + 3);  // after the NOP that follows MOV SS
}

TEST_P(DebugBoth, InstructionBreakpointFaultsBeforeTheInstruction) {
  Guest g(GuestMode::kReal);
  real_guest(g, {0x90, 0x90, 0xf4});
  g.s().dr[0] = Guest::kCode + 1;
  g.s().dr7 = 0x401;  // L0, RW0 = 00 (execute)
  ASSERT_EQ(go(g, GetParam()), Stop::kHlt);
  EXPECT_EQ(g.s().rip, kHandler + 2);
  EXPECT_EQ(taken(g).ip, Guest::kCode + 1);  // a fault: on the second NOP
  EXPECT_EQ(g.s().dr6, 0xffff0ff1u);
}

TEST_P(DebugBoth, ResumeFlagSuppressesOneInstructionBreakpointAndIsCleared) {
  Guest g(GuestMode::kReal);
  real_guest(g, {0x90, 0xf4});
  g.s().dr[0] = Guest::kCode;
  g.s().dr7 = 0x402;  // G0
  g.s().rflags |= kFlagRF;
  ASSERT_EQ(go(g, GetParam()), Stop::kHlt);
  EXPECT_EQ(g.s().rip, Guest::kCode + 2);  // the guest's own HLT
  EXPECT_EQ(g.s().rflags & kFlagRF, 0u);
}

TEST_P(DebugBoth, WriteBreakpointTrapsAfterAWriteInsideItsRange) {
  // mov al, [0x3000] ; mov [0x3002], al ; nop ; hlt
  Guest g(GuestMode::kReal);
  real_guest(g, {0xa0, 0x00, 0x30, 0xa2, 0x02, 0x30, 0x90, 0xf4});
  g.s().dr[1] = 0x3000;
  g.s().dr7 = 0x404 | (1u << 20) | (3u << 22);  // L1, RW1 = 01 (write), LEN1 = 11 (4 bytes)
  ASSERT_EQ(go(g, GetParam()), Stop::kHlt);
  EXPECT_EQ(g.s().rip, kHandler + 2);
  EXPECT_EQ(taken(g).ip, Guest::kCode + 6);  // after the store; the load did not fire
  EXPECT_EQ(g.s().dr6, 0xffff0ff2u);
}

TEST_P(DebugBoth, ReadWriteBreakpointFiresOnAReadOfItsLastByte) {
  // mov ax, [0x3006] ; nop ; hlt  — the 2-byte read overlaps 0x3007 only
  Guest g(GuestMode::kReal);
  real_guest(g, {0xa1, 0x06, 0x30, 0x90, 0xf4});
  g.s().dr[2] = 0x3004;
  g.s().dr7 = 0x410 | (3u << 24) | (3u << 26);  // L2, RW2 = 11, LEN2 = 4 bytes
  ASSERT_EQ(go(g, GetParam()), Stop::kHlt);
  EXPECT_EQ(taken(g).ip, Guest::kCode + 3);
  EXPECT_EQ(g.s().dr6, 0xffff0ff4u);
}

TEST_P(DebugBoth, DataBreakpointLengthIsAlignedDown) {
  // mov [0x3008], al ; hlt: DR3 = 0x300b with LEN 8 covers 0x3008..0x300f
  Guest g(GuestMode::kReal);
  real_guest(g, {0xa2, 0x08, 0x30, 0xf4});
  g.s().dr[3] = 0x300b;
  g.s().dr7 = 0x440 | (1u << 28) | (2u << 30);  // L3, RW3 = 01, LEN3 = 10 (8 bytes)
  ASSERT_EQ(go(g, GetParam()), Stop::kHlt);
  EXPECT_EQ(g.s().rip, kHandler + 2);
  EXPECT_EQ(g.s().dr6, 0xffff0ff8u);
}

TEST_P(DebugBoth, GeneralDetectFaultsOnMovDrAndClearsGd) {
  // mov eax, dr7 ; hlt
  Guest g(GuestMode::kReal);
  real_guest(g, {0x0f, 0x21, 0xf8, 0xf4});
  g.s().dr7 = 0x400 | kDr7Gd;
  ASSERT_EQ(go(g, GetParam()), Stop::kHlt);
  EXPECT_EQ(g.s().rip, kHandler + 2);
  EXPECT_EQ(taken(g).ip, Guest::kCode);  // a fault
  EXPECT_EQ(g.s().dr6, 0xffff0ff0u | kDr6Bd);
  EXPECT_EQ(g.s().dr7, 0x400u);
}

TEST_P(DebugBoth, Int1IsADebugTrapThatLeavesDr6Alone) {
  Guest g(GuestMode::kReal);
  real_guest(g, {0xf1, 0xf4});
  ASSERT_EQ(go(g, GetParam()), Stop::kHlt);
  EXPECT_EQ(g.s().rip, kHandler + 2);
  EXPECT_EQ(taken(g).ip, Guest::kCode + 1);
  EXPECT_EQ(g.s().dr6, 0xffff0ff0u);
}

TEST_P(DebugBoth, SoftwareInterruptUnderTfDoesNotTrap) {
  // int3 with TF: #BP handler runs (TF cleared), no #DB in between.
  Guest g(GuestMode::kReal);
  real_guest(g, {0xcc, 0xf4});
  g.s().rflags |= kFlagTF;
  ASSERT_EQ(go(g, GetParam()), Stop::kHlt);
  EXPECT_EQ(g.s().rip, kHandler + 3 + 1);
  EXPECT_EQ(g.s().dr6, 0xffff0ff0u);
}

TEST(DebugRegs, Dr4AndDr5AliasDr6AndDr7WithoutCr4De) {
  // mov eax, dr4 ; mov ebx, dr5 ; hlt
  Guest g(GuestMode::kReal);
  real_guest(g, {0x0f, 0x21, 0xe0, 0x0f, 0x21, 0xeb, 0xf4});
  g.s().dr6 = 0xffff0ff1;
  g.s().dr7 = 0x401;
  g.s().dr[0] = 0x9999;  // never reached
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.s().rip, Guest::kCode + 7);
  EXPECT_EQ(g.r(kRax) & 0xffffffff, 0xffff0ff1u);
  EXPECT_EQ(g.r(kRbx) & 0xffffffff, 0x401u);
}

TEST(DebugRegs, Dr4IsUndefinedWithCr4De) {
  Guest g(GuestMode::kReal);
  real_guest(g, {0x0f, 0x21, 0xe0, 0xf4});
  g.s().cr4 |= kCr4DE;
  g.cpu().state_changed();
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.s().rip, kHandler + 6 + 1);
}

TEST(DebugRegs, MovToDr6KeepsOnlyVolatileBits) {
  // mov eax, 0xffffffff (66 b8 imm32) ; mov dr6, eax ; hlt
  Guest g(GuestMode::kReal);
  real_guest(g, {0x66, 0xb8, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x23, 0xf0, 0xf4});
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.s().dr6, 0xffff0ff0u | kDr6Volatile);
}

// ---- KVM_SET_GUEST_DEBUG ----------------------------------------------------

TEST_P(DebugBoth, GuestDebugSingleStepExitsAfterEachInstruction) {
  Guest g(GuestMode::kReal);
  real_guest(g, {0x90, 0x90, 0xf4});
  GuestDebug d;
  d.enable = d.singlestep = true;
  g.cpu().set_guest_debug(d);
  ASSERT_EQ(go(g, GetParam()), Stop::kDebug);
  const DebugExit& e = g.cpu().exit().debug;
  EXPECT_EQ(e.exception, 1u);
  EXPECT_EQ(e.pc, Guest::kCode + 1);
  EXPECT_EQ(e.dr6, 0xffff4ff0u);
  EXPECT_EQ(e.dr7, 0x400u);
  EXPECT_EQ(g.s().rip, Guest::kCode + 1);
  EXPECT_EQ(g.s().dr6, 0xffff0ff0u);  // the guest's DR6 is untouched
  ASSERT_EQ(go(g, GetParam()), Stop::kDebug);
  EXPECT_EQ(g.cpu().exit().debug.pc, Guest::kCode + 2);
}

TEST_P(DebugBoth, SoftwareBreakpointExitsOnTheInt3) {
  Guest g(GuestMode::kReal);
  real_guest(g, {0x90, 0xcc, 0xf4});
  GuestDebug d;
  d.enable = d.sw_bp = true;
  g.cpu().set_guest_debug(d);
  ASSERT_EQ(go(g, GetParam()), Stop::kDebug);
  EXPECT_EQ(g.cpu().exit().debug.exception, 3u);
  EXPECT_EQ(g.cpu().exit().debug.pc, Guest::kCode + 1);
  EXPECT_FALSE(g.cpu().exit().debug.has_dr);
  EXPECT_EQ(g.s().rip, Guest::kCode + 1);
}

TEST_P(DebugBoth, HardwareBreakpointExitsAndReplacesTheGuestsDr7) {
  Guest g(GuestMode::kReal);
  real_guest(g, {0x90, 0x90, 0xf4});
  g.s().dr[0] = Guest::kCode;  // the guest's own breakpoint is not in force
  g.s().dr7 = 0x401;
  GuestDebug d;
  d.enable = d.hw_bp = true;
  d.db[3] = Guest::kCode + 1;
  d.dr7 = 0x440;  // L3
  g.cpu().set_guest_debug(d);
  ASSERT_EQ(go(g, GetParam()), Stop::kDebug);
  const DebugExit& e = g.cpu().exit().debug;
  EXPECT_EQ(e.exception, 1u);
  EXPECT_EQ(e.pc, Guest::kCode + 1);
  EXPECT_EQ(e.dr6, 0xffff0ff8u);
  EXPECT_EQ(e.dr7, 0x440u);
  EXPECT_EQ(g.s().rip, Guest::kCode + 1);
  // The client resumes with RF: the breakpoint is passed once.
  g.s().rflags |= kFlagRF;
  g.cpu().state_changed();
  ASSERT_EQ(go(g, GetParam()), Stop::kHlt);
  EXPECT_EQ(g.s().rip, Guest::kCode + 3);
}

TEST_P(DebugBoth, HardwareWatchpointExitsAfterTheStore) {
  Guest g(GuestMode::kReal);
  real_guest(g, {0xa2, 0x00, 0x30, 0x90, 0xf4});
  GuestDebug d;
  d.enable = d.hw_bp = true;
  d.db[0] = 0x3000;
  d.dr7 = 0x401 | (1u << 16);  // L0, RW0 = write, LEN0 = 1
  g.cpu().set_guest_debug(d);
  ASSERT_EQ(go(g, GetParam()), Stop::kDebug);
  EXPECT_EQ(g.cpu().exit().debug.pc, Guest::kCode + 3);
  EXPECT_EQ(g.cpu().exit().debug.dr6, 0xffff0ff1u);
}

// x86.c: the single-step exit of an I/O instruction comes after the client
// completed it (complete_fast_pio_* -> kvm_skip_emulated_instruction).
TEST_P(DebugBoth, GuestDebugSingleStepOverAnIoExitStopsAfterTheCompletion) {
  Guest g(GuestMode::kReal);
  real_guest(g, {0xe6, 0x80, 0x90, 0xf4});  // out 0x80, al ; nop ; hlt
  GuestDebug d;
  d.enable = d.singlestep = true;
  g.cpu().set_guest_debug(d);
  ASSERT_EQ(go(g, GetParam()), Stop::kIo);
  EXPECT_EQ(g.s().rip, Guest::kCode);
  ASSERT_EQ(go(g, GetParam()), Stop::kDebug);
  EXPECT_EQ(g.cpu().exit().debug.pc, Guest::kCode + 2);
  EXPECT_EQ(g.cpu().exit().debug.dr6, 0xffff4ff0u);
}

TEST(QueuedException, IsDeliveredAtEntryBeforeAnyInstruction) {
  Guest g(GuestMode::kReal);
  real_guest(g, {0x90, 0xf4});
  g.cpu().queue_exception(kUD, false, 0);
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.s().rip, kHandler + 6 + 1);
  EXPECT_EQ(taken(g).ip, Guest::kCode);
  EXPECT_FALSE(g.cpu().queued_exception().queued);
  EXPECT_EQ(g.cpu().queued_exception().vector, kUD);  // kept, as KVM reports it
}

TEST(QueuedException, SoftBreakpointReturnsAfterTheInt3) {
  Guest g(GuestMode::kReal);
  real_guest(g, {0xcc, 0xf4});
  g.cpu().queue_exception(kBP, false, 0, 1);
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.s().rip, kHandler + 3 + 1);
  EXPECT_EQ(taken(g).ip, Guest::kCode + 1);
}

}  // namespace
}  // namespace skvm::cpu::testing
