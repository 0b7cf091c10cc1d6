#include "kvm/regs.h"

#include <cerrno>
#include <cstring>

namespace skvm::kvm {

using cpu::CpuState;
using cpu::Segment;

namespace {

kvm_segment to_kvm(const Segment& s) {
  kvm_segment k{};
  k.base = s.base;
  k.limit = s.limit;
  k.selector = s.selector;
  k.type = s.type;
  k.present = s.present;
  k.dpl = s.dpl;
  k.db = s.db;
  k.s = s.s;
  k.l = s.l;
  k.g = s.g;
  k.avl = s.avl;
  k.unusable = s.unusable;
  return k;
}

Segment from_kvm(const kvm_segment& k) {
  Segment s;
  s.base = k.base;
  s.limit = k.limit;
  s.selector = k.selector;
  s.type = k.type & 0xf;
  s.present = k.present & 1;
  s.dpl = k.dpl & 3;
  s.db = k.db & 1;
  s.s = k.s & 1;
  s.l = k.l & 1;
  s.g = k.g & 1;
  s.avl = k.avl & 1;
  s.unusable = k.unusable & 1;
  return s;
}

Segment real_mode_segment(uint16_t selector, uint64_t base, uint8_t type, uint8_t s_bit) {
  Segment s;
  s.base = base;
  s.limit = 0xffff;
  s.selector = selector;
  s.type = type;
  s.present = 1;
  s.s = s_bit;
  return s;
}

// FXSAVE image offsets (SDM Vol. 1, 10.5.1, Table 10-2, 64-bit format).
constexpr size_t kFxFcw = 0, kFxFsw = 2, kFxFtw = 4, kFxFop = 6, kFxFip = 8, kFxFdp = 16,
                 kFxMxcsr = 24, kFxSt = 32, kFxXmm = 160;

// SAFETY (load/store): callers pass the constant offsets above, each with
// off + sizeof(T) <= 32, inside the 512-byte image; memcpy avoids unaligned
// and aliasing issues.
template <typename T>
T load(const std::array<uint8_t, 512>& fx, size_t off) {
  T v;
  std::memcpy(&v, fx.data() + off, sizeof v);
  return v;
}
template <typename T>
void store(std::array<uint8_t, 512>& fx, size_t off, T v) {
  std::memcpy(fx.data() + off, &v, sizeof v);
}

}  // namespace

void reset_state(CpuState& s, bool bsp) {
  s = CpuState{};
  s.gpr[cpu::kRdx] = 0x600;  // x86.c: kvm_vcpu_reset: RDX = CPUID.1.EAX before KVM_SET_CPUID
  s.rip = 0xfff0;
  s.rflags = cpu::kFlagFixed1;
  for (auto& seg : s.seg) seg = real_mode_segment(0, 0, 3, 1);
  s.seg[cpu::kCs] = real_mode_segment(0xf000, 0xffff0000, 0xb, 1);
  s.tr = real_mode_segment(0, 0, 0xb, 0);
  s.ldt = real_mode_segment(0, 0, 0x2, 0);
  s.gdt = {0, 0xffff};
  s.idt = {0, 0xffff};
  s.cr0 = cpu::kCr0CD | cpu::kCr0NW | cpu::kCr0ET;
  s.apic_base = 0xfee00000ull | (1u << 11) | (bsp ? (1u << 8) : 0);
  store<uint16_t>(s.fxsave, kFxFcw, 0x37f);
  store<uint32_t>(s.fxsave, kFxMxcsr, 0x1f80);  // fpstate_init_user: MXCSR_DEFAULT
}

// api.rst: KVM_GET_REGS. kvm_regs order: rax rbx rcx rdx rsi rdi rsp rbp r8..r15.
void get_regs(const CpuState& s, kvm_regs* r) {
  *r = kvm_regs{};
  r->rax = s.gpr[cpu::kRax];
  r->rbx = s.gpr[cpu::kRbx];
  r->rcx = s.gpr[cpu::kRcx];
  r->rdx = s.gpr[cpu::kRdx];
  r->rsi = s.gpr[cpu::kRsi];
  r->rdi = s.gpr[cpu::kRdi];
  r->rsp = s.gpr[cpu::kRsp];
  r->rbp = s.gpr[cpu::kRbp];
  r->r8 = s.gpr[cpu::kR8];
  r->r9 = s.gpr[cpu::kR9];
  r->r10 = s.gpr[cpu::kR10];
  r->r11 = s.gpr[cpu::kR11];
  r->r12 = s.gpr[cpu::kR12];
  r->r13 = s.gpr[cpu::kR13];
  r->r14 = s.gpr[cpu::kR14];
  r->r15 = s.gpr[cpu::kR15];
  r->rip = s.rip;
  r->rflags = s.rflags;
}

// api.rst: KVM_SET_REGS; x86.c: __set_regs (RFLAGS | X86_EFLAGS_FIXED).
void set_regs(CpuState& s, const kvm_regs& r) {
  s.gpr[cpu::kRax] = r.rax;
  s.gpr[cpu::kRbx] = r.rbx;
  s.gpr[cpu::kRcx] = r.rcx;
  s.gpr[cpu::kRdx] = r.rdx;
  s.gpr[cpu::kRsi] = r.rsi;
  s.gpr[cpu::kRdi] = r.rdi;
  s.gpr[cpu::kRsp] = r.rsp;
  s.gpr[cpu::kRbp] = r.rbp;
  s.gpr[cpu::kR8] = r.r8;
  s.gpr[cpu::kR9] = r.r9;
  s.gpr[cpu::kR10] = r.r10;
  s.gpr[cpu::kR11] = r.r11;
  s.gpr[cpu::kR12] = r.r12;
  s.gpr[cpu::kR13] = r.r13;
  s.gpr[cpu::kR14] = r.r14;
  s.gpr[cpu::kR15] = r.r15;
  s.rip = r.rip;
  s.rflags = r.rflags | cpu::kFlagFixed1;
}

// api.rst: KVM_GET_SREGS.
void get_sregs(const CpuState& s, kvm_sregs* r) {
  *r = kvm_sregs{};
  r->cs = to_kvm(s.seg[cpu::kCs]);
  r->ds = to_kvm(s.seg[cpu::kDs]);
  r->es = to_kvm(s.seg[cpu::kEs]);
  r->fs = to_kvm(s.seg[cpu::kFs]);
  r->gs = to_kvm(s.seg[cpu::kGs]);
  r->ss = to_kvm(s.seg[cpu::kSs]);
  r->tr = to_kvm(s.tr);
  r->ldt = to_kvm(s.ldt);
  r->gdt.base = s.gdt.base;
  r->gdt.limit = s.gdt.limit;
  r->idt.base = s.idt.base;
  r->idt.limit = s.idt.limit;
  r->cr0 = s.cr0;
  r->cr2 = s.cr2;
  r->cr3 = s.cr3;
  r->cr4 = s.cr4;
  r->cr8 = s.cr8;
  r->efer = s.efer;
  r->apic_base = s.apic_base;
}

// x86.c: kvm_is_valid_sregs(), kvm_is_valid_cr0(), kvm_is_valid_cr4(), and
// kvm_set_apic_base() (host-initiated: only the reserved bits and the
// x2APIC-without-xAPIC state are refused).
int check_sregs(const kvm_sregs& r, unsigned maxphyaddr, bool x2apic) {
  const uint64_t phys_rsvd = maxphyaddr >= 64 ? 0 : ~((1ull << maxphyaddr) - 1);
  // CR0: bits 63:32 reserved; PG without PE; NW without CD.
  if (r.cr0 >> 32) return -EINVAL;
  if ((r.cr0 & cpu::kCr0PG) && !(r.cr0 & cpu::kCr0PE)) return -EINVAL;
  if ((r.cr0 & cpu::kCr0NW) && !(r.cr0 & cpu::kCr0CD)) return -EINVAL;
  if ((r.efer & cpu::kEferLME) && (r.cr0 & cpu::kCr0PG)) {
    if (!(r.cr4 & cpu::kCr4PAE) || !(r.efer & cpu::kEferLMA)) return -EINVAL;
    if (r.cr3 & phys_rsvd) return -EINVAL;  // kvm_vcpu_is_illegal_gpa(cr3)
  } else {
    if ((r.efer & cpu::kEferLMA) || r.cs.l) return -EINVAL;
  }
  // DEVIATION: KVM accepts any CR4 bit the host supports until
  // KVM_SET_CPUID2 sets the guest's reserved bits; softkvm always refuses
  // the bits of features the engine does not implement (SMEP,
  // SMAP, FSGSBASE, UMIP, PCIDE, ...), which is what KVM does once the
  // CPUID from KVM_GET_SUPPORTED_CPUID is set.
  if (r.cr4 & ~kCr4Supported) return -EINVAL;
  // x86.c: kvm_set_apic_base (host-initiated): reserved = physical-address
  // bits above MAXPHYADDR, bits 0..7 and 9 (0x2ff), and x2APIC enable when
  // the vCPU's CPUID lacks x2APIC; EXTD without EN is LAPIC_MODE_INVALID.
  constexpr uint64_t kApicEnable = 1u << 11;
  constexpr uint64_t kX2apicEnable = 1u << 10;
  const uint64_t apic_rsvd = phys_rsvd | 0x2ff | (x2apic ? 0 : kX2apicEnable);
  if (r.apic_base & apic_rsvd) return -EINVAL;
  if ((r.apic_base & kX2apicEnable) && !(r.apic_base & kApicEnable)) return -EINVAL;
  return 0;
}

// x86.c: __set_sregs_common (the values are taken as given).
void set_sregs(CpuState& s, const kvm_sregs& r) {
  s.seg[cpu::kCs] = from_kvm(r.cs);
  s.seg[cpu::kDs] = from_kvm(r.ds);
  s.seg[cpu::kEs] = from_kvm(r.es);
  s.seg[cpu::kFs] = from_kvm(r.fs);
  s.seg[cpu::kGs] = from_kvm(r.gs);
  s.seg[cpu::kSs] = from_kvm(r.ss);
  s.tr = from_kvm(r.tr);
  s.ldt = from_kvm(r.ldt);
  s.gdt = {r.gdt.base, r.gdt.limit};
  s.idt = {r.idt.base, r.idt.limit};
  s.cr0 = r.cr0;
  s.cr2 = r.cr2;
  s.cr3 = r.cr3;
  s.cr4 = r.cr4;
  s.cr8 = r.cr8 & 0xf;
  s.efer = r.efer;
  s.apic_base = r.apic_base;
}

// api.rst: KVM_GET_FPU. x86.c: kvm_arch_vcpu_ioctl_get_fpu.
void get_fpu(const CpuState& s, kvm_fpu* f) {
  *f = kvm_fpu{};
  const auto& fx = s.fxsave;
  // SAFETY: fpr is [8][16] bytes and xmm [16][16]: exactly the FXSAVE ST and
  // XMM areas (8*16 from offset 32, 16*16 from offset 160), both in bounds.
  std::memcpy(f->fpr, fx.data() + kFxSt, sizeof f->fpr);
  std::memcpy(f->xmm, fx.data() + kFxXmm, sizeof f->xmm);
  f->fcw = load<uint16_t>(fx, kFxFcw);
  f->fsw = load<uint16_t>(fx, kFxFsw);
  f->ftwx = load<uint8_t>(fx, kFxFtw);
  f->last_opcode = load<uint16_t>(fx, kFxFop);
  f->last_ip = load<uint64_t>(fx, kFxFip);
  f->last_dp = load<uint64_t>(fx, kFxFdp);
  // x86.c copies neither MXCSR nor the padding: both read 0 (checked on the
  // host /dev/kvm); MXCSR is reachable through KVM_GET_XSAVE.
}

// api.rst: KVM_SET_FPU. x86.c: kvm_arch_vcpu_ioctl_set_fpu (no checks).
void set_fpu(CpuState& s, const kvm_fpu& f) {
  auto& fx = s.fxsave;
  // SAFETY: see get_fpu.
  std::memcpy(fx.data() + kFxSt, f.fpr, sizeof f.fpr);
  std::memcpy(fx.data() + kFxXmm, f.xmm, sizeof f.xmm);
  store<uint16_t>(fx, kFxFcw, f.fcw);
  store<uint16_t>(fx, kFxFsw, f.fsw);
  store<uint8_t>(fx, kFxFtw, f.ftwx);
  store<uint16_t>(fx, kFxFop, f.last_opcode);
  store<uint64_t>(fx, kFxFip, f.last_ip);
  store<uint64_t>(fx, kFxFdp, f.last_dp);
  // f.mxcsr is ignored, as x86.c: kvm_arch_vcpu_ioctl_set_fpu.
}

}  // namespace skvm::kvm
