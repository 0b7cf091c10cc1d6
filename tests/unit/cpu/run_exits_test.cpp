// Stops and their completion protocols: string I/O counts as KVM computes
// them, MMIO read/write exits, internal errors, exceptions and shutdown,
// kicks, self-modifying code (guest and host writes).
#include <gtest/gtest.h>

#include <atomic>

#include "cpu/exec/engine_impl.h"
#include "exec_harness.h"

namespace skvm::cpu::testing {
namespace {

TEST(RunExits, RepInsExitCountFollowsKvmReadAheadAndCompletesAcrossExits) {
  Guest g(GuestMode::kLong64);
  // mov edi, 0x2ff0 ; mov ecx, 10 ; mov dx, 0x60 ; rep insw ; hlt
  g.load({0xbf, 0xf0, 0x2f, 0, 0, 0xb9, 10, 0, 0, 0, 0x66, 0xba, 0x60, 0, 0xf3, 0x66, 0x6d, 0xf4});
  ASSERT_EQ(g.run(), Stop::kIo);
  // KVM: n = min(bytes left in the page (16), 1024 / 2, rcx (10)) = 10.
  EXPECT_TRUE(g.cpu().exit().io.in);
  EXPECT_EQ(g.cpu().exit().io.size, 2);
  EXPECT_EQ(g.cpu().exit().io.count, 10u);
  EXPECT_EQ(g.s().rip, Guest::kCode + 14);
  for (int k = 0; k < 10; ++k) g.bus().poke<uint16_t>(0, 0), g.bus().pio_page()[2 * k] = static_cast<uint8_t>(k + 1);
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.r(kRcx), 0u);
  EXPECT_EQ(g.r(kRdi), 0x2ff0u + 20);
  EXPECT_EQ(g.bus().peek<uint16_t>(0x2ff0), 1);
  EXPECT_EQ(g.bus().peek<uint16_t>(0x2ff0 + 18), 10);
}

TEST(RunExits, RepInsNearPageEndExitsWithTheBytesLeftInThePage) {
  Guest g(GuestMode::kLong64);
  // mov edi, 0x2ffc ; mov ecx, 100 ; mov dx, 0x60 ; rep insb ; hlt
  g.load({0xbf, 0xfc, 0x2f, 0, 0, 0xb9, 100, 0, 0, 0, 0x66, 0xba, 0x60, 0, 0xf3, 0x6c, 0xf4});
  ASSERT_EQ(g.run(), Stop::kIo);
  EXPECT_EQ(g.cpu().exit().io.count, 4u);
  ASSERT_EQ(g.run(), Stop::kIo);  // the rest restarts the instruction
  EXPECT_EQ(g.r(kRcx), 96u);
  EXPECT_EQ(g.cpu().exit().io.count, 96u);
}

TEST(RunExits, RepOutsExitsOnceForEachElement) {
  Guest g(GuestMode::kProt32);
  // mov esi, 0x3000 ; mov ecx, 3 ; mov dx, 0xe9 ; rep outsb ; hlt
  g.load({0xbe, 0x00, 0x30, 0, 0, 0xb9, 3, 0, 0, 0, 0x66, 0xba, 0xe9, 0, 0xf3, 0x6e, 0xf4});
  g.bus().load(0x3000, {'a', 'b', 'c'});
  std::string out;
  Stop st;
  while ((st = g.run()) == Stop::kIo) {
    ASSERT_EQ(g.cpu().exit().io.count, 1u);
    ASSERT_EQ(g.cpu().exit().io.port, 0xe9);
    out.push_back(static_cast<char>(g.bus().pio_page()[0]));
  }
  EXPECT_EQ(st, Stop::kHlt);
  EXPECT_EQ(out, "abc");
  EXPECT_EQ(g.r(kRsi), 0x3003u);
}

TEST(RunExits, MmioReadStopsThenReexecutesWithTheClientsData) {
  Guest g(GuestMode::kProt32);
  // mov eax, [0xfee00030] ; hlt   (beyond the 4 MiB of RAM: MMIO)
  g.load({0xa1, 0x30, 0x00, 0xe0, 0xfe, 0xf4});
  ASSERT_EQ(g.run(), Stop::kMmio);
  const MmioExit& m = g.cpu().exit().mmio;
  EXPECT_FALSE(m.is_write);
  EXPECT_EQ(m.gpa, 0xfee00030u);
  EXPECT_EQ(m.len, 4u);
  EXPECT_EQ(g.s().rip, Guest::kCode);
  uint32_t v = 0x50014;
  std::memcpy(g.cpu().exit().mmio.data, &v, 4);
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.r(kRax), 0x50014u);
}

