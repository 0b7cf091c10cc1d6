// Client events without an in-kernel irqchip (api.rst: KVM_INTERRUPT,
// KVM_NMI, request_interrupt_window) as run() handles them, and MMIO
// accesses split across a page boundary (x86.c: emulator_read_write,
// complete_emulated_mmio).
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>

#include "cpu/mmu/mmu_impl.h"
#include "exec_harness.h"

namespace skvm::cpu::testing {
namespace {

constexpr uint64_t kHandler = 0x2000;

// Real mode: IVT entry `vector` -> 0000:kHandler, whose code is `hlt`.
void real_mode_vector(Guest& g, uint8_t vector) {
  g.bus().poke<uint16_t>(vector * 4u, kHandler);
  g.bus().poke<uint16_t>(vector * 4u + 2, 0);
  g.load({0xf4}, kHandler);
}

// Long mode: a GDT with a 64-bit code segment at 0x8 and a 64-bit interrupt
// gate for `vector` -> kHandler (`hlt`).
void long_mode_vector(Guest& g, uint8_t vector) {
  constexpr uint64_t kGdt = 0x3000, kIdt = 0x5000;
  g.bus().poke<uint64_t>(kGdt + 8, 0x00209a0000000000ull);  // P, DPL 0, code, L
  g.s().gdt = {kGdt, 0x17};
  const uint64_t gate = kIdt + vector * 16u;
  g.bus().poke<uint16_t>(gate, kHandler & 0xffff);
  g.bus().poke<uint16_t>(gate + 2, 0x8);
  g.bus().poke<uint8_t>(gate + 4, 0);
  g.bus().poke<uint8_t>(gate + 5, 0x8e);  // present, DPL 0, 64-bit interrupt gate
  g.bus().poke<uint16_t>(gate + 6, (kHandler >> 16) & 0xffff);
  g.bus().poke<uint32_t>(gate + 8, 0);
  g.bus().poke<uint32_t>(gate + 12, 0);
  g.s().idt = {kIdt, 0xfff};
  g.load({0xf4}, kHandler);
  g.cpu().state_changed();
}

TEST(RunEvents, QueuedInterruptInRealModeGoesThroughTheIvtAtEntry) {
  Guest g(GuestMode::kReal);
  real_mode_vector(g, 0x20);
  g.load({0x90, 0xf4});  // nop ; hlt
  g.s().rflags |= kFlagIF;
  g.cpu().queue_external_interrupt(0x20);
  EXPECT_FALSE(g.cpu().interrupt_window_open());  // an interrupt is waiting
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.s().rip, kHandler + 1);  // the handler's HLT, not the guest's
  EXPECT_EQ(g.r(kRsp), 0x8000u - 6);
  EXPECT_EQ(g.bus().peek<uint16_t>(0x8000 - 6), Guest::kCode);  // return IP: nothing ran
  EXPECT_EQ(g.bus().peek<uint16_t>(0x8000 - 2), kFlagFixed1 | kFlagIF);
  EXPECT_EQ(g.s().rflags & kFlagIF, 0u);
  EXPECT_FALSE(g.cpu().interrupt_queued(nullptr));
}

TEST(RunEvents, QueuedInterruptInLongModeGoesThroughTheIdt) {
  Guest g(GuestMode::kLong64);
  long_mode_vector(g, 0x30);
  g.load({0x90, 0xf4});
  g.s().rflags |= kFlagIF;
  g.cpu().queue_external_interrupt(0x30);
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.s().rip, kHandler + 1);
  // 64-bit frame: RIP, CS, RFLAGS, RSP, SS (SDM Vol. 3A 6.14.2).
  EXPECT_EQ(g.r(kRsp), 0x8000u - 40);
  EXPECT_EQ(g.bus().peek<uint64_t>(0x8000 - 40), Guest::kCode);
  EXPECT_EQ(g.bus().peek<uint64_t>(0x8000 - 32), 0x8u);
  EXPECT_EQ(g.bus().peek<uint64_t>(0x8000 - 24), kFlagFixed1 | kFlagIF);
  EXPECT_EQ(g.bus().peek<uint64_t>(0x8000 - 16), 0x8000u);
}

