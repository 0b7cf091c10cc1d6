// Segmented accesses: real-mode limits, protected-mode limit and type
// checks, expand-down segments, 64-bit canonical checks, #AC.
#include "mmu_fixture.h"

namespace skvm::cpu::testing {
namespace {

class SegmentTest : public MmuTest {
 protected:
  bool read16(SegReg seg, uint64_t off, uint16_t* v) { return read_mem(cpu_, seg, off, v, 2); }
  bool write16(SegReg seg, uint64_t off, uint16_t v) { return write_mem(cpu_, seg, off, &v, 2); }
};

TEST_F(SegmentTest, RealModeReadUsesSelectorTimesSixteen) {
  ASSERT_TRUE(load_segment(cpu_, kDs, 0x1000));
  bus_.poke<uint16_t>(0x10000 + 0x20, 0x4242);
  uint16_t v = 0;
  EXPECT_TRUE(read16(kDs, 0x20, &v));
  EXPECT_EQ(v, 0x4242);
}

TEST_F(SegmentTest, RealModeWordAtOffsetFfffIsGpAndOnStackIsSs) {
  uint16_t v;
  EXPECT_FALSE(read16(kDs, 0xffff, &v));
  EXPECT_EQ(sig().vector, kGP);
  clear_signals();
  EXPECT_FALSE(write16(kSs, 0xffff, 1));
  EXPECT_EQ(sig().vector, kSS);
  EXPECT_EQ(sig().error_code, 0u);
}

TEST_F(SegmentTest, UnrealModeLimitSurvivesRealModeSegmentLoad) {
  s().seg[kDs].limit = 0xffffffff;
  ASSERT_TRUE(load_segment(cpu_, kDs, 0));
  EXPECT_EQ(s().seg[kDs].limit, 0xffffffffu);
  bus_.poke<uint16_t>(0x123456, 0x7777);
  uint16_t v = 0;
  EXPECT_TRUE(read16(kDs, 0x123456, &v));
  EXPECT_EQ(v, 0x7777);
}

TEST_F(SegmentTest, ProtectedModeLimitViolationIsGpZero) {
  flat_protected32();
  s().seg[kEs].limit = 0xfff;
  s().seg[kEs].g = 0;
  uint16_t v;
  EXPECT_TRUE(read16(kEs, 0xffe, &v));
  EXPECT_FALSE(read16(kEs, 0xfff, &v));
  EXPECT_EQ(sig().vector, kGP);
  EXPECT_EQ(sig().error_code, 0u);
}

TEST_F(SegmentTest, WriteToReadOnlyDataSegmentIsGp) {
  flat_protected32();
  s().seg[kDs].type = 1;  // read-only, accessed
  EXPECT_FALSE(write16(kDs, 0x100, 1));
  EXPECT_EQ(sig().vector, kGP);
}

TEST_F(SegmentTest, WriteThroughCodeSegmentIsGpAndReadNeedsReadableCode) {
  flat_protected32();
  EXPECT_FALSE(write16(kCs, 0x100, 1));
  EXPECT_EQ(sig().vector, kGP);
  clear_signals();
  uint16_t v;
  EXPECT_TRUE(read16(kCs, 0x100, &v));  // type 0xb: readable
  s().seg[kCs].type = 0x9;             // execute-only
  EXPECT_FALSE(read16(kCs, 0x100, &v));
  EXPECT_EQ(sig().vector, kGP);
}

TEST_F(SegmentTest, NullSegmentUseIsGpZero) {
  flat_protected32();
  ASSERT_TRUE(load_segment(cpu_, kFs, 0));
  uint16_t v;
  EXPECT_FALSE(read16(kFs, 0, &v));
  EXPECT_EQ(sig().vector, kGP);
  EXPECT_EQ(sig().error_code, 0u);
}

TEST_F(SegmentTest, ExpandDownSegmentAcceptsOnlyAboveLimit) {
  flat_protected32();
  Segment& ss = s().seg[kSs];
  ss.type = 7;  // expand-down, writable, accessed
  ss.limit = 0x0fff;
  ss.db = 0;    // upper bound 0xffff
  ss.g = 0;
  EXPECT_TRUE(write16(kSs, 0x1000, 1));
  EXPECT_TRUE(write16(kSs, 0xfffe, 1));
  EXPECT_FALSE(write16(kSs, 0x0ffe, 1));
  EXPECT_EQ(sig().vector, kSS);
  clear_signals();
  EXPECT_FALSE(write16(kSs, 0xffff, 1));
  EXPECT_EQ(sig().vector, kSS);
}

TEST_F(SegmentTest, LongModeIgnoresBaseExceptFsGs) {
  long_mode(0x100000);
  // identity map the first 2 MiB so the access can complete
  map4(0x100000, 0, 0, kP | kRw, 2);
  s().seg[kDs].base = 0x1000;
  s().seg[kFs].base = 0x2000;
  uint64_t la = 0;
  ASSERT_TRUE(seg_to_linear(cpu_, kDs, 0x10, 4, Acc::kRead, &la));
  EXPECT_EQ(la, 0x10u);
  ASSERT_TRUE(seg_to_linear(cpu_, kFs, 0x10, 4, Acc::kRead, &la));
  EXPECT_EQ(la, 0x2010u);
}

TEST_F(SegmentTest, LongModeNonCanonicalIsGpOrSsForStack) {
  long_mode(0x100000);
  uint64_t la;
  EXPECT_FALSE(seg_to_linear(cpu_, kDs, 0x0000'8000'0000'0000ull, 4, Acc::kRead, &la));
  EXPECT_EQ(sig().vector, kGP);
  clear_signals();
  EXPECT_FALSE(seg_to_linear(cpu_, kSs, 0x0000'7fff'ffff'fffeull, 4, Acc::kWrite, &la));
  EXPECT_EQ(sig().vector, kSS);
  EXPECT_EQ(sig().error_code, 0u);
  clear_signals();
  EXPECT_TRUE(seg_to_linear(cpu_, kDs, 0xffff'8000'0000'0000ull, 4, Acc::kRead, &la));
}

TEST_F(SegmentTest, AlignmentCheckOnlyAtCpl3WithAmAndAc) {
  flat_protected32();
  uint16_t v;
  s().cr0 |= kCr0AM;
  s().rflags |= kFlagAC;
  EXPECT_TRUE(read16(kDs, 0x101, &v));  // CPL 0: no #AC
  s().seg[kCs].selector |= 3;
  s().seg[kSs].selector |= 3;
  EXPECT_FALSE(read16(kDs, 0x101, &v));
  EXPECT_EQ(sig().vector, kAC);
  EXPECT_TRUE(sig().has_error);
  clear_signals();
  s().rflags &= ~kFlagAC;
  EXPECT_TRUE(read16(kDs, 0x101, &v));
}

}  // namespace
}  // namespace skvm::cpu::testing