TEST(RunExits, MmioWriteRetiresThenStops) {
  Guest g(GuestMode::kLong64);
  // mov dword [0x3fffff0 + 0], 0x1234 via mov rbx, imm ; mov [rbx], eax ; hlt
  g.load({0x48, 0xbb, 0xf0, 0xff, 0xff, 0x03, 0, 0, 0, 0, 0xb8, 0x34, 0x12, 0, 0, 0x89, 0x03, 0xf4});
  // Map the MMIO address: identity 2 MiB pages only cover 4 MiB, so use a
  // PD entry for 0x3e00000.
  g.bus().poke<uint64_t>(Guest::kPml4 + 0x2000 + 31 * 8, 0x3e00000 | 0x83);
  g.cpu().state_changed();
  ASSERT_EQ(g.run(), Stop::kMmio);
  const MmioExit& m = g.cpu().exit().mmio;
  EXPECT_TRUE(m.is_write);
  EXPECT_EQ(m.gpa, 0x3fffff0u);
  EXPECT_EQ(m.len, 4u);
  uint32_t v;
  std::memcpy(&v, m.data, 4);
  EXPECT_EQ(v, 0x1234u);
  EXPECT_EQ(g.s().rip, Guest::kCode + 17);
  ASSERT_EQ(g.run(), Stop::kHlt);
}

TEST(RunExits, UnimplementedOpcodeIsAnInternalErrorWithTheInstructionBytes) {
  Guest g(GuestMode::kLong64);
  g.load({0x90, 0x0f, 0x0d, 0x08, 0xf4});  // nop ; prefetchw [rax] (not in this slice)
  ASSERT_EQ(g.run(), Stop::kInternal);
  const InternalExit& e = g.cpu().exit().internal;
  EXPECT_EQ(e.suberror, 1u);
  EXPECT_EQ(e.insn_len, 3);
  EXPECT_EQ(e.insn[0], 0x0f);
  EXPECT_EQ(e.insn[1], 0x0d);
  EXPECT_EQ(g.s().rip, Guest::kCode + 1);
}

TEST(RunExits, Ud2InRealModeGoesThroughTheIvt) {
  Guest g(GuestMode::kReal);
  // IVT[6] = 0000:2000 ; handler: mov al, 6 ; hlt
  g.bus().poke<uint16_t>(6 * 4, 0x2000);
  g.bus().poke<uint16_t>(6 * 4 + 2, 0);
  g.bus().load(0x2000, {0xb0, 0x06, 0xf4});
  g.load({0x0f, 0x0b});
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.r(kRax) & 0xff, 6u);
  // The frame holds the faulting IP.
  EXPECT_EQ(g.bus().peek<uint16_t>(0x8000 - 6), Guest::kCode);
}

TEST(RunExits, LockOnANonLockableFormRaisesUd) {
  Guest g(GuestMode::kReal);
  g.bus().poke<uint16_t>(6 * 4, 0x2000);
  g.bus().load(0x2000, {0xb0, 0x66, 0xf4});
  g.load({0xf0, 0x89, 0xc0});  // lock mov ax, ax
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.r(kRax) & 0xff, 0x66u);
}

TEST(RunExits, DivideByZeroWithoutAnIdtIsATripleFault) {
  Guest g(GuestMode::kProt32);
  g.load({0x31, 0xc9, 0xf7, 0xf1});  // xor ecx, ecx ; div ecx
  EXPECT_EQ(g.run(), Stop::kShutdown);
}