// x86.c: kvm_queue_interrupt marks the vector injected: the next entry
// delivers it whatever IF says (checked on the host /dev/kvm).
TEST(RunEvents, QueuedInterruptIsDeliveredAtEntryEvenWithIfClear) {
  Guest g(GuestMode::kReal);
  real_mode_vector(g, 0x21);
  g.load({0x41, 0xf4});  // inc cx ; hlt
  g.cpu().queue_external_interrupt(0x21);
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.s().rip, kHandler + 1);
  EXPECT_EQ(g.r(kRcx), 0u);
  EXPECT_EQ(g.bus().peek<uint16_t>(0x8000 - 2), kFlagFixed1);  // pushed FLAGS: IF was 0
}

TEST(RunEvents, QueuedInterruptInAnStiShadowIsDeliveredAndEndsTheShadow) {
  Guest g(GuestMode::kReal);
  real_mode_vector(g, 0x21);
  g.load({0x41, 0xf4});
  g.s().rflags |= kFlagIF;
  g.s().interrupt_shadow = 1;  // KVM_X86_SHADOW_INT_STI
  g.cpu().queue_external_interrupt(0x21);
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.s().rip, kHandler + 1);
  EXPECT_EQ(g.r(kRcx), 0u);
  EXPECT_EQ(g.s().interrupt_shadow, 0);
}

TEST(RunEvents, QueuedInterruptIsNotDeliveredWhenTheEntryOnlyCompletesAnExit) {
  Guest g(GuestMode::kReal);
  real_mode_vector(g, 0x21);
  g.load({0xe4, 0x10, 0x41, 0xf4});  // in al, 0x10 ; inc cx ; hlt
  ASSERT_EQ(g.run(), Stop::kIo);
  g.cpu().queue_external_interrupt(0x21);
  g.bus().pio_page()[0] = 0x5a;
  // immediate_exit: the kvm layer completes the IN with the kick raised.
  std::atomic<int> kick{1};
  ASSERT_EQ(g.cpu().run(&kick), Stop::kKick);
  EXPECT_EQ(g.r(kRax) & 0xff, 0x5au);
  EXPECT_EQ(g.s().rip, Guest::kCode + 2);
  EXPECT_TRUE(g.cpu().interrupt_queued(nullptr));
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.s().rip, kHandler + 1);
  EXPECT_EQ(g.bus().peek<uint16_t>(0x8000 - 6), Guest::kCode + 2);
}

TEST(RunEvents, QueuedInterruptWakesAHaltedCpuWithTheReturnAddressAfterHlt) {
  Guest g(GuestMode::kReal);
  real_mode_vector(g, 0x22);
  g.load({0xfb, 0xf4, 0x90});  // sti ; hlt ; nop
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_TRUE(g.s().halted);
  EXPECT_TRUE(g.cpu().interrupt_window_open());
  g.cpu().queue_external_interrupt(0x22);
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.s().rip, kHandler + 1);
  EXPECT_EQ(g.bus().peek<uint16_t>(0x8000 - 6), Guest::kCode + 2);
}

TEST(RunEvents, InterruptWindowRequestStopsAtEntryWhenAlreadyOpen) {
  Guest g(GuestMode::kProt32);
  g.load({0x41, 0xf4});
  g.s().rflags |= kFlagIF;
  g.cpu().set_interrupt_window_request(true);
  ASSERT_EQ(g.run(), Stop::kIrqWindowOpen);
  EXPECT_EQ(g.s().rip, Guest::kCode);
  EXPECT_EQ(g.r(kRcx), 0u);
  g.cpu().set_interrupt_window_request(false);
  EXPECT_EQ(g.run(), Stop::kHlt);
}

