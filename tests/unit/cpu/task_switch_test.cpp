// Hardware task switches (SDM Vol. 3A chapter 7) as KVM's emulator performs
// them (emulate.c emulator_do_task_switch): JMP/CALL to a TSS, a task gate
// in the IDT (with an error code), IRET with NT, 16-bit TSSs, busy bits,
// the back link, CR0.TS, and the #GP for a busy TSS.
#include <gtest/gtest.h>

#include "exec_harness.h"

namespace skvm::cpu::testing {
namespace {

constexpr uint64_t kGdt = 0x4000, kIdt = 0x6000;
constexpr uint64_t kTssA = 0x5000, kTssB = 0x5100, kTssC = 0x5200;
constexpr uint64_t kTaskB = 0x3000, kTaskC = 0x3400, kGpHandler = 0x3800;

uint64_t tss_desc(uint64_t base, uint32_t limit, unsigned type) {
  return (limit & 0xffff) | ((base & 0xffffff) << 16) | (uint64_t{type} << 40) | (1ull << 47);
}

// 32-bit protected mode, running task A (TSS 0x18, busy). GDT: 0x08 code,
// 0x10 data, 0x18 TSS A, 0x20 TSS B (32-bit, available: EIP = kTaskB, EAX =
// 0xb0b0, ESP = 0x9000), 0x28 task gate -> 0x20, 0x30 TSS C (16-bit,
// available: IP = kTaskC, AX = 0xc0c0). IDT: 0x21 task gate -> TSS 0x20,
// #GP task gate -> TSS 0x20 (error code pushed), #UD interrupt gate ->
// kGpHandler.
void setup(Guest& g, const std::vector<uint8_t>& code, const std::vector<uint8_t>& task_b) {
  const uint64_t gdt[7] = {0,
                           0x00cf9a000000ffffull,
                           0x00cf92000000ffffull,
                           tss_desc(kTssA, 0x67, 0xb),
                           tss_desc(kTssB, 0x67, 0x9),
                           (uint64_t{0x20} << 16) | (uint64_t{0x5} << 40) | (1ull << 47) | (3ull << 45),
                           tss_desc(kTssC, 0x2b, 0x1)};
  for (unsigned k = 0; k < 7; ++k) g.bus().poke<uint64_t>(kGdt + 8 * k, gdt[k]);
  g.s().gdt = {kGdt, sizeof gdt - 1};
  Segment tr;
  tr.base = kTssA;
  tr.limit = 0x67;
  tr.selector = 0x18;
  tr.type = 0xb;
  tr.s = 0;
  g.s().tr = tr;
  // TSS B (32-bit).
  g.bus().poke<uint32_t>(kTssB + 0x20, kTaskB);  // EIP
  g.bus().poke<uint32_t>(kTssB + 0x24, 0x2);     // EFLAGS
  g.bus().poke<uint32_t>(kTssB + 0x28, 0xb0b0);  // EAX
  g.bus().poke<uint32_t>(kTssB + 0x38, 0x9000);  // ESP
  const uint32_t sels[6] = {0x10, 0x08, 0x10, 0x10, 0x10, 0x10};
  for (unsigned k = 0; k < 6; ++k) g.bus().poke<uint32_t>(kTssB + 0x48 + 4 * k, sels[k]);
  // TSS C (16-bit).
  g.bus().poke<uint16_t>(kTssC + 0x0e, kTaskC);
  g.bus().poke<uint16_t>(kTssC + 0x10, 0x2);
  g.bus().poke<uint16_t>(kTssC + 0x12, 0xc0c0);
  g.bus().poke<uint16_t>(kTssC + 0x1a, 0x9800);
  for (unsigned k = 0; k < 4; ++k) g.bus().poke<uint16_t>(kTssC + 0x22 + 2 * k, k == 1 ? 0x08 : 0x10);
  // IDT.
  const uint64_t task_gate = (uint64_t{0x20} << 16) | (uint64_t{0x5} << 40) | (1ull << 47);
  g.bus().poke<uint64_t>(kIdt + 0x21 * 8, task_gate);
  g.bus().poke<uint64_t>(kIdt + 13 * 8, task_gate);
  g.bus().poke<uint64_t>(kIdt + 6 * 8, (kGpHandler & 0xffff) | (uint64_t{0x08} << 16) | (uint64_t{0x8e} << 40));
  g.s().idt = {kIdt, 0x7ff};
  g.load({0xf4}, kGpHandler);
  g.load({0xf4}, kTaskC);
  g.load(task_b, kTaskB);
  g.load(code);
  g.cpu().state_changed();
}

unsigned gdt_type(Guest& g, unsigned sel) { return (g.bus().peek<uint64_t>(kGdt + sel) >> 40) & 0xf; }

TEST(TaskSwitch, JmpToATssSwitchesSavesTheOldTaskAndMovesTheBusyBit) {
  Guest g(GuestMode::kProt32);
  g.r(kRax) = 0xa0a0;
  setup(g, {0xea, 0, 0, 0, 0, 0x20, 0}, {0xf4});  // jmp 0x20:0
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.s().rip, kTaskB + 1);
  EXPECT_EQ(g.r(kRax), 0xb0b0u);
  EXPECT_EQ(g.r(kRsp), 0x9000u);
  EXPECT_EQ(g.s().tr.selector, 0x20);
  EXPECT_EQ(g.s().tr.type, 0xb);
  EXPECT_TRUE(g.s().cr0 & kCr0TS);
  EXPECT_EQ(g.s().rflags & kFlagNT, 0u);
  EXPECT_EQ(gdt_type(g, 0x18), 0x9u);  // old task no longer busy
  EXPECT_EQ(gdt_type(g, 0x20), 0xbu);
  EXPECT_EQ(g.bus().peek<uint32_t>(kTssA + 0x20), Guest::kCode + 7);  // saved EIP
  EXPECT_EQ(g.bus().peek<uint32_t>(kTssA + 0x28), 0xa0a0u);           // saved EAX
  EXPECT_EQ(g.bus().peek<uint16_t>(kTssB), 0u);                       // no back link
}

TEST(TaskSwitch, CallThroughATaskGateNestsAndIretReturns) {
  Guest g(GuestMode::kProt32);
  // call 0x28:0 ; hlt      task B: mov eax, 0x77 ; iret
  setup(g, {0x9a, 0, 0, 0, 0, 0x28, 0, 0xf4}, {0xb8, 0x77, 0, 0, 0, 0xcf});
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.s().rip, Guest::kCode + 8);  // back in task A, after its HLT
  EXPECT_EQ(g.s().tr.selector, 0x18);
  EXPECT_EQ(g.r(kRax), 0u);  // A's EAX restored from its TSS
  EXPECT_EQ(g.s().rflags & kFlagNT, 0u);
  EXPECT_EQ(g.bus().peek<uint16_t>(kTssB), 0x18u);  // back link
  EXPECT_EQ(g.bus().peek<uint32_t>(kTssB + 0x28), 0x77u);  // B saved at its IRET
  EXPECT_EQ(g.bus().peek<uint32_t>(kTssB + 0x24) & kFlagNT, 0u);
  EXPECT_EQ(gdt_type(g, 0x18), 0xbu);
  EXPECT_EQ(gdt_type(g, 0x20), 0x9u);
}

