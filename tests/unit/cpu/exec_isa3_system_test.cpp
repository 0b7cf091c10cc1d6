// System forms of the isa3 slice run as small guest programs on the FakeBus:
// privilege round trips (SYSCALL/SYSRET, interrupt gate + IRETQ, RETF to
// an outer level), LTR/STR/LLDT/SLDT, LAR/LSL/VERR/VERW, SMSW/LMSW, ARPL,
// SWAPGS/RDTSCP, IN through the TSS I/O bitmap, CMPXCHG8B/16B, BOUND, and
// SHLD/SHRD, bit-counting and decimal-adjust programs run single-step and
// in blocks.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "exec_harness.h"

namespace skvm::cpu::testing {
namespace {

constexpr uint64_t kGdt = 0x3000;
constexpr uint64_t kIdt = 0x4000;
constexpr uint64_t kTss = 0x5000;

// Flat descriptors (SDM Vol. 3A 3.4.5).
constexpr uint64_t kCode64Dpl0 = 0x00209a0000000000ull;
constexpr uint64_t kCode32Dpl0 = 0x00cf9a000000ffffull;
constexpr uint64_t kDataDpl0 = 0x00cf92000000ffffull;
constexpr uint64_t kCode32Dpl3 = 0x00cffa000000ffffull;
constexpr uint64_t kDataDpl3 = 0x00cff2000000ffffull;
constexpr uint64_t kCode64Dpl3 = 0x0020fa0000000000ull;
// Available TSS (type 9) / LDT (type 2) at kTss, limit 0x67, byte-granular.
constexpr uint64_t kTssDesc = 0x0000890000000067ull | (kTss << 16);
constexpr uint64_t kLdtDesc = 0x0000820000000067ull | (0x6000ull << 16);

void set_segment(CpuState& s, SegReg r, uint16_t sel, uint8_t dpl, bool code, bool l) {
  Segment& g = s.seg[r];
  g = Segment{};
  g.selector = sel;
  g.limit = 0xffffffff;
  g.g = 1;
  g.present = 1;
  g.s = 1;
  g.dpl = dpl;
  g.type = code ? 0xb : 3;
  g.l = l;
  g.db = !l;
}

class SystemForms : public ::testing::Test {
 protected:
  // 64-bit mode with user-accessible identity paging and the GDT
  //   08 code64 DPL0, 10 data DPL0, 18 code32 DPL3, 20 data DPL3,
  //   28 code64 DPL3, 30 TSS (16 bytes), 40 LDT (16 bytes).
  void enter_long() {
    g_.enter(GuestMode::kLong64);
    FakeBus& b = g_.bus();
    b.poke<uint64_t>(Guest::kPml4, (Guest::kPml4 + 0x1000) | 7);
    b.poke<uint64_t>(Guest::kPml4 + 0x1000, (Guest::kPml4 + 0x2000) | 7);
    b.poke<uint64_t>(Guest::kPml4 + 0x2000, 0x87);
    const uint64_t d[] = {0, kCode64Dpl0, kDataDpl0, kCode32Dpl3, kDataDpl3, kCode64Dpl3, kTssDesc, 0, kLdtDesc, 0};
    for (unsigned k = 0; k < 10; ++k) b.poke<uint64_t>(kGdt + 8 * k, d[k]);
    CpuState& s = g_.s();
    s.gdt.base = kGdt;
    s.gdt.limit = 10 * 8 - 1;
    set_segment(s, kCs, 0x08, 0, true, true);
    for (SegReg r : {kDs, kEs, kSs, kFs, kGs}) set_segment(s, r, 0x10, 0, false, false);
    g_.cpu().state_changed();
  }
  // Flat 32-bit protected mode with the GDT
  //   08 code32 DPL0, 10 data DPL0, 18 code32 DPL3, 20 data DPL3, 28 TSS32, 30 LDT.
  void enter_prot32() {
    g_.enter(GuestMode::kProt32);
    FakeBus& b = g_.bus();
    const uint64_t d[] = {0, kCode32Dpl0, kDataDpl0, kCode32Dpl3, kDataDpl3, kTssDesc, kLdtDesc};
    for (unsigned k = 0; k < 7; ++k) b.poke<uint64_t>(kGdt + 8 * k, d[k]);
    CpuState& s = g_.s();
    s.gdt.base = kGdt;
    s.gdt.limit = 7 * 8 - 1;
    set_segment(s, kCs, 0x08, 0, true, false);
    for (SegReg r : {kDs, kEs, kSs, kFs, kGs}) set_segment(s, r, 0x10, 0, false, false);
    g_.cpu().state_changed();
  }
  Stop run_code(const std::vector<uint8_t>& code) {
    g_.load(code);
    return g_.run();
  }