TEST(RunEvents, InterruptWindowRequestStopsAfterTheStiShadowEnds) {
  Guest g(GuestMode::kProt32);
  g.load({0x41, 0xfb, 0x42, 0x43, 0xf4});  // inc ecx ; sti ; inc edx ; inc ebx ; hlt
  g.cpu().set_interrupt_window_request(true);
  ASSERT_EQ(g.run(), Stop::kIrqWindowOpen);
  EXPECT_EQ(g.s().rip, Guest::kCode + 3);  // after `inc edx`, the shadowed one
  EXPECT_EQ(g.r(kRdx), 1u);
  EXPECT_EQ(g.r(kRbx), 0u);
  EXPECT_EQ(g.s().interrupt_shadow, 0);
  EXPECT_TRUE(g.cpu().interrupt_window_open());
}

TEST(RunEvents, InterruptWindowStaysClosedWhileIfIsClear) {
  Guest g(GuestMode::kProt32);
  g.load({0x41, 0xf4});
  g.cpu().set_interrupt_window_request(true);
  EXPECT_EQ(g.run(), Stop::kHlt);
  EXPECT_FALSE(g.cpu().interrupt_window_open());
}

TEST(RunEvents, NmiIsDeliveredThroughVector2AndMasksFurtherNmisUntilIret) {
  Guest g(GuestMode::kReal);
  real_mode_vector(g, 2);
  g.load({0xcf}, kHandler);  // the handler is a bare IRET
  g.load({0x41, 0x42, 0xf4});  // inc cx ; inc dx ; hlt
  g.cpu().queue_nmi();         // IF = 0 does not block NMIs
  g.cpu().queue_nmi();
  g.cpu().queue_nmi();         // at most two pending (x86.c: process_nmi)
  EXPECT_EQ(g.cpu().nmi_pending(), 2u);
  ASSERT_EQ(g.cpu().step(), Stop::kKick);  // delivery of the first NMI
  EXPECT_TRUE(g.s().nmi_masked);
  EXPECT_EQ(g.s().rip, kHandler);
  EXPECT_EQ(g.cpu().nmi_pending(), 1u);
  ASSERT_EQ(g.cpu().step(), Stop::kKick);  // IRET unmasks NMIs
  EXPECT_FALSE(g.s().nmi_masked);
  ASSERT_EQ(g.cpu().step(), Stop::kKick);  // the second NMI
  EXPECT_EQ(g.s().rip, kHandler);
  EXPECT_EQ(g.cpu().nmi_pending(), 0u);
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.r(kRcx), 1u);
  EXPECT_EQ(g.r(kRdx), 1u);
}

TEST(RunEvents, NmiWhileMaskedIsHeldUntilIret) {
  Guest g(GuestMode::kReal);
  real_mode_vector(g, 2);
  g.load({0xcf}, kHandler);
  g.load({0x41, 0xf4});
  g.s().nmi_masked = true;
  g.cpu().queue_nmi();
  g.cpu().queue_nmi();
  EXPECT_EQ(g.cpu().nmi_pending(), 1u);
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.cpu().nmi_pending(), 1u);
  EXPECT_EQ(g.r(kRcx), 1u);
}

// ---- MMIO accesses split at a page boundary -------------------------------

// Long mode with the page at 0x3e00000 (2 MiB, beyond the 4 MiB of RAM)
// mapped: all of it is MMIO. 0x200000..0x3fffff is RAM.
void map_mmio(Guest& g) {
  g.bus().poke<uint64_t>(Guest::kPml4 + 0x2000 + 31 * 8, 0x3e00000 | 0x83);
  g.cpu().state_changed();
}

