// Exception and interrupt delivery: real-mode IVT, 32-bit and 64-bit IDT
// with stack switches and IST, double-fault classes, triple fault.
#include "mmu_fixture.h"

namespace skvm::cpu::testing {
namespace {

constexpr uint64_t kGdt = 0x3000, kTss = 0x4000, kIdt = 0x5000;

class EventsTest : public MmuTest {
 protected:
  bool deliver(EventKind kind, uint8_t vector, bool has_error, uint32_t error, uint64_t rip) {
    return deliver_event(cpu_, kind, vector, has_error, error, rip, &shutdown_);
  }
  template <typename T>
  T stack(uint64_t off) {
    return bus_.peek<T>(s().gpr[kRsp] + off);
  }
  bool shutdown_ = false;
};

TEST_F(EventsTest, RealModeInterruptGoesThroughIvt) {
  bus_.poke<uint16_t>(0x21 * 4, 0x1234);
  bus_.poke<uint16_t>(0x21 * 4 + 2, 0x2000);
  s().idt = {0, 0x3ff};
  s().seg[kCs].selector = 0x700;
  s().seg[kCs].base = 0x7000;
  s().gpr[kRsp] = 0x7000;
  s().rflags = kFlagFixed1 | kFlagIF | kFlagTF | kFlagCF;
  ASSERT_TRUE(deliver(EventKind::kSoftwareInt, 0x21, false, 0, 0x100));
  EXPECT_EQ(s().gpr[kRsp], 0x6ffau);
  EXPECT_EQ(bus_.peek<uint16_t>(0x6ffa), 0x100);
  EXPECT_EQ(bus_.peek<uint16_t>(0x6ffc), 0x700);
  EXPECT_EQ(bus_.peek<uint16_t>(0x6ffe), kFlagFixed1 | kFlagIF | kFlagTF | kFlagCF);
  EXPECT_EQ(s().seg[kCs].selector, 0x2000);
  EXPECT_EQ(s().seg[kCs].base, 0x20000u);
  EXPECT_EQ(s().rip, 0x1234u);
  EXPECT_EQ(s().rflags, kFlagFixed1 | kFlagCF);
}

TEST_F(EventsTest, RealModeExceptionPushesNoErrorCode) {
  bus_.poke<uint32_t>(13 * 4, 0x00001000);
  s().idt = {0, 0x3ff};
  s().gpr[kRsp] = 0x7000;
  ASSERT_TRUE(deliver(EventKind::kException, kGP, true, 0, 0x55));
  EXPECT_EQ(s().gpr[kRsp], 0x6ffau);
  EXPECT_EQ(bus_.peek<uint16_t>(0x6ffa), 0x55);
}

// 64-bit mode with an identity-mapped first 2 MiB (user accessible).
class Events64Test : public EventsTest {
 protected:
  Events64Test() {
    next_table_ = 0x101000;
    std::memset(bus_.ram() + 0x100000, 0, 4096);
    long_mode(0x100000);
    map4(0x100000, 0, 0, kP | kRw | kUs, 2);
    bus_.poke<uint64_t>(kGdt + 0x08, make_desc(0, 0xfffff, 0xb, 0, true, true, false, true, true));
    bus_.poke<uint64_t>(kGdt + 0x10, make_desc(0, 0xfffff, 0x3, 0, true, true, true, true));
    bus_.poke<uint64_t>(kGdt + 0x18, make_desc(0, 0xfffff, 0x3, 3, true, true, true, true));
    bus_.poke<uint64_t>(kGdt + 0x20, make_desc(0, 0xfffff, 0xb, 3, true, true, false, true, true));
    s().gdt = {kGdt, 0x27};
    s().idt = {kIdt, 0xfff};
    s().tr.base = kTss;
    s().tr.limit = 0x67;
    s().tr.type = 0xb;
    s().tr.selector = 0x28;
    s().gpr[kRsp] = 0x7000;
    bus_.poke<uint64_t>(kTss + 4, 0x9000);    // RSP0
    bus_.poke<uint64_t>(kTss + 36, 0xa000);   // IST1
    for (uint8_t v : {kDE, kNMI, kUD, kDF, kNP, kGP, kPF}) set_gate(v, 0x08, 0x1000 + v * 0x10, 0xe, 0, v == kDF || v == kNMI ? 1 : 0);
    set_gate(0x80, 0x08, 0x2000, 0xf, 3, 0);
    set_gate(0x81, 0x08, 0x2100, 0xe, 0, 0);
  }
  void set_gate(uint8_t vector, uint16_t sel, uint64_t offset, unsigned type, unsigned dpl, unsigned ist,
                bool present = true) {
    uint64_t lo = (offset & 0xffff) | (uint64_t{sel} << 16) | (uint64_t{ist} << 32) |
                  (uint64_t{type} << 40) | (uint64_t{dpl} << 45) | (uint64_t{present} << 47) |
                  ((offset >> 16) & 0xffff) << 48;
    bus_.poke<uint64_t>(kIdt + vector * 16, lo);
    bus_.poke<uint64_t>(kIdt + vector * 16 + 8, offset >> 32);
  }
  void user64() {
    s().seg[kCs] = Segment{0, 0xffffffff, 0x23, 0xb, 1, 3, 0, 1, 1, 1};
    s().seg[kSs] = Segment{0, 0xffffffff, 0x1b, 0x3, 1, 3, 1, 1, 0, 1};
    s().gpr[kRsp] = 0x8000;
    s().rflags = kFlagFixed1 | kFlagIF;
  }
};

TEST_F(Events64Test, UserFaultSwitchesToRsp0AndPushesFullFrame) {
  user64();
  ASSERT_TRUE(deliver(EventKind::kException, kGP, true, 0x10, 0x400123));
  EXPECT_EQ(s().seg[kCs].selector, 0x08);
  EXPECT_EQ(s().seg[kSs].selector, 0);
  EXPECT_EQ(s().gpr[kRsp], 0x9000u - 48);
  EXPECT_EQ(stack<uint64_t>(0), 0x10u);
  EXPECT_EQ(stack<uint64_t>(8), 0x400123u);
  EXPECT_EQ(stack<uint64_t>(16), 0x23u);
  EXPECT_EQ(stack<uint64_t>(24), kFlagFixed1 | kFlagIF | kFlagRF);  // fault: RF pushed set
  EXPECT_EQ(stack<uint64_t>(32), 0x8000u);
  EXPECT_EQ(stack<uint64_t>(40), 0x1bu);
  EXPECT_EQ(s().rip, 0x1000u + kGP * 0x10);
  EXPECT_FALSE(s().rflags & kFlagIF);  // interrupt gate
  EXPECT_EQ(cpl(s()), 0u);
  EXPECT_EQ(current_mode(s()), Mode::kLong64);
}

TEST_F(Events64Test, SupervisorInterruptAlignsStackAndKeepsSs) {
  s().seg[kSs].selector = 0x10;
  s().gpr[kRsp] = 0x7008;
  ASSERT_TRUE(deliver(EventKind::kExternal, 0x81, false, 0, 0x500));
  EXPECT_EQ(s().gpr[kRsp], 0x7000u - 40);
  EXPECT_EQ(s().seg[kSs].selector, 0x10);
  EXPECT_EQ(stack<uint64_t>(24), 0x7008u);  // old RSP
  EXPECT_FALSE(stack<uint64_t>(16) & kFlagRF);  // interrupts push RF as is
  EXPECT_EQ(s().rip, 0x2100u);
}

TEST_F(Events64Test, IstStackIsUsedForNmiAndNmiIsMasked) {
  s().gpr[kRsp] = 0x7000;
  ASSERT_TRUE(deliver(EventKind::kNmi, kNMI, false, 0, 0x500));
  EXPECT_EQ(s().gpr[kRsp], 0xa000u - 40);
  EXPECT_TRUE(s().nmi_masked);
}

TEST_F(Events64Test, SoftwareIntToTrapGateKeepsIf) {
  user64();
  ASSERT_TRUE(deliver(EventKind::kSoftwareInt, 0x80, false, 0, 0x400002));
  EXPECT_TRUE(s().rflags & kFlagIF);
  EXPECT_EQ(s().rip, 0x2000u);
}

TEST_F(Events64Test, SoftwareIntThroughDpl0GateFromUserIsGp) {
  user64();
  ASSERT_TRUE(deliver(EventKind::kSoftwareInt, 0x81, false, 0, 0x400002));
  // #GP(0x81*8+2) delivered instead, with its error code on the stack.
  EXPECT_EQ(s().rip, 0x1000u + kGP * 0x10);
  EXPECT_EQ(stack<uint64_t>(0), 0x81u * 8 + 2);
}

TEST_F(Events64Test, BenignThenContributoryIsDeliveredSerially) {
  set_gate(kUD, 0x08, 0x1060, 0xe, 0, 0, false);
  ASSERT_TRUE(deliver(EventKind::kException, kUD, false, 0, 0x500));
  EXPECT_EQ(s().rip, 0x1000u + kNP * 0x10);
  EXPECT_EQ(stack<uint64_t>(0), kUD * 8u + 2 + 1);  // IDT | EXT
}

TEST_F(Events64Test, ContributoryDuringContributoryIsDoubleFault) {
  set_gate(kGP, 0x08, 0x10d0, 0xe, 0, 0, false);  // #GP gate not present -> #NP
  ASSERT_TRUE(deliver(EventKind::kException, kGP, true, 0, 0x500));
  EXPECT_EQ(s().rip, 0x1000u + kDF * 0x10);
  EXPECT_EQ(s().gpr[kRsp], 0xa000u - 48);  // #DF on IST1
  EXPECT_EQ(stack<uint64_t>(0), 0u);         // #DF error code
}

TEST_F(Events64Test, PageFaultWhilePushingPageFaultFrameIsDoubleFault) {
  user64();
  bus_.poke<uint64_t>(kTss + 4, 0x4000'0000);  // RSP0 in unmapped memory
  sig().exception = true;
  sig().vector = kPF;
  sig().fault_cr2 = 0xdead000;
  ASSERT_TRUE(deliver(EventKind::kException, kPF, true, 6, 0x500));
  EXPECT_EQ(s().rip, 0x1000u + kDF * 0x10);
  EXPECT_EQ(s().cr2, 0x3fff'ffd0u);  // the second #PF's address
}

TEST_F(Events64Test, PageFaultDeliverySetsCr2) {
  sig().exception = true;
  sig().vector = kPF;
  sig().fault_cr2 = 0xdead000;
  ASSERT_TRUE(deliver(EventKind::kException, kPF, true, 2, 0x500));
  EXPECT_EQ(s().cr2, 0xdead000u);
  EXPECT_FALSE(sig().exception);
  EXPECT_EQ(stack<uint64_t>(0), 2u);
}

TEST_F(Events64Test, FaultWhileDeliveringDoubleFaultIsTripleFault) {
  set_gate(kGP, 0x08, 0x10d0, 0xe, 0, 0, false);
  set_gate(kDF, 0x08, 0x1080, 0xe, 0, 1, false);
  EXPECT_FALSE(deliver(EventKind::kException, kGP, true, 0, 0x500));
  EXPECT_TRUE(shutdown_);
}

TEST_F(Events64Test, IdtLimitViolationIsGpWithIdtBit) {
  s().idt.limit = 16 * 0x20 - 1;
  ASSERT_TRUE(deliver(EventKind::kExternal, 0x30, false, 0, 0x500));
  EXPECT_EQ(s().rip, 0x1000u + kGP * 0x10);
  EXPECT_EQ(stack<uint64_t>(0), 0x30u * 8 + 2 + 1);
}

// 32-bit protected mode, flat segments, no paging.
class Events32Test : public EventsTest {
 protected:
  Events32Test() {
    flat_protected32();
    bus_.poke<uint64_t>(kGdt + 0x08, make_desc(0, 0xfffff, 0xb, 0, true, true, true, true));
    bus_.poke<uint64_t>(kGdt + 0x10, make_desc(0, 0xfffff, 0x3, 0, true, true, true, true));
    bus_.poke<uint64_t>(kGdt + 0x18, make_desc(0, 0xfffff, 0xb, 3, true, true, true, true));
    bus_.poke<uint64_t>(kGdt + 0x20, make_desc(0, 0xfffff, 0x3, 3, true, true, true, true));
    s().gdt = {kGdt, 0x27};
    s().idt = {kIdt, 0x7ff};
    s().tr.base = kTss;
    s().tr.limit = 0x67;
    s().tr.type = 0xb;
    bus_.poke<uint32_t>(kTss + 4, 0x9000);  // ESP0
    bus_.poke<uint16_t>(kTss + 8, 0x10);    // SS0
    uint64_t gate = 0x3000 | (uint64_t{0x08} << 16) | (uint64_t{0xe} << 40) | (1ull << 47);
    bus_.poke<uint64_t>(kIdt + 0x20 * 8, gate);
  }
};

TEST_F(Events32Test, UserInterruptSwitchesToTssStack) {
  s().seg[kCs] = Segment{0, 0xffffffff, 0x1b, 0xb, 1, 3, 1, 1, 0, 1};
  s().seg[kSs] = Segment{0, 0xffffffff, 0x23, 0x3, 1, 3, 1, 1, 0, 1};
  s().gpr[kRsp] = 0x8000;
  s().rflags = kFlagFixed1 | kFlagIF;
  ASSERT_TRUE(deliver(EventKind::kExternal, 0x20, false, 0, 0x1234));
  EXPECT_EQ(s().gpr[kRsp], 0x9000u - 20);
  EXPECT_EQ(stack<uint32_t>(0), 0x1234u);
  EXPECT_EQ(stack<uint32_t>(4), 0x1bu);
  EXPECT_EQ(stack<uint32_t>(8), kFlagFixed1 | kFlagIF);
  EXPECT_EQ(stack<uint32_t>(12), 0x8000u);
  EXPECT_EQ(stack<uint32_t>(16), 0x23u);
  EXPECT_EQ(s().seg[kSs].selector, 0x10);
  EXPECT_EQ(s().seg[kCs].selector, 0x08);
  EXPECT_EQ(s().rip, 0x3000u);
  EXPECT_EQ(current_mode(s()), Mode::kProt32);
  // Accessed bits written back to the GDT.
  EXPECT_TRUE(bus_.peek<uint64_t>(kGdt + 0x08) & (1ull << 40));
}

// Task gates switch tasks now (events/task_switch.h): tests in
// task_switch_test.cpp. A task gate naming a selector beyond the GDT is
// #GP(selector + EXT), escalated here to a triple fault (no #GP gate).
TEST_F(Events32Test, TaskGateToASelectorBeyondTheGdtFaults) {
  bus_.poke<uint64_t>(kIdt + 0x21 * 8, (uint64_t{0x7f8} << 16) | (uint64_t{0x5} << 40) | (1ull << 47));
  EXPECT_FALSE(deliver(EventKind::kExternal, 0x21, false, 0, 0x1234));
  EXPECT_NE(cpu_.exit().reason, Stop::kInternal);
  EXPECT_FALSE(sig().exit_now);
}

}  // namespace
}  // namespace skvm::cpu::testing

namespace skvm::cpu::testing {
namespace {

TEST_F(EventsTest, IdtInUnbackedMemoryIsInternalErrorNotMmioExit) {
  flat_protected32();
  s().idt = {0x800000, 0x7ff};  // beyond the 4 MiB of RAM
  bool shutdown = true;
  EXPECT_FALSE(deliver_event(cpu_, EventKind::kExternal, 0x20, false, 0, 0x100, &shutdown));
  EXPECT_FALSE(shutdown);
  EXPECT_EQ(cpu_.exit().reason, Stop::kInternal);
  EXPECT_TRUE(sig().exit_now);
}

}  // namespace
}  // namespace skvm::cpu::testing

namespace skvm::cpu::testing {
namespace {

class EventsV86Test : public Events32Test {
 protected:
  EventsV86Test() {
    s().rflags = kFlagFixed1 | kFlagVM | kFlagIF;
    for (SegReg r : {kEs, kSs, kDs, kFs, kGs}) {
      EXPECT_TRUE(load_segment(cpu_, r, static_cast<uint16_t>(0x100 + r)));
    }
    s().seg[kCs] = s().seg[kDs];
    s().seg[kCs].selector = 0x200;
    s().seg[kCs].base = 0x2000;
    s().gpr[kRsp] = 0x800;
  }
};

TEST_F(EventsV86Test, InterruptFromV86PushesDataSegmentsAndLeavesV86) {
  ASSERT_TRUE(deliver(EventKind::kExternal, 0x20, false, 0, 0x44));
  EXPECT_EQ(s().gpr[kRsp], 0x9000u - 36);
  EXPECT_EQ(stack<uint32_t>(0), 0x44u);              // EIP
  EXPECT_EQ(stack<uint32_t>(4), 0x200u);             // CS
  EXPECT_TRUE(stack<uint32_t>(8) & kFlagVM);          // EFLAGS
  EXPECT_EQ(stack<uint32_t>(12), 0x800u);            // ESP
  EXPECT_EQ(stack<uint32_t>(16), 0x102u);            // SS
  EXPECT_EQ(stack<uint32_t>(20), 0x100u);            // ES
  EXPECT_EQ(stack<uint32_t>(24), 0x103u);            // DS
  EXPECT_EQ(stack<uint32_t>(28), 0x104u);            // FS
  EXPECT_EQ(stack<uint32_t>(32), 0x105u);            // GS
  EXPECT_FALSE(s().rflags & kFlagVM);
  EXPECT_TRUE(s().seg[kDs].unusable);
  EXPECT_EQ(current_mode(s()), Mode::kProt32);
}

TEST_F(EventsV86Test, IntNWithIoplBelowThreeIsGpZero) {
  bus_.poke<uint64_t>(kIdt + 13 * 8, 0x3100 | (uint64_t{0x08} << 16) | (uint64_t{0xe} << 40) | (1ull << 47));
  ASSERT_TRUE(deliver(EventKind::kSoftwareInt, 0x21, false, 0, 0x44));
  EXPECT_EQ(s().rip, 0x3100u);  // #GP handler
  EXPECT_EQ(stack<uint32_t>(0), 0u);  // error code 0
}

TEST_F(Events32Test, SixteenBitInterruptGatePushesWords) {
  uint64_t gate = 0x3200 | (uint64_t{0x08} << 16) | (uint64_t{0x6} << 40) | (1ull << 47);
  bus_.poke<uint64_t>(kIdt + 0x22 * 8, gate);
  s().gpr[kRsp] = 0x7000;
  s().rflags = kFlagFixed1 | kFlagIF;
  ASSERT_TRUE(deliver(EventKind::kExternal, 0x22, false, 0, 0x1234));
  EXPECT_EQ(s().gpr[kRsp], 0x7000u - 6);
  EXPECT_EQ(stack<uint16_t>(0), 0x1234);
  EXPECT_EQ(stack<uint16_t>(2), 0x8);
  EXPECT_EQ(s().rip, 0x3200u);
  EXPECT_FALSE(s().rflags & kFlagIF);
}

}  // namespace
}  // namespace skvm::cpu::testing