TEST(TaskSwitch, CallSetsNtInTheNewTask) {
  Guest g(GuestMode::kProt32);
  setup(g, {0x9a, 0, 0, 0, 0, 0x20, 0}, {0xf4});
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_TRUE(g.s().rflags & kFlagNT);
  EXPECT_EQ(gdt_type(g, 0x18), 0xbu);  // the caller stays busy
}

TEST(TaskSwitch, SoftwareInterruptThroughATaskGateSavesTheNextEip) {
  Guest g(GuestMode::kProt32);
  setup(g, {0xcd, 0x21}, {0xf4});
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.s().rip, kTaskB + 1);
  EXPECT_EQ(g.bus().peek<uint32_t>(kTssA + 0x20), Guest::kCode + 2);
  EXPECT_TRUE(g.s().rflags & kFlagNT);
}

TEST(TaskSwitch, ExceptionThroughATaskGatePushesItsErrorCodeOnTheNewStack) {
  Guest g(GuestMode::kProt32);
  setup(g, {0x8e, 0xd8}, {0xf4});  // mov ds, ax with AX = 0x0b (RPL 3 > DPL 0): #GP(0x08)
  g.r(kRax) = 0x0b;
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.s().rip, kTaskB + 1);
  ASSERT_EQ(g.r(kRsp), 0x9000u - 4);
  EXPECT_EQ(g.bus().peek<uint32_t>(0x9000 - 4), 0x08u);
  EXPECT_EQ(g.bus().peek<uint32_t>(kTssA + 0x20), Guest::kCode);  // a fault: the MOV
}

TEST(TaskSwitch, JmpToABusyTssIsGpWithItsSelector) {
  Guest g(GuestMode::kProt32);
  setup(g, {0xea, 0, 0, 0, 0, 0x18, 0}, {0xf4});  // jmp to task A itself (busy)
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.s().rip, kTaskB + 1);  // #GP goes through its task gate to B ...
  EXPECT_EQ(g.bus().peek<uint32_t>(0x9000 - 4), 0x18u);  // ... with error code 0x18
}

TEST(TaskSwitch, SixteenBitTssLoadsWordRegistersAndKeepsUpperHalves) {
  Guest g(GuestMode::kProt32);
  g.r(kRax) = 0x12340000;
  setup(g, {0xea, 0, 0, 0, 0, 0x30, 0}, {0xf4});
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.s().rip, kTaskC + 1);
  EXPECT_EQ(g.r(kRax), 0x1234c0c0u);
  EXPECT_EQ(g.s().tr.selector, 0x30);
  EXPECT_EQ(gdt_type(g, 0x30), 0x3u);  // 16-bit TSS, busy
  EXPECT_EQ(g.bus().peek<uint16_t>(kTssA + 0x20), Guest::kCode + 7);  // the old 32-bit TSS
}

TEST(TaskSwitch, StepAndRunAgree) {
  Guest a(GuestMode::kProt32), b(GuestMode::kProt32);
  const std::vector<uint8_t> code = {0x9a, 0, 0, 0, 0, 0x28, 0, 0xf4};
  const std::vector<uint8_t> task = {0xb8, 0x77, 0, 0, 0, 0xcf};
  setup(a, code, task);
  setup(b, code, task);
  ASSERT_EQ(a.run(), Stop::kHlt);
  ASSERT_EQ(b.run_stepping(), Stop::kHlt);
  EXPECT_EQ(a.s().rip, b.s().rip);
  EXPECT_EQ(a.s().tr.selector, b.s().tr.selector);
  EXPECT_EQ(a.s().rflags, b.s().rflags);
}

}  // namespace
}  // namespace skvm::cpu::testing