TEST(RunEvents, MmioWriteAcrossTwoUnbackedPagesExitsOncePerPieceAndRetiresOnce) {
  Guest g(GuestMode::kLong64);
  // mov rbx, 0x3e00ffe ; mov eax, 0x11223344 ; mov [rbx], eax ; inc ecx ; hlt
  g.load({0x48, 0xbb, 0xfe, 0x0f, 0xe0, 0x03, 0, 0, 0, 0, 0xb8, 0x44, 0x33, 0x22, 0x11, 0x89, 0x03, 0xff,
          0xc1, 0xf4});
  map_mmio(g);
  ASSERT_EQ(g.run(), Stop::kMmio);
  MmioExit m = g.cpu().exit().mmio;
  EXPECT_TRUE(m.is_write);
  EXPECT_EQ(m.gpa, 0x3e00ffeu);
  EXPECT_EQ(m.len, 2u);
  EXPECT_EQ(m.data[0], 0x44);
  EXPECT_EQ(m.data[1], 0x33);
  EXPECT_EQ(g.s().rip, Guest::kCode + 17);  // retired at the first exit
  ASSERT_EQ(g.run(), Stop::kMmio);
  m = g.cpu().exit().mmio;
  EXPECT_TRUE(m.is_write);
  EXPECT_EQ(m.gpa, 0x3e01000u);
  EXPECT_EQ(m.len, 2u);
  EXPECT_EQ(m.data[0], 0x22);
  EXPECT_EQ(m.data[1], 0x11);
  EXPECT_EQ(g.s().rip, Guest::kCode + 17);
  EXPECT_EQ(g.r(kRcx), 0u);  // nothing ran between the two exits
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.r(kRcx), 1u);
}

TEST(RunEvents, MmioWriteFromRamIntoAnUnbackedPageWritesRamAndExitsOnce) {
  Guest g(GuestMode::kLong64);
  // Identity-map the third 2 MiB page: 0x3ffffe is RAM, 0x400000 has no slot.
  g.bus().poke<uint64_t>(Guest::kPml4 + 0x2000 + 2 * 8, 0x400000 | 0x83);
  // mov rbx, 0x3ffffe ; mov eax, 0xaabbccdd ; mov [rbx], eax ; hlt
  g.load({0x48, 0xbb, 0xfe, 0xff, 0x3f, 0, 0, 0, 0, 0, 0xb8, 0xdd, 0xcc, 0xbb, 0xaa, 0x89, 0x03, 0xf4});
  g.cpu().state_changed();
  ASSERT_EQ(g.run(), Stop::kMmio);
  EXPECT_EQ(g.cpu().exit().mmio.gpa, 0x400000u);
  EXPECT_EQ(g.cpu().exit().mmio.len, 2u);
  EXPECT_EQ(g.cpu().exit().mmio.data[0], 0xbb);
  EXPECT_EQ(g.cpu().exit().mmio.data[1], 0xaa);
  EXPECT_EQ(g.bus().peek<uint16_t>(0x3ffffe), 0xccdd);
  ASSERT_EQ(g.run(), Stop::kHlt);
}

TEST(RunEvents, MmioReadAcrossTwoUnbackedPagesExitsPerPieceThenCompletes) {
  Guest g(GuestMode::kLong64);
  // mov rbx, 0x3e00ffe ; mov eax, [rbx] ; hlt
  g.load({0x48, 0xbb, 0xfe, 0x0f, 0xe0, 0x03, 0, 0, 0, 0, 0x8b, 0x03, 0xf4});
  map_mmio(g);
  ASSERT_EQ(g.run(), Stop::kMmio);
  EXPECT_FALSE(g.cpu().exit().mmio.is_write);
  EXPECT_EQ(g.cpu().exit().mmio.gpa, 0x3e00ffeu);
  EXPECT_EQ(g.cpu().exit().mmio.len, 2u);
  EXPECT_EQ(g.s().rip, Guest::kCode + 10);
  g.cpu().exit().mmio.data[0] = 0x01;
  g.cpu().exit().mmio.data[1] = 0x02;
  ASSERT_EQ(g.run(), Stop::kMmio);
  EXPECT_EQ(g.cpu().exit().mmio.gpa, 0x3e01000u);
  EXPECT_EQ(g.cpu().exit().mmio.len, 2u);
  g.cpu().exit().mmio.data[0] = 0x03;
  g.cpu().exit().mmio.data[1] = 0x04;
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.r(kRax), 0x04030201u);
}

}  // namespace
}  // namespace skvm::cpu::testing