  Guest g_;
};

TEST_F(SystemForms, SyscallSysretRoundTripGoesCpl3ToCpl0AndBack) {
  for (bool stepping : {false, true}) {
    enter_long();
    CpuState& s = g_.s();
    s.efer |= kEferSCE;
    s.msr.star = (0x18ull << 48) | (0x08ull << 32);
    s.msr.lstar = 0x1100;
    s.msr.sfmask = kFlagIF;
    s.rflags = kFlagFixed1 | kFlagIF;
    set_segment(s, kCs, 0x2b, 3, true, true);
    set_segment(s, kSs, 0x23, 3, false, false);
    g_.cpu().state_changed();
    // User: syscall; mov ebx, eax; syscall.
    g_.load({0x0f, 0x05, 0x89, 0xc3, 0x0f, 0x05});
    // Kernel: test ebx, ebx; jnz +8; mov eax, 0x42; sysretq; hlt.
    g_.load({0x85, 0xdb, 0x75, 0x08, 0xb8, 0x42, 0, 0, 0, 0x48, 0x0f, 0x07, 0xf4}, 0x1100);
    Stop st = stepping ? g_.run_stepping() : g_.run();
    ASSERT_EQ(st, Stop::kHlt) << "stepping=" << stepping;
    EXPECT_EQ(g_.r(kRbx), 0x42u) << "SYSRETQ returned to CPL3 code that copied RAX";
    EXPECT_EQ(g_.r(kRcx), 0x1006u) << "RCX = address after the second SYSCALL";
    EXPECT_EQ(g_.r(kR11) & (kFlagIF | kFlagFixed1), kFlagIF | kFlagFixed1) << "R11 = user RFLAGS";
    EXPECT_EQ(s.seg[kCs].selector, 0x08) << "back in the kernel's CS";
    EXPECT_EQ(s.seg[kSs].selector, 0x10);
    EXPECT_EQ(s.rflags & kFlagIF, 0u) << "SFMASK cleared IF";
    EXPECT_EQ(s.rip, 0x110du);
  }
}

TEST_F(SystemForms, LtrThenIretqToCpl3ThenInterruptGateAndIretqBack) {
  for (bool stepping : {false, true}) {
    enter_long();
    CpuState& s = g_.s();
    FakeBus& b = g_.bus();
    s.efer |= kEferSCE;
    s.msr.star = 0x08ull << 32;
    s.msr.lstar = 0x1400;
    s.nmi_masked = true;
    // IDT: vector 0x80 = 64-bit interrupt gate, DPL3, 0008:0x1200.
    s.idt.base = kIdt;
    s.idt.limit = 0xfff;
    b.poke<uint64_t>(kIdt + 0x80 * 16, 0x1200 | (0x08ull << 16) | (0xeeull << 40));
    b.poke<uint64_t>(kIdt + 0x80 * 16 + 8, 0);
    b.poke<uint64_t>(kTss + 4, 0x9000);  // RSP0
    g_.cpu().state_changed();
    // Kernel: mov ax, 0x30; ltr ax; push 0x23; push 0x7000; push 0x202;
    //         push 0x2b; push 0x1300; iretq.
    g_.load({0x66, 0xb8, 0x30, 0x00, 0x0f, 0x00, 0xd8, 0x6a, 0x23, 0x68, 0x00, 0x70, 0x00, 0x00, 0x68, 0x02, 0x02,
             0x00, 0x00, 0x6a, 0x2b, 0x68, 0x00, 0x13, 0x00, 0x00, 0x48, 0xcf});
    g_.load({0xbb, 0x77, 0, 0, 0, 0x48, 0xcf}, 0x1200);  // int 0x80 handler: mov ebx, 0x77; iretq
    g_.load({0xcd, 0x80, 0x0f, 0x05}, 0x1300);           // user: int 0x80; syscall
    g_.load({0xf4}, 0x1400);                             // kernel: hlt
    Stop st = stepping ? g_.run_stepping() : g_.run();
    ASSERT_EQ(st, Stop::kHlt) << "stepping=" << stepping;
    EXPECT_EQ(g_.r(kRbx), 0x77u) << "the gate handler ran";
    EXPECT_EQ(s.tr.selector, 0x30);
    EXPECT_EQ(b.peek<uint8_t>(kGdt + 0x30 + 5), 0x8b) << "LTR marks the TSS busy";
    EXPECT_EQ(b.peek<uint64_t>(0x9000 - 8), 0x23u) << "user SS on the RSP0 stack";
    EXPECT_EQ(b.peek<uint64_t>(0x9000 - 16), 0x7000u) << "user RSP";
    EXPECT_EQ(b.peek<uint64_t>(0x9000 - 32), 0x2bu) << "user CS";
    EXPECT_EQ(b.peek<uint64_t>(0x9000 - 40), 0x1302u) << "return RIP after INT 0x80";
    EXPECT_EQ(g_.r(kRsp), 0x7000u) << "IRETQ restored the user stack";
    EXPECT_EQ(g_.r(kRcx), 0x1304u) << "SYSCALL came from the user code after IRETQ";
    EXPECT_EQ(g_.r(kR11) & kFlagIF, kFlagIF) << "IRETQ loaded RFLAGS.IF";
    EXPECT_FALSE(s.nmi_masked) << "IRET ends NMI blocking";
  }
}

TEST_F(SystemForms, RetfImm16ToOuterLevelLoadsSsEspAndReleasesBothStacks) {
  enter_prot32();
  // push 0x23; push 0x7000; push 0; push 0; push 0x1b; push 0x1300; retf 8.
  g_.load({0x6a, 0x23, 0x68, 0x00, 0x70, 0x00, 0x00, 0x6a, 0x00, 0x6a, 0x00, 0x6a, 0x1b, 0x68, 0x00, 0x13, 0x00,
           0x00, 0xca, 0x08, 0x00});
  for (int k = 0; k < 7; ++k) ASSERT_EQ(g_.cpu().step(), Stop::kKick) << "instruction " << k;
  const CpuState& s = g_.s();
  EXPECT_EQ(s.seg[kCs].selector, 0x1b);
  EXPECT_EQ(s.seg[kSs].selector, 0x23);
  EXPECT_EQ(s.rip, 0x1300u);
  EXPECT_EQ(g_.r(kRsp), 0x7008u) << "imm16 released on the outer stack too";
  EXPECT_EQ(s.seg[kDs].selector & 0xfffc, 0) << "DPL0 data segment nulled for CPL3";
}

TEST_F(SystemForms, RetfToOuterLevelWithBadSsRaisesGpAndKeepsState) {
  enter_prot32();
  // push 0x10 (DPL0 SS, RPL0 != 3); push 0x7000; push 0x1b; push 0x1300; retf.
  g_.load({0x6a, 0x10, 0x68, 0x00, 0x70, 0x00, 0x00, 0x6a, 0x1b, 0x68, 0x00, 0x13, 0x00, 0x00, 0xcb});
  for (int k = 0; k < 4; ++k) ASSERT_EQ(g_.cpu().step(), Stop::kKick);
  EXPECT_EQ(g_.cpu().step(), Stop::kShutdown) << "#GP without an IDT escalates to a triple fault";
  EXPECT_EQ(g_.s().seg[kCs].selector, 0x08) << "CS unchanged";
}

TEST_F(SystemForms, LarLslVerrVerwSetZfAsTheSdmSays) {
  enter_prot32();
  // lar eax, ecx; setz bl; lsl edx, ecx; setz bh; hlt (ecx = 0x18: code32 DPL3).
  g_.r(kRcx) = 0x18;
  g_.r(kRax) = 0xdead;
  ASSERT_EQ(run_code({0x0f, 0x02, 0xc1, 0x0f, 0x94, 0xc3, 0x0f, 0x03, 0xd1, 0x0f, 0x94, 0xc7, 0xf4}), Stop::kHlt);
  EXPECT_EQ(g_.r(kRax), 0x00c0fa00u) << "access rights masked with 00F0FF00";
  EXPECT_EQ(g_.r(kRdx), 0xffffffffu) << "page-granular limit scaled";
  EXPECT_EQ(g_.r(kRbx) & 0xffff, 0x0101u);

  enter_prot32();
  g_.r(kRcx) = 0x80;  // beyond the GDT limit
  g_.r(kRax) = 0xdead;
  ASSERT_EQ(run_code({0x0f, 0x02, 0xc1, 0x0f, 0x94, 0xc3, 0xf4}), Stop::kHlt);
  EXPECT_EQ(g_.r(kRax), 0xdeadu) << "destination unchanged";
  EXPECT_EQ(g_.r(kRbx) & 0xff, 0u) << "ZF=0";

  enter_prot32();
  g_.r(kRcx) = 0x28;  // available 32-bit TSS: valid for LAR and LSL
  ASSERT_EQ(run_code({0x0f, 0x03, 0xd1, 0x0f, 0x94, 0xc3, 0xf4}), Stop::kHlt);
  EXPECT_EQ(g_.r(kRdx), 0x67u);
  EXPECT_EQ(g_.r(kRbx) & 0xff, 1u);

  // verr cx; setz bl; verw cx; setz bh; verw dx; setz al; hlt.
  enter_prot32();
  g_.r(kRcx) = 0x18;  // readable code
  g_.r(kRdx) = 0x23;  // writable data, RPL3
  ASSERT_EQ(run_code({0x0f, 0x00, 0xe1, 0x0f, 0x94, 0xc3, 0x0f, 0x00, 0xe9, 0x0f, 0x94, 0xc7, 0x0f, 0x00, 0xea,
                      0x0f, 0x94, 0xc0, 0xf4}),
            Stop::kHlt);
  EXPECT_EQ(g_.r(kRbx) & 0xffff, 0x0001u) << "VERR code: ZF=1; VERW code: ZF=0";
  EXPECT_EQ(g_.r(kRax) & 0xff, 1u) << "VERW data: ZF=1";
}

TEST_F(SystemForms, LarOnDpl0SegmentFromCpl3ClearsZf) {
  enter_prot32();
  CpuState& s = g_.s();
  set_segment(s, kCs, 0x1b, 3, true, false);
  set_segment(s, kSs, 0x23, 3, false, false);
  s.rflags = kFlagFixed1 | kFlagZF;
  g_.cpu().state_changed();
  g_.r(kRcx) = 0x10;
  g_.load({0x0f, 0x02, 0xc1});
  ASSERT_EQ(g_.cpu().step(), Stop::kKick);
  EXPECT_EQ(s.rflags & kFlagZF, 0u);
}

TEST_F(SystemForms, LtrStrLldtSldtInProtectedMode) {
  enter_prot32();
  // mov ax, 0x28; ltr ax; str ecx; mov ax, 0x30; lldt ax; sldt edx; hlt.
  ASSERT_EQ(run_code({0x66, 0xb8, 0x28, 0x00, 0x0f, 0x00, 0xd8, 0x0f, 0x00, 0xc9, 0x66, 0xb8, 0x30, 0x00, 0x0f,
                      0x00, 0xd0, 0x0f, 0x00, 0xc2, 0xf4}),
            Stop::kHlt);
  EXPECT_EQ(g_.r(kRcx), 0x28u);
  EXPECT_EQ(g_.r(kRdx), 0x30u);
  EXPECT_EQ(g_.bus().peek<uint8_t>(kGdt + 0x28 + 5), 0x8b) << "TSS busy";
  EXPECT_EQ(g_.s().ldt.base, 0x6000u);
}

TEST_F(SystemForms, Group6IsUndefinedInRealMode) {
  g_.enter(GuestMode::kReal);
  g_.load({0x0f, 0x00, 0xc8});  // str ax
  EXPECT_EQ(g_.cpu().step(), Stop::kKick) << "#UD delivered through the IVT";
  EXPECT_EQ(g_.s().rip, 0u) << "IVT vector 6 (zeroed) entered";
}

TEST_F(SystemForms, SmswAndLmsw) {
  enter_prot32();
  // smsw eax; mov ecx, 8; lmsw cx; hlt.
  ASSERT_EQ(run_code({0x0f, 0x01, 0xe0, 0xb9, 0x08, 0, 0, 0, 0x0f, 0x01, 0xf1, 0xf4}), Stop::kHlt);
  EXPECT_EQ(g_.r(kRax), kCr0PE | kCr0ET);
  EXPECT_EQ(g_.s().cr0 & (kCr0PE | kCr0TS), kCr0PE | kCr0TS) << "LMSW sets TS, cannot clear PE";
}

TEST_F(SystemForms, ArplRaisesRplAndSetsZf) {
  enter_prot32();
  g_.r(kRax) = 0x10;
  g_.r(kRcx) = 0x13;
  g_.r(kRdx) = 0x20;
  // arpl ax, cx; setz bl; arpl dx, dx; setz bh; hlt.
  ASSERT_EQ(run_code({0x63, 0xc8, 0x0f, 0x94, 0xc3, 0x63, 0xd2, 0x0f, 0x94, 0xc7, 0xf4}), Stop::kHlt);
  EXPECT_EQ(g_.r(kRax), 0x13u);
  EXPECT_EQ(g_.r(kRbx) & 0xffff, 0x0001u);
}

TEST_F(SystemForms, SwapgsExchangesGsBaseAndRdtscpReadsTscAux) {
  enter_long();
  g_.bus().set_cpuid(0x80000001u, 0, 0, 0, 0, (1u << 29) | (1u << 27));
  CpuState& s = g_.s();
  s.seg[kGs].base = 0x1111;
  s.msr.kernel_gs_base = 0x2222;
  s.msr.tsc_aux = 0xabc;
  g_.cpu().state_changed();
  ASSERT_EQ(run_code({0x0f, 0x01, 0xf8, 0x0f, 0x01, 0xf9, 0xf4}), Stop::kHlt);
  EXPECT_EQ(s.seg[kGs].base, 0x2222u);
  EXPECT_EQ(s.msr.kernel_gs_base, 0x1111u);
  EXPECT_EQ(g_.r(kRcx), 0xabcu);
}

TEST_F(SystemForms, RdtscpWithoutCpuidBitIsUndefined) {
  enter_long();
  ASSERT_EQ(run_code({0x0f, 0x01, 0xf9, 0xf4}), Stop::kShutdown) << "#UD without an IDT: triple fault";
}

TEST_F(SystemForms, SwapgsAtCpl3RaisesGp) {
  enter_long();
  CpuState& s = g_.s();
  set_segment(s, kCs, 0x2b, 3, true, true);
  set_segment(s, kSs, 0x23, 3, false, false);
  s.seg[kGs].base = 0x1111;
  g_.cpu().state_changed();
  EXPECT_EQ(run_code({0x0f, 0x01, 0xf8}), Stop::kShutdown);
  EXPECT_EQ(s.seg[kGs].base, 0x1111u);
}

// SHLD/SHRD with register and memory destinations: one program, run in
// blocks and single-step, literal results (also checked natively in
// exec_isa3_native_test.cpp).
TEST_F(SystemForms, ShldShrdProgramAgreesInBlocksAndSingleStep) {
  std::vector<uint8_t> code = {
      0x48, 0xb8, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,  // mov rax, 0x1122334455667788
      0x48, 0xba, 0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa, 0x99, 0x00,  // mov rdx, 0x0099aabbccddeeff
      0x48, 0x0f, 0xa4, 0xd0, 0x08,                                // shld rax, rdx, 8
      0xb1, 0x04,                                                  // mov cl, 4
      0x0f, 0xad, 0xd3,                                            // shrd ebx, edx, cl
      0xc7, 0x04, 0x25, 0x00, 0x20, 0x00, 0x00, 0x34, 0x12, 0, 0,  // mov dword [0x2000], 0x1234
      0x66, 0x0f, 0xa5, 0x14, 0x25, 0x00, 0x20, 0x00, 0x00,        // shld word [0x2000], dx, cl
      0xf4};
  uint64_t rax[2], rbx[2], mem[2], fl[2];
  for (int stepping = 0; stepping < 2; ++stepping) {
    enter_long();
    g_.r(kRbx) = 0xf0f0f0f0;
    g_.load(code);
    ASSERT_EQ(stepping ? g_.run_stepping() : g_.run(), Stop::kHlt);
    rax[stepping] = g_.r(kRax);
    rbx[stepping] = g_.r(kRbx);
    mem[stepping] = g_.bus().peek<uint32_t>(0x2000);
    fl[stepping] = g_.s().rflags & kFlagsArith;
  }
  EXPECT_EQ(rax[0], 0x2233445566778800u);
  EXPECT_EQ(rbx[0], 0xff0f0f0fu);
  EXPECT_EQ(mem[0], 0x234eu);
  EXPECT_EQ(rax[1], rax[0]);
  EXPECT_EQ(rbx[1], rbx[0]);
  EXPECT_EQ(mem[1], mem[0]);
  EXPECT_EQ(fl[1], fl[0]);
}

// cmpxchg8b [0x2000] (0F C7 0C 25 disp32); with REX.W: cmpxchg16b.
TEST_F(SystemForms, Cmpxchg8bStoresEcxEbxWhenEqualAndLoadsEdxEaxOtherwise) {
  for (int stepping = 0; stepping < 2; ++stepping) {
    enter_long();
    FakeBus& b = g_.bus();
    b.poke<uint64_t>(0x2000, 0x1111111122222222ull);
    b.poke<uint64_t>(0x2008, 0x5555555566666666ull);
    g_.r(kRax) = 0x22222222;
    g_.r(kRdx) = 0x11111111;
    g_.r(kRbx) = 0x44444444;
    g_.r(kRcx) = 0x33333333;
    g_.load({0x0f, 0xc7, 0x0c, 0x25, 0x00, 0x20, 0x00, 0x00, 0x0f, 0x94, 0xc7,  // cmpxchg8b; setz bh
             0x0f, 0xc7, 0x0c, 0x25, 0x08, 0x20, 0x00, 0x00, 0xf4});           // cmpxchg8b [0x2008]; hlt
    ASSERT_EQ(stepping ? g_.run_stepping() : g_.run(), Stop::kHlt);
    EXPECT_EQ(b.peek<uint64_t>(0x2000), 0x3333333344444444ull) << "equal: ECX:EBX stored";
    EXPECT_EQ((g_.r(kRbx) >> 8) & 0xff, 1u) << "equal: ZF=1";
    EXPECT_EQ(g_.s().rflags & kFlagZF, 0u) << "second compare unequal: ZF=0";
    EXPECT_EQ(g_.r(kRax), 0x66666666u) << "unequal: EDX:EAX loaded";
    EXPECT_EQ(g_.r(kRdx), 0x55555555u);
    EXPECT_EQ(b.peek<uint64_t>(0x2008), 0x5555555566666666ull) << "unequal: memory unchanged";
  }
}

TEST_F(SystemForms, Cmpxchg16bComparesRdxRaxAndChecksAlignmentAndCpuid) {
  enter_long();
  FakeBus& b = g_.bus();
  b.set_cpuid(1, 0, 0, 0, 1u << 13, 0);  // CX16
  b.poke<uint64_t>(0x2000, 0xa);
  b.poke<uint64_t>(0x2008, 0xb);
  g_.r(kRax) = 0xa;
  g_.r(kRdx) = 0xb;
  g_.r(kRbx) = 0x1234567890ull;
  g_.r(kRcx) = 0xfedcba9876ull;
  ASSERT_EQ(run_code({0x48, 0x0f, 0xc7, 0x0c, 0x25, 0x00, 0x20, 0x00, 0x00, 0xf4}), Stop::kHlt);
  EXPECT_EQ(b.peek<uint64_t>(0x2000), 0x1234567890ull);
  EXPECT_EQ(b.peek<uint64_t>(0x2008), 0xfedcba9876ull);
  EXPECT_NE(g_.s().rflags & kFlagZF, 0u);

  enter_long();
  EXPECT_EQ(run_code({0x48, 0x0f, 0xc7, 0x0c, 0x25, 0x08, 0x20, 0x00, 0x00, 0xf4}), Stop::kShutdown)
      << "misaligned m128: #GP(0)";
  b.set_cpuid(1, 0, 0, 0, 0, 0);
  enter_long();
  EXPECT_EQ(run_code({0x48, 0x0f, 0xc7, 0x0c, 0x25, 0x00, 0x20, 0x00, 0x00, 0xf4}), Stop::kShutdown)
      << "without CPUID.CX16: #UD";
  EXPECT_EQ(b.peek<uint64_t>(0x2000), 0x1234567890ull) << "memory untouched";
}

// Real mode, IVT entry 5 (#BR) -> 0000:1100 (hlt).
TEST_F(SystemForms, BoundRaisesBrOutsideTheSignedRange) {
  for (int16_t index : {-5, 5, 7, 20}) {
    g_.enter(GuestMode::kReal);
    FakeBus& b = g_.bus();
    b.poke<uint32_t>(5 * 4, 0x1100);
    b.poke<uint16_t>(0x2000, static_cast<uint16_t>(-3));  // lower
    b.poke<uint16_t>(0x2002, 7);                          // upper
    g_.load({0xf4}, 0x1100);
    g_.r(kRax) = static_cast<uint16_t>(index);
    // bound ax, [0x2000]; mov bx, 1; hlt.
    ASSERT_EQ(run_code({0x62, 0x06, 0x00, 0x20, 0xbb, 0x01, 0x00, 0xf4}), Stop::kHlt);
    const bool in_range = index >= -3 && index <= 7;
    EXPECT_EQ(g_.s().rip, in_range ? Guest::kCode + 8 : 0x1101u) << "index " << index;
    EXPECT_EQ(g_.r(kRbx) & 0xffff, in_range ? 1u : 0u);
  }
}

TEST_F(SystemForms, BoundIsUndefinedIn64BitMode) {
  enter_long();
  EXPECT_EQ(run_code({0x62, 0x04, 0x25, 0x00, 0x20, 0x00, 0x00}), Stop::kShutdown) << "62 in 64-bit mode: #UD";
}

// CPL3 with IOPL 0: IN consults the TSS I/O permission bitmap.
TEST_F(SystemForms, InAtCpl3IsAllowedOrFaultsByTheTssIoBitmap) {
  // The denied port first: the allowed one ends in an I/O exit that the
  // engine would complete on the next run().
  for (uint8_t port : {0x81, 0x80}) {
    enter_prot32();
    CpuState& s = g_.s();
    FakeBus& b = g_.bus();
    b.poke<uint16_t>(kTss + 0x66, 0x68);  // I/O map base
    for (unsigned k = 0; k < 0x20; ++k) b.poke<uint8_t>(kTss + 0x68 + k, 0xff);
    b.poke<uint8_t>(kTss + 0x68 + 0x80 / 8, 0xfe);  // port 0x80 allowed
    s.tr = Segment{};
    s.tr.selector = 0x28;
    s.tr.base = kTss;
    s.tr.limit = 0x68 + 0x20;
    s.tr.type = 0xb;
    s.tr.present = 1;
    // #GP -> 32-bit interrupt gate 0008:1100 (hlt), stack from TSS SS0:ESP0.
    s.idt.base = kIdt;
    s.idt.limit = 0xff;
    b.poke<uint64_t>(kIdt + 13 * 8, 0x1100 | (0x08ull << 16) | (0x8eull << 40));
    b.poke<uint32_t>(kTss + 4, 0x9000);
    b.poke<uint32_t>(kTss + 8, 0x10);
    b.poke<uint32_t>(0x9000 - 24, 0xffff);
    g_.load({0xf4}, 0x1100);
    set_segment(s, kCs, 0x1b, 3, true, false);
    set_segment(s, kSs, 0x23, 3, false, false);
    g_.cpu().state_changed();
    Stop st = run_code({0xe4, port});  // in al, port
    if (port == 0x80) {
      ASSERT_EQ(st, Stop::kIo);
      EXPECT_EQ(g_.cpu().exit().io.port, 0x80);
    } else {
      ASSERT_EQ(st, Stop::kHlt) << "denied port: #GP handler ran";
      EXPECT_EQ(s.rip, 0x1101u);
      EXPECT_EQ(b.peek<uint32_t>(0x9000 - 24), 0u) << "#GP(0) error code";
      EXPECT_EQ(b.peek<uint32_t>(0x9000 - 20), Guest::kCode) << "faulting EIP";
    }
  }
}

// Every execution strategy agrees (STYLE rule 5): bit counting and decimal
// adjust programs, run in blocks and single-step, with literal results.
TEST_F(SystemForms, BitCountingAndDecimalAdjustProgramsAgreeInBlocksAndSingleStep) {
  for (int stepping = 0; stepping < 2; ++stepping) {
    enter_long();
    FakeBus& b = g_.bus();
    b.set_cpuid(1, 0, 0, 0, 1u << 23, 0);
    b.set_cpuid(7, 0, 0, 1u << 3, 0, 0);
    b.set_cpuid(0x80000001u, 0, 0, 0, 1u << 5, (1u << 29) | (1u << 20));
    g_.r(kRcx) = 0x00f0000000000100ull;
    // popcnt rax, rcx; tzcnt rdx, rcx; lzcnt rbx, rcx; tzcnt esi, edi (edi = 0); hlt.
    g_.load({0xf3, 0x48, 0x0f, 0xb8, 0xc1, 0xf3, 0x48, 0x0f, 0xbc, 0xd1, 0xf3, 0x48, 0x0f, 0xbd, 0xd9, 0xf3, 0x0f,
             0xbc, 0xf7, 0xf4});
    ASSERT_EQ(stepping ? g_.run_stepping() : g_.run(), Stop::kHlt);
    EXPECT_EQ(g_.r(kRax), 5u);
    EXPECT_EQ(g_.r(kRdx), 8u);
    EXPECT_EQ(g_.r(kRbx), 8u);
    EXPECT_EQ(g_.r(kRsi), 32u) << "zero source: the operand width";
    EXPECT_EQ(g_.s().rflags & (kFlagCF | kFlagZF), kFlagCF) << "CF = (source == 0)";
  }
  for (int stepping = 0; stepping < 2; ++stepping) {
    enter_prot32();
    g_.r(kRax) = 0x0009;
    // add al, 0x08 (0x11, AF); daa (0x17); mov ax, 0x0207; aad 10 (27); aam 16 (0x01 0x0b); hlt.
    g_.load({0x04, 0x08, 0x27, 0x88, 0xc1, 0x66, 0xb8, 0x07, 0x02, 0xd5, 0x0a, 0x88, 0xc2, 0xd4, 0x10, 0xf4});
    ASSERT_EQ(stepping ? g_.run_stepping() : g_.run(), Stop::kHlt);
    EXPECT_EQ(g_.r(kRcx) & 0xff, 0x17u) << "DAA after 9 + 8";
    EXPECT_EQ(g_.r(kRdx) & 0xff, 27u) << "AAD 10 of 02 07";
    EXPECT_EQ(g_.r(kRax) & 0xffff, 0x010bu) << "AAM 16 of 27";
  }
}

TEST_F(SystemForms, SysenterSysexitRoundTripIn32BitProtectedMode) {
  for (bool stepping : {false, true}) {
    enter_prot32();
    CpuState& s = g_.s();
    s.msr.sysenter_cs = 0x08;
    s.msr.sysenter_eip = 0x1100;
    s.msr.sysenter_esp = 0x9000;
    set_segment(s, kCs, 0x1b, 3, true, false);
    set_segment(s, kSs, 0x23, 3, false, false);
    s.rflags = kFlagFixed1 | kFlagIF;
    g_.cpu().state_changed();
    g_.load({0x0f, 0x34});  // user: sysenter
    // Kernel: test ebx, ebx; jnz +17; mov ebx, 0x55; mov edx, 0x1300;
    //         mov ecx, 0x7000; sysexit; hlt.
    g_.load({0x85, 0xdb, 0x75, 0x11, 0xbb, 0x55, 0, 0, 0, 0xba, 0x00, 0x13, 0, 0, 0xb9, 0x00, 0x70, 0, 0, 0x0f,
             0x35, 0xf4},
            0x1100);
    g_.load({0x89, 0xe6, 0x0f, 0x34}, 0x1300);  // user: mov esi, esp; sysenter
    Stop st = stepping ? g_.run_stepping() : g_.run();
    ASSERT_EQ(st, Stop::kHlt) << "stepping=" << stepping;
    EXPECT_EQ(g_.r(kRsi), 0x7000u) << "SYSEXIT loaded ESP from ECX at CPL3";
    EXPECT_EQ(g_.r(kRsp), 0x9000u) << "SYSENTER loaded ESP from the MSR";
    EXPECT_EQ(s.seg[kCs].selector, 0x08);
    EXPECT_EQ(s.seg[kSs].selector, 0x10);
    EXPECT_EQ(s.rflags & kFlagIF, 0u) << "SYSENTER clears IF";
    EXPECT_EQ(s.rip, 0x1116u);
  }
}

}  // namespace
}  // namespace skvm::cpu::testing
