// Segment register loads (MOV Sreg, far JMP/CALL): descriptor checks,
// null selectors, accessed bit, mode switches through CS.L.
#include "mmu_fixture.h"

namespace skvm::cpu::testing {
namespace {

constexpr uint64_t kGdt = 0x3000;

class StateSegmentTest : public MmuTest {
 protected:
  StateSegmentTest() {
    flat_protected32();
    put(0x08, make_desc(0, 0xfffff, 0xb, 0, true, true, true, true));            // code 32, DPL 0
    put(0x10, make_desc(0x10000, 0xfff, 0x2, 0));                                // data RW, not accessed
    put(0x18, make_desc(0, 0xfffff, 0x3, 3, true, true, true, true));            // data DPL 3
    put(0x20, make_desc(0, 0xfffff, 0x1, 0, true, true, true, true));            // data read-only
    put(0x28, make_desc(0, 0xfffff, 0x3, 0, true, false, true, true));           // not present
    put(0x30, make_desc(0, 0xfffff, 0x9, 0, true, true, true, true));            // execute-only code
    put(0x38, make_desc(0, 0xfffff, 0xb, 0, true, true, false, true, true));     // code 64
    put(0x40, make_desc(0x4000, 0x67, 0x9, 0, false));                           // TSS (system)
    put(0x48, make_desc(0, 0xfffff, 0xf, 3, true, true, true, true));            // conforming, DPL 3
    s().gdt = {kGdt, 0x4f};
  }
  void put(uint16_t sel, uint64_t d) { bus_.poke<uint64_t>(kGdt + sel, d); }
};

TEST_F(StateSegmentTest, DataSegmentLoadDecodesDescriptorAndSetsAccessedBit) {
  ASSERT_TRUE(load_segment(cpu_, kDs, 0x10));
  const Segment& ds = s().seg[kDs];
  EXPECT_EQ(ds.base, 0x10000u);
  EXPECT_EQ(ds.limit, 0xfffu);
  EXPECT_EQ(ds.type, 0x3);
  EXPECT_EQ(ds.selector, 0x10);
  EXPECT_TRUE(bus_.peek<uint64_t>(kGdt + 0x10) & (1ull << 40));
}

TEST_F(StateSegmentTest, SelectorBeyondGdtLimitIsGpWithSelector) {
  EXPECT_FALSE(load_segment(cpu_, kEs, 0x53));
  EXPECT_EQ(sig().vector, kGP);
  EXPECT_EQ(sig().error_code, 0x50u);
}

TEST_F(StateSegmentTest, NotPresentDataSegmentIsNpAndStackIsSs) {
  EXPECT_FALSE(load_segment(cpu_, kDs, 0x28));
  EXPECT_EQ(sig().vector, kNP);
  EXPECT_EQ(sig().error_code, 0x28u);
  clear_signals();
  EXPECT_FALSE(load_segment(cpu_, kSs, 0x28));
  EXPECT_EQ(sig().vector, kSS);
}

TEST_F(StateSegmentTest, StackSegmentMustBeWritableWithDplEqualCpl) {
  EXPECT_FALSE(load_segment(cpu_, kSs, 0x20));  // read-only
  EXPECT_EQ(sig().vector, kGP);
  clear_signals();
  EXPECT_FALSE(load_segment(cpu_, kSs, 0x1b));  // RPL 3 != CPL 0
  clear_signals();
  EXPECT_FALSE(load_segment(cpu_, kSs, 0));     // null SS outside 64-bit mode
  EXPECT_EQ(sig().error_code, 0u);
  clear_signals();
  EXPECT_TRUE(load_segment(cpu_, kSs, 0x10));
}

TEST_F(StateSegmentTest, DataSegmentWithDplBelowCplIsGp) {
  s().seg[kCs].selector = 0x4b;  // CPL 3
  EXPECT_FALSE(load_segment(cpu_, kDs, 0x13));
  EXPECT_EQ(sig().vector, kGP);
  clear_signals();
  EXPECT_TRUE(load_segment(cpu_, kDs, 0x1b));
}

TEST_F(StateSegmentTest, ExecuteOnlyCodeCannotBeDataAndSystemDescriptorIsGp) {
  EXPECT_FALSE(load_segment(cpu_, kDs, 0x30));
  clear_signals();
  EXPECT_FALSE(load_segment(cpu_, kDs, 0x40));
  EXPECT_EQ(sig().error_code, 0x40u);
}

TEST_F(StateSegmentTest, NullSelectorMakesSegmentUnusable) {
  ASSERT_TRUE(load_segment(cpu_, kGs, 0));
  EXPECT_TRUE(s().seg[kGs].unusable);
}

TEST_F(StateSegmentTest, LdtSelectorWithoutLdtIsGp) {
  s().ldt.unusable = 1;
  EXPECT_FALSE(load_segment(cpu_, kDs, 0x14));
  EXPECT_EQ(sig().error_code, 0x14u);
  EXPECT_EQ(sig().vector, kGP);
}

TEST_F(StateSegmentTest, V86SegmentLoadIsSelectorTimesSixteenDpl3) {
  s().rflags |= kFlagVM;
  ASSERT_TRUE(load_segment(cpu_, kDs, 0x1234));
  EXPECT_EQ(s().seg[kDs].base, 0x12340u);
  EXPECT_EQ(s().seg[kDs].limit, 0xffffu);
  EXPECT_EQ(s().seg[kDs].dpl, 3);
}

TEST_F(StateSegmentTest, FarJumpToCodeSegmentLoadsCsAndRip) {
  ASSERT_TRUE(load_code_segment(cpu_, 0x08, 0x1234));
  EXPECT_EQ(s().seg[kCs].selector, 0x08);
  EXPECT_EQ(s().rip, 0x1234u);
}

TEST_F(StateSegmentTest, FarJumpToDataSegmentIsGp) {
  EXPECT_FALSE(load_code_segment(cpu_, 0x10, 0));
  EXPECT_EQ(sig().vector, kGP);
  EXPECT_EQ(sig().error_code, 0x10u);
}

TEST_F(StateSegmentTest, FarJumpBeyondLimitIsGpZero) {
  put(0x08, make_desc(0, 0xfff, 0xb, 0));
  EXPECT_FALSE(load_code_segment(cpu_, 0x08, 0x1000));
  EXPECT_EQ(sig().error_code, 0u);
}

TEST_F(StateSegmentTest, ConformingCodeKeepsCpl) {
  ASSERT_FALSE(load_code_segment(cpu_, 0x48, 0));  // conforming needs DPL <= CPL
  EXPECT_EQ(sig().vector, kGP);
  clear_signals();
  s().seg[kCs].selector = 0x4b;  // CPL 3
  ASSERT_TRUE(load_code_segment(cpu_, 0x48, 0x10));
  EXPECT_EQ(s().seg[kCs].selector, 0x4b);
  EXPECT_EQ(cpl(s()), 3u);
}

TEST_F(StateSegmentTest, FarJumpToLongModeCodeEntersLong64) {
  next_table_ = 0x101000;
  long_mode(0x100000);
  map4(0x100000, 0, 0, kP | kRw, 2);
  s().seg[kCs].l = 0;
  s().seg[kCs].db = 1;
  ASSERT_EQ(current_mode(s()), Mode::kCompat32);
  ASSERT_TRUE(load_code_segment(cpu_, 0x38, 0x5000));
  EXPECT_EQ(current_mode(s()), Mode::kLong64);
}

// Far JMP/CALL to a TSS switch tasks before they reach load_code_segment
// (events/task_switch.h); what reaches it with a TSS selector is a RETF to
// one: not a code segment, #GP(selector).
TEST_F(StateSegmentTest, CodeSegmentLoadOfATssSelectorIsGpWithTheSelector) {
  EXPECT_FALSE(load_code_segment(cpu_, 0x40, 0));
  EXPECT_TRUE(sig().exception);
  EXPECT_EQ(sig().vector, kGP);
  EXPECT_EQ(sig().error_code, 0x40u);
  EXPECT_FALSE(sig().exit_now);
}

TEST_F(StateSegmentTest, LdtSelectorReadsTheLdt) {
  bus_.poke<uint64_t>(0x6000 + 8, make_desc(0x20000, 0xffff, 0x3, 0));
  s().ldt = Segment{0x6000, 0xf, 0x30, 0x2, 1, 0, 0, 0};
  ASSERT_TRUE(load_segment(cpu_, kDs, 0x0c));
  EXPECT_EQ(s().seg[kDs].base, 0x20000u);
  EXPECT_TRUE(bus_.peek<uint64_t>(0x6008) & (1ull << 40));  // accessed bit in the LDT
}

TEST_F(StateSegmentTest, RealModeFarJump) {
  s().cr0 = kCr0ET;
  ASSERT_TRUE(load_code_segment(cpu_, 0xf000, 0xfff0));
  EXPECT_EQ(s().seg[kCs].base, 0xf0000u);
  EXPECT_EQ(s().rip, 0xfff0u);
}

}  // namespace
}  // namespace skvm::cpu::testing
