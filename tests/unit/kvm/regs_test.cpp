// Register conversions and the vCPU reset state (values dumped from the host
// /dev/kvm: KVM_GET_REGS / KVM_GET_SREGS / KVM_GET_FPU right after
// KVM_CREATE_VCPU).
#include "kvm/regs.h"

#include <cerrno>
#include <cstring>

#include <gtest/gtest.h>

namespace skvm::kvm {
namespace {

TEST(ResetState, RegsMatchKvm) {
  cpu::CpuState s;
  reset_state(s, true);
  kvm_regs r;
  get_regs(s, &r);
  EXPECT_EQ(r.rip, 0xfff0u);
  EXPECT_EQ(r.rflags, 2u);
  EXPECT_EQ(r.rdx, 0x600u);
  EXPECT_EQ(r.rax | r.rbx | r.rcx | r.rsi | r.rdi | r.rsp | r.rbp | r.r8 | r.r15, 0u);
}

void expect_seg(const kvm_segment& s, uint64_t base, uint16_t sel, uint8_t type, uint8_t s_bit) {
  EXPECT_EQ(s.base, base);
  EXPECT_EQ(s.limit, 0xffffu);
  EXPECT_EQ(s.selector, sel);
  EXPECT_EQ(s.type, type);
  EXPECT_EQ(s.present, 1);
  EXPECT_EQ(s.dpl, 0);
  EXPECT_EQ(s.db, 0);
  EXPECT_EQ(s.s, s_bit);
  EXPECT_EQ(s.l, 0);
  EXPECT_EQ(s.g, 0);
  EXPECT_EQ(s.avl, 0);
  EXPECT_EQ(s.unusable, 0);
}

TEST(ResetState, SregsMatchKvmForBspAndAp) {
  for (bool bsp : {true, false}) {
    cpu::CpuState s;
    reset_state(s, bsp);
    kvm_sregs r;
    std::memset(&r, 0xcc, sizeof r);
    get_sregs(s, &r);
    expect_seg(r.cs, 0xffff0000, 0xf000, 11, 1);
    for (const kvm_segment* seg : {&r.ds, &r.es, &r.fs, &r.gs, &r.ss}) expect_seg(*seg, 0, 0, 3, 1);
    expect_seg(r.tr, 0, 0, 11, 0);
    expect_seg(r.ldt, 0, 0, 2, 0);
    EXPECT_EQ(r.gdt.base, 0u);
    EXPECT_EQ(r.gdt.limit, 0xffff);
    EXPECT_EQ(r.idt.limit, 0xffff);
    EXPECT_EQ(r.gdt.padding[0] | r.gdt.padding[1] | r.gdt.padding[2], 0);
    EXPECT_EQ(r.cr0, 0x60000010u);
    EXPECT_EQ(r.cr2 | r.cr3 | r.cr4 | r.cr8 | r.efer, 0u);
    EXPECT_EQ(r.apic_base, bsp ? 0xfee00900u : 0xfee00800u);
    for (auto w : r.interrupt_bitmap) EXPECT_EQ(w, 0u);
  }
}

TEST(ResetState, FpuMatchesKvm) {
  cpu::CpuState s;
  reset_state(s, true);
  kvm_fpu f;
  get_fpu(s, &f);
  EXPECT_EQ(f.fcw, 0x37f);
  EXPECT_EQ(f.fsw, 0);
  EXPECT_EQ(f.ftwx, 0);
  EXPECT_EQ(f.mxcsr, 0u);  // the host's KVM_GET_FPU reports 0 right after creation
}

TEST(Regs, SetForcesReservedFlagBitAndRoundTrips) {
  cpu::CpuState s;
  kvm_regs in{};
  in.rax = 1; in.rbx = 2; in.rcx = 3; in.rdx = 4; in.rsi = 5; in.rdi = 6; in.rsp = 7; in.rbp = 8;
  in.r8 = 9; in.r15 = 16; in.rip = 0x1000; in.rflags = 0;
  set_regs(s, in);
  EXPECT_EQ(s.gpr[cpu::kRcx], 3u);
  EXPECT_EQ(s.gpr[cpu::kRsp], 7u);
  kvm_regs out;
  get_regs(s, &out);
  in.rflags = 2;
  EXPECT_EQ(std::memcmp(&in, &out, sizeof in), 0);
}

TEST(Sregs, RoundTripKeepsEveryField) {
  cpu::CpuState s;
  reset_state(s, true);
  kvm_sregs in;
  get_sregs(s, &in);
  in.cs = {0x1000, 0xfffff, 0x8, 0xb, 1, 0, 0, 1, 1, 1, 0, 0, 0};
  in.cr0 = 0x80050033;
  in.cr3 = 0x1000;
  in.cr4 = 0x20;
  in.efer = 0x500;
  in.cr8 = 5;
  ASSERT_EQ(check_sregs(in, 40, /*x2apic=*/false), 0);
  set_sregs(s, in);
  kvm_sregs out;
  get_sregs(s, &out);
  EXPECT_EQ(std::memcmp(&in, &out, sizeof in), 0);
}

struct SregsCase {
  const char* what;
  uint64_t cr0, cr3, cr4, efer, apic_base;
  uint8_t cs_l;
  int expected;
  bool x2apic = false;  // the vCPU's CPUID has x2APIC
};

TEST(Sregs, ChecksMatchKvmIsValidSregs) {
  const SregsCase cases[] = {
      {"reset values", 0x60000010, 0, 0, 0, 0xfee00900, 0, 0},
      {"long mode paging", 0x80000011, 0x1000, 0x20, 0x500, 0xfee00900, 1, 0},
      {"LME+PG without PAE", 0x80000011, 0x1000, 0, 0x500, 0xfee00900, 1, -EINVAL},
      {"LME+PG without LMA", 0x80000011, 0x1000, 0x20, 0x100, 0xfee00900, 1, -EINVAL},
      {"CR3 beyond MAXPHYADDR in long mode", 0x80000011, 1ull << 40, 0x20, 0x500, 0xfee00900, 1, -EINVAL},
      {"LMA without paging", 0x11, 0, 0x20, 0x400, 0xfee00900, 0, -EINVAL},
      {"CS.L outside long mode", 0x11, 0, 0, 0, 0xfee00900, 1, -EINVAL},
      {"PG without PE", 0x80000000, 0, 0, 0, 0xfee00900, 0, -EINVAL},
      {"NW without CD", 0x20000000, 0, 0, 0, 0xfee00900, 0, -EINVAL},
      {"CR0 high bits", 1ull << 32, 0, 0, 0, 0xfee00900, 0, -EINVAL},
      {"unsupported CR4 bit (SMEP)", 0x60000010, 0, 1u << 20, 0, 0xfee00900, 0, -EINVAL},
      {"CR4.OSXSAVE (XSAVE is implemented)", 0x60000010, 0, 1u << 18, 0, 0xfee00900, 0, 0},
      {"APIC base reserved low bits", 0x60000010, 0, 0, 0, 0xfee00901, 0, -EINVAL},
      {"APIC base x2APIC without CPUID", 0x60000010, 0, 0, 0, 0xfee00c00, 0, -EINVAL},
      {"APIC base beyond MAXPHYADDR", 0x60000010, 0, 0, 0, 1ull << 41, 0, -EINVAL},
      {"APIC base x2APIC with CPUID", 0x60000010, 0, 0, 0, 0xfee00d00, 0, 0, true},
      {"APIC base x2APIC without EN (invalid mode)", 0x60000010, 0, 0, 0, 0xfee00500, 0, -EINVAL, true},
      {"APIC base disabled with CPUID x2APIC", 0x60000010, 0, 0, 0, 0xfee00100, 0, 0, true},
  };
  for (const SregsCase& c : cases) {
    cpu::CpuState s;
    reset_state(s, true);
    kvm_sregs r;
    get_sregs(s, &r);
    r.cr0 = c.cr0;
    r.cr3 = c.cr3;
    r.cr4 = c.cr4;
    r.efer = c.efer;
    r.apic_base = c.apic_base;
    r.cs.l = c.cs_l;
    EXPECT_EQ(check_sregs(r, 40, c.x2apic), c.expected) << c.what;
  }
}

TEST(Fpu, RoundTripThroughFxsaveImage) {
  cpu::CpuState s;
  kvm_fpu in{};
  for (int i = 0; i < 8; ++i) in.fpr[i][0] = static_cast<uint8_t>(i + 1);
  for (int i = 0; i < 16; ++i) in.xmm[i][15] = static_cast<uint8_t>(0x80 + i);
  in.fcw = 0x27f; in.fsw = 0x4000; in.ftwx = 0x81; in.last_opcode = 0x123;
  in.last_ip = 0x1111222233334444ull; in.last_dp = 0x5555666677778888ull; in.mxcsr = 0x1f80;
  set_fpu(s, in);
  EXPECT_EQ(s.fxsave[0], 0x7f);
  EXPECT_EQ(s.fxsave[24], 0x00) << "MXCSR (offset 24) is not written by KVM_SET_FPU";
  EXPECT_EQ(s.fxsave[32], 1);     // ST0 at offset 32
  EXPECT_EQ(s.fxsave[160 + 15], 0x80);  // XMM0 at offset 160
  kvm_fpu out;
  get_fpu(s, &out);
  EXPECT_EQ(out.mxcsr, 0u) << "KVM_GET_FPU reports MXCSR as 0 (x86.c does not copy it)";
  in.mxcsr = 0;
  EXPECT_EQ(std::memcmp(&in, &out, sizeof in), 0);
}

}  // namespace
}  // namespace skvm::kvm