TEST(RunExits, IntNInRealModeCallsTheVectorAndIretReturns) {
  Guest g(GuestMode::kReal);
  g.bus().poke<uint16_t>(0x21 * 4, 0x2000);
  g.bus().load(0x2000, {0xb3, 0x42, 0xcf});          // mov bl, 0x42 ; iret
  g.load({0xcd, 0x21, 0xb1, 0x01, 0xf4});             // int 0x21 ; mov cl, 1 ; hlt
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.r(kRbx) & 0xff, 0x42u);
  EXPECT_EQ(g.r(kRcx) & 0xff, 1u);
  EXPECT_EQ(g.r(kRsp), 0x8000u);
}

TEST(RunExits, KickStopsBetweenBlocksAndRunResumes) {
  Guest g(GuestMode::kLong64);
  g.load({0xeb, 0xfe});  // jmp $
  std::atomic<int> kick{1};
  EXPECT_EQ(g.cpu().run(&kick), Stop::kKick);
  EXPECT_EQ(g.s().rip, Guest::kCode);
}

TEST(RunExits, GuestWriteToItsOwnCodeIsSeenByTheNextExecution) {
  Guest g(GuestMode::kLong64);
  // L: mov eax, 1 ; mov byte [L+1], 2 (rip-relative) ; dec ecx ; jnz L ; hlt
  // First pass executes mov eax,1; then patches the immediate to 2.
  g.load({0xb8, 0x01, 0, 0, 0,                // mov eax, 1
          0xc6, 0x05, 0xf5, 0xff, 0xff, 0xff, 0x02,  // mov byte [rip-11], 2 -> L+1
          0xff, 0xc9, 0x75, 0xf0, 0xf4});
  g.r(kRcx) = 2;
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.r(kRax), 2u);
  EXPECT_EQ(g.bus().peek<uint8_t>(Guest::kCode + 1), 2);
}

TEST(RunExits, StoreIntoTheRunningBlockTakesEffectOnTheNextInstruction) {
  Guest g(GuestMode::kLong64);
  // mov byte [rip+0], 0x90 patches the following "hlt" into "nop"; then
  // mov al, 7 ; hlt.
  g.load({0xc6, 0x05, 0x00, 0x00, 0x00, 0x00, 0x90, 0xf4, 0xb0, 0x07, 0xf4});
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.r(kRax) & 0xff, 7u);
  EXPECT_EQ(g.s().rip, Guest::kCode + 11);
}

TEST(RunExits, HostWriteBetweenRunsIsRevalidatedAndRebuilt) {
  Guest g(GuestMode::kLong64);
  g.load({0xb0, 0x01, 0xf4});  // mov al, 1 ; hlt
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.r(kRax) & 0xff, 1u);
  g.s().rip = Guest::kCode;
  // Unchanged memory: revalidated by comparison, not rebuilt.
  uint64_t built = g.cpu().engine().blocks_built();
  g.cpu().host_may_have_written_memory();
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.cpu().engine().blocks_built(), built);
  EXPECT_GE(g.cpu().engine().revalidations(), 1u);
  // Patched by the host (a VMM loading code): rebuilt.
  g.s().rip = Guest::kCode;
  g.bus().poke<uint8_t>(Guest::kCode + 1, 9);
  g.cpu().host_may_have_written_memory();
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.r(kRax) & 0xff, 9u);
  EXPECT_GT(g.cpu().engine().blocks_built(), built);
}

TEST(RunExits, HltReportsHaltedAndRipAfterTheInstruction) {
  Guest g(GuestMode::kProt32);
  g.load({0x90, 0xf4});
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_TRUE(g.s().halted);
  EXPECT_EQ(g.s().rip, Guest::kCode + 2);
}

TEST(RunExits, StiShadowCoversExactlyTheNextInstruction) {
  Guest g(GuestMode::kReal);
  g.load({0xfa, 0xfb, 0x90, 0xf4});  // cli ; sti ; nop ; hlt
  EXPECT_EQ(g.cpu().step(), Stop::kKick);
  EXPECT_EQ(g.cpu().step(), Stop::kKick);
  EXPECT_EQ(g.s().interrupt_shadow, 1);
  EXPECT_EQ(g.cpu().step(), Stop::kKick);
  EXPECT_EQ(g.s().interrupt_shadow, 0);
}

}  // namespace
}  // namespace skvm::cpu::testing
