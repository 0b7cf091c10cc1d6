// Far returns to the same and to an outer privilege level.
#include "cpu/state/far_return.h"
#include "mmu_fixture.h"

namespace skvm::cpu::testing {
namespace {

constexpr uint64_t kGdt = 0x3000;

class FarReturnTest : public MmuTest {
 protected:
  FarReturnTest() {
    next_table_ = 0x101000;
    std::memset(bus_.ram() + 0x100000, 0, 4096);
    long_mode(0x100000);
    map4(0x100000, 0, 0, kP | kRw | kUs, 2);
    put(0x08, make_desc(0, 0xfffff, 0xb, 0, true, true, false, true, true));  // kernel code 64
    put(0x10, make_desc(0, 0xfffff, 0x3, 0, true, true, true, true));         // kernel data
    put(0x18, make_desc(0, 0xfffff, 0xb, 3, true, true, true, true));         // user code 32
    put(0x20, make_desc(0, 0xfffff, 0x3, 3, true, true, true, true));         // user data
    put(0x28, make_desc(0, 0xfffff, 0xb, 3, true, true, false, true, true));  // user code 64
    s().gdt = {kGdt, 0x2f};
    s().seg[kCs].selector = 0x08;
    s().seg[kSs].selector = 0x10;
    s().seg[kDs].selector = 0x10;
    s().seg[kDs].dpl = 0;
    s().seg[kFs] = null_fs();
  }
  static Segment null_fs() {
    Segment fs;
    fs.selector = 0;
    fs.unusable = 1;
    fs.present = 0;
    fs.base = 0x7fff'0000'0000ull;  // user FS base from the MSR
    return fs;
  }
  void put(uint16_t sel, uint64_t d) { bus_.poke<uint64_t>(kGdt + sel, d); }
};

TEST_F(FarReturnTest, IretTo64BitUserLoadsCsSsAndDropsKernelDataSegments) {
  ASSERT_TRUE(far_return_is_outer(s(), 0x2b));
  FarReturn r{0x2b, 0x400000, true, 0x23, 0x7ff0};
  ASSERT_TRUE(far_return(cpu_, r));
  EXPECT_EQ(s().seg[kCs].selector, 0x2b);
  EXPECT_EQ(cpl(s()), 3u);
  EXPECT_EQ(s().rip, 0x400000u);
  EXPECT_EQ(s().seg[kSs].selector, 0x23);
  EXPECT_EQ(s().gpr[kRsp], 0x7ff0u);
  EXPECT_EQ(current_mode(s()), Mode::kLong64);
  EXPECT_TRUE(s().seg[kDs].unusable);                  // DPL 0 data dropped
  EXPECT_EQ(s().seg[kFs].base, 0x7fff'0000'0000ull);   // MSR base kept
}

TEST_F(FarReturnTest, ReturnToCompatibilityModeUser) {
  FarReturn r{0x1b, 0x8048000, true, 0x23, 0xbffff000};
  ASSERT_TRUE(far_return(cpu_, r));
  EXPECT_EQ(current_mode(s()), Mode::kCompat32);
}

TEST_F(FarReturnTest, ReturnToInnerPrivilegeIsGp) {
  s().seg[kCs].selector = 0x2b;
  FarReturn r{0x08, 0x1000, true, 0x10, 0x1000};
  EXPECT_FALSE(far_return(cpu_, r));
  EXPECT_EQ(sig().vector, kGP);
  EXPECT_EQ(sig().error_code, 0x08u);
}

TEST_F(FarReturnTest, NullSsToUserIsGpButAllowedForRing0In64BitMode) {
  FarReturn user{0x2b, 0x400000, true, 0x3, 0x7ff0};
  EXPECT_FALSE(far_return(cpu_, user));
  clear_signals();
  FarReturn kernel{0x08, 0x1000, true, 0, 0x2000};
  EXPECT_TRUE(far_return(cpu_, kernel));
  EXPECT_EQ(s().gpr[kRsp], 0x2000u);
}

TEST_F(FarReturnTest, StackSegmentDplMismatchIsGpWithSelector) {
  FarReturn r{0x2b, 0x400000, true, 0x13, 0x7ff0};  // kernel data with RPL 3
  EXPECT_FALSE(far_return(cpu_, r));
  EXPECT_EQ(sig().error_code, 0x10u);
  EXPECT_EQ(s().seg[kCs].selector, 0x08);  // unchanged
}

TEST_F(FarReturnTest, NonCanonicalReturnAddressIsGpZero) {
  FarReturn r{0x2b, 0x0000'8000'0000'0000ull, true, 0x23, 0x7ff0};
  EXPECT_FALSE(far_return(cpu_, r));
  EXPECT_EQ(sig().error_code, 0u);
}

}  // namespace
}  // namespace skvm::cpu::testing
