// SYSCALL / SYSRET / SYSENTER / SYSEXIT / SWAPGS and LLDT / LTR.
#include "cpu/events/fast_syscall.h"
#include "mmu_fixture.h"

namespace skvm::cpu::testing {
namespace {

class SyscallTest : public MmuTest {
 protected:
  SyscallTest() {
    next_table_ = 0x101000;
    std::memset(bus_.ram() + 0x100000, 0, 4096);
    long_mode(0x100000);
    map4(0x100000, 0, 0, kP | kRw | kUs, 2);
    s().efer |= kEferSCE;
    s().msr.star = (uint64_t{0x23} << 48) | (uint64_t{0x10} << 32);
    s().msr.lstar = 0xffff'ffff'8100'0000ull;
    s().msr.sfmask = kFlagIF | kFlagTF | kFlagDF;
    s().seg[kCs].selector = 0x33;  // user 64-bit
    s().seg[kCs].dpl = 3;
  }
};

TEST_F(SyscallTest, SyscallEntersKernelAndSysretReturns) {
  s().rip = 0x401000;
  s().rflags = kFlagFixed1 | kFlagIF | kFlagCF;
  ASSERT_TRUE(do_syscall(cpu_));
  EXPECT_EQ(s().gpr[kRcx], 0x401000u);
  EXPECT_EQ(s().gpr[kR11], kFlagFixed1 | kFlagIF | kFlagCF);
  EXPECT_EQ(s().rip, 0xffff'ffff'8100'0000ull);
  EXPECT_EQ(s().rflags, kFlagFixed1 | kFlagCF);
  EXPECT_EQ(s().seg[kCs].selector, 0x10);
  EXPECT_EQ(s().seg[kSs].selector, 0x18);
  EXPECT_EQ(cpl(s()), 0u);
  EXPECT_EQ(current_mode(s()), Mode::kLong64);
  ASSERT_TRUE(do_sysret(cpu_, true));
  EXPECT_EQ(s().rip, 0x401000u);
  EXPECT_EQ(s().seg[kCs].selector, 0x33);
  EXPECT_EQ(s().seg[kSs].selector, 0x2b);
  EXPECT_EQ(s().rflags, kFlagFixed1 | kFlagIF | kFlagCF);
  EXPECT_EQ(current_mode(s()), Mode::kLong64);
}

TEST_F(SyscallTest, SysretToCompatibilityMode) {
  s().seg[kCs].selector = 0x10;
  s().gpr[kRcx] = 0xffff'ffff'0804'8000ull;
  ASSERT_TRUE(do_sysret(cpu_, false));
  EXPECT_EQ(s().rip, 0x0804'8000u);
  EXPECT_EQ(s().seg[kCs].selector, 0x23);
  EXPECT_EQ(current_mode(s()), Mode::kCompat32);
}

TEST_F(SyscallTest, SyscallWithoutSceIsUd) {
  s().efer &= ~kEferSCE;
  EXPECT_FALSE(do_syscall(cpu_));
  EXPECT_EQ(sig().vector, kUD);
}

TEST_F(SyscallTest, SysretFromUserIsGpAndNonCanonicalRcxIsGp) {
  EXPECT_FALSE(do_sysret(cpu_, true));
  EXPECT_EQ(sig().vector, kGP);
  clear_signals();
  s().seg[kCs].selector = 0x10;
  s().gpr[kRcx] = 0x0000'8000'0000'0000ull;
  EXPECT_FALSE(do_sysret(cpu_, true));
  EXPECT_EQ(sig().vector, kGP);
}

TEST_F(SyscallTest, SwapgsExchangesBases) {
  s().seg[kCs].selector = 0x10;
  s().seg[kGs].base = 1;
  s().msr.kernel_gs_base = 2;
  ASSERT_TRUE(do_swapgs(cpu_));
  EXPECT_EQ(s().seg[kGs].base, 2u);
  EXPECT_EQ(s().msr.kernel_gs_base, 1u);
}

TEST_F(SyscallTest, SysenterAndSysexit64) {
  s().msr.sysenter_cs = 0x10;
  s().msr.sysenter_eip = 0xffff'ffff'8200'0000ull;
  s().msr.sysenter_esp = 0xffff'c900'0000'0000ull;
  s().rflags = kFlagFixed1 | kFlagIF;
  ASSERT_TRUE(do_sysenter(cpu_));
  EXPECT_EQ(s().rip, 0xffff'ffff'8200'0000ull);
  EXPECT_EQ(s().gpr[kRsp], 0xffff'c900'0000'0000ull);
  EXPECT_FALSE(s().rflags & kFlagIF);
  EXPECT_EQ(current_mode(s()), Mode::kLong64);
  s().gpr[kRdx] = 0x400000;
  s().gpr[kRcx] = 0x7ff000;
  ASSERT_TRUE(do_sysexit(cpu_, true));
  EXPECT_EQ(s().seg[kCs].selector, 0x33);
  EXPECT_EQ(s().seg[kSs].selector, 0x3b);
  EXPECT_EQ(s().rip, 0x400000u);
  EXPECT_EQ(cpl(s()), 3u);
}

TEST_F(SyscallTest, LtrLoadsSixteenByteDescriptorAndSetsBusy) {
  s().seg[kCs].selector = 0x10;
  constexpr uint64_t kGdt = 0x3000;
  bus_.poke<uint64_t>(kGdt + 0x40, make_desc(0x5000, 0x67, 0x9, 0, false));
  bus_.poke<uint64_t>(kGdt + 0x48, 0x00010000ull);  // base bits 63:32
  s().gdt = {kGdt, 0x4f};
  // Non-canonical base: #GP(sel).
  EXPECT_FALSE(load_tr(cpu_, 0x40));
  EXPECT_EQ(sig().error_code, 0x40u);
  clear_signals();
  bus_.poke<uint64_t>(kGdt + 0x48, 0);
  ASSERT_TRUE(load_tr(cpu_, 0x40));
  EXPECT_EQ(s().tr.base, 0x5000u);
  EXPECT_EQ(s().tr.type, 0xb);
  EXPECT_EQ((bus_.peek<uint64_t>(kGdt + 0x40) >> 40) & 0xf, 0xbu);
  // A busy TSS cannot be loaded again.
  EXPECT_FALSE(load_tr(cpu_, 0x40));
  EXPECT_EQ(sig().vector, kGP);
}

TEST_F(SyscallTest, LldtNullMakesLdtUnusableAndWrongTypeIsGp) {
  s().seg[kCs].selector = 0x10;
  ASSERT_TRUE(load_ldt(cpu_, 0));
  EXPECT_TRUE(s().ldt.unusable);
  constexpr uint64_t kGdt = 0x3000;
  bus_.poke<uint64_t>(kGdt + 0x40, make_desc(0x5000, 0x67, 0x9, 0, false));
  s().gdt = {kGdt, 0x4f};
  EXPECT_FALSE(load_ldt(cpu_, 0x40));
  EXPECT_EQ(sig().error_code, 0x40u);
}

}  // namespace
}  // namespace skvm::cpu::testing
