// SDM Vol. 2B SYSCALL / SYSRET / SYSENTER / SYSEXIT / SWAPGS, Vol. 2A
// LLDT / LTR. Segment attributes loaded exactly as the pseudo-code says.
#include "cpu/events/fast_syscall.h"

#include "cpu/mmu/mmu_impl.h"
#include "cpu/state/descriptor.h"

namespace skvm::cpu {
namespace {

bool long64(const CpuState& s) { return (s.efer & kEferLMA) && s.seg[kCs].l && !(s.rflags & kFlagVM); }
bool is_canonical(uint64_t v) { return static_cast<uint64_t>(static_cast<int64_t>(v << 16) >> 16) == v; }

Segment flat_code(uint16_t sel, unsigned dpl, bool l) {
  Segment c;
  c.selector = sel;
  c.base = 0;
  c.limit = 0xffffffff;
  c.type = 0xb;
  c.s = 1;
  c.dpl = static_cast<uint8_t>(dpl);
  c.present = 1;
  c.l = l;
  c.db = !l;
  c.g = 1;
  return c;
}

Segment flat_stack(uint16_t sel, unsigned dpl) {
  Segment d;
  d.selector = sel;
  d.base = 0;
  d.limit = 0xffffffff;
  d.type = 3;
  d.s = 1;
  d.dpl = static_cast<uint8_t>(dpl);
  d.present = 1;
  d.db = 1;
  d.g = 1;
  return d;
}

}  // namespace

bool do_syscall(Cpu& cpu) {
  CpuState& s = cpu.state();
  if (!(s.efer & kEferSCE) || !long64(s)) return raise(cpu, kUD);
  const uint16_t sel = static_cast<uint16_t>(s.msr.star >> 32);
  s.gpr[kRcx] = s.rip;
  s.gpr[kR11] = s.rflags;
  s.rip = s.msr.lstar;
  s.rflags &= ~(s.msr.sfmask | kFlagRF);
  s.rflags |= kFlagFixed1;
  s.seg[kCs] = flat_code(sel & 0xfffc, 0, true);
  s.seg[kSs] = flat_stack(static_cast<uint16_t>(sel + 8), 0);
  return true;
}

bool do_sysret(Cpu& cpu, bool rex_w) {
  CpuState& s = cpu.state();
  if (!(s.efer & kEferSCE) || !long64(s)) return raise(cpu, kUD);
  if (cpl(s) != 0) return raise(cpu, kGP, 0);
  if (rex_w && !is_canonical(s.gpr[kRcx])) return raise(cpu, kGP, 0);
  const uint16_t sel = static_cast<uint16_t>(s.msr.star >> 48);
  if (rex_w) {
    s.rip = s.gpr[kRcx];
    s.seg[kCs] = flat_code(static_cast<uint16_t>((sel + 16) | 3), 3, true);
  } else {
    s.rip = s.gpr[kRcx] & 0xffffffffull;
    s.seg[kCs] = flat_code(static_cast<uint16_t>(sel | 3), 3, false);
  }
  s.rflags = (s.gpr[kR11] & 0x3c7fd7) | kFlagFixed1;
  s.seg[kSs] = flat_stack(static_cast<uint16_t>((sel + 8) | 3), 3);
  return true;
}

bool do_sysenter(Cpu& cpu) {
  CpuState& s = cpu.state();
  const uint16_t sel = static_cast<uint16_t>(s.msr.sysenter_cs);
  if (!(s.cr0 & kCr0PE) || (sel & 0xfffc) == 0) return raise(cpu, kGP, 0);
  const bool lma = (s.efer & kEferLMA) != 0;
  s.rflags &= ~(kFlagVM | kFlagIF | kFlagRF);
  s.seg[kCs] = flat_code(sel & 0xfffc, 0, lma);
  s.seg[kSs] = flat_stack(static_cast<uint16_t>((sel & 0xfffc) + 8), 0);
  s.rip = lma ? s.msr.sysenter_eip : (s.msr.sysenter_eip & 0xffffffffull);
  s.gpr[kRsp] = lma ? s.msr.sysenter_esp : (s.msr.sysenter_esp & 0xffffffffull);
  return true;
}

bool do_sysexit(Cpu& cpu, bool rex_w) {
  CpuState& s = cpu.state();
  const uint16_t sel = static_cast<uint16_t>(s.msr.sysenter_cs);
  if (!(s.cr0 & kCr0PE) || (sel & 0xfffc) == 0 || cpl(s) != 0 || (s.rflags & kFlagVM)) {
    return raise(cpu, kGP, 0);
  }
  if (rex_w) {
    if (!is_canonical(s.gpr[kRdx]) || !is_canonical(s.gpr[kRcx])) return raise(cpu, kGP, 0);
    s.seg[kCs] = flat_code(static_cast<uint16_t>((sel + 32) | 3), 3, true);
    s.seg[kSs] = flat_stack(static_cast<uint16_t>((sel + 40) | 3), 3);
    s.rip = s.gpr[kRdx];
    s.gpr[kRsp] = s.gpr[kRcx];
  } else {
    s.seg[kCs] = flat_code(static_cast<uint16_t>((sel + 16) | 3), 3, false);
    s.seg[kSs] = flat_stack(static_cast<uint16_t>((sel + 24) | 3), 3);
    s.rip = s.gpr[kRdx] & 0xffffffffull;
    s.gpr[kRsp] = s.gpr[kRcx] & 0xffffffffull;
  }
  return true;
}

bool do_swapgs(Cpu& cpu) {
  CpuState& s = cpu.state();
  if (!long64(s)) return raise(cpu, kUD);
  if (cpl(s) != 0) return raise(cpu, kGP, 0);
  uint64_t t = s.seg[kGs].base;
  s.seg[kGs].base = s.msr.kernel_gs_base;
  s.msr.kernel_gs_base = t;
  return true;
}

namespace {

// Fetch a system descriptor from the GDT (16 bytes in long mode).
bool fetch_system(Cpu& cpu, uint16_t selector, uint64_t* lo, uint64_t* base) {
  const uint32_t err = selector & 0xfffcu;
  if (selector & 4) return raise(cpu, kGP, err);
  switch (fetch_descriptor(cpu, selector, lo)) {
    case DescFetch::kOutOfLimits: return raise(cpu, kGP, err);
    case DescFetch::kFault: return false;
    case DescFetch::kOk: break;
  }
  *base = decode_descriptor(*lo, selector).base;
  if (cpu.state().efer & kEferLMA) {
    uint64_t hi;
    switch (fetch_descriptor_high(cpu, selector, &hi)) {
      case DescFetch::kOutOfLimits: return raise(cpu, kGP, err);
      case DescFetch::kFault: return false;
      case DescFetch::kOk: break;
    }
    if ((hi >> 40) & 0x1f) return raise(cpu, kGP, err);  // upper half type must be 0
    *base |= (hi & 0xffffffffull) << 32;
    if (!is_canonical(*base)) return raise(cpu, kGP, err);
  }
  return true;
}

}  // namespace

bool load_ldt(Cpu& cpu, uint16_t selector) {
  CpuState& s = cpu.state();
  if (!(s.cr0 & kCr0PE) || (s.rflags & kFlagVM)) return raise(cpu, kUD);
  if (cpl(s) != 0) return raise(cpu, kGP, 0);
  if ((selector & ~3u) == 0) {
    s.ldt = null_segment(selector);
    return true;
  }
  uint64_t lo, base;
  if (!fetch_system(cpu, selector, &lo, &base)) return false;
  const uint32_t err = selector & 0xfffcu;
  if (desc_s(lo) || desc_type(lo) != 2) return raise(cpu, kGP, err);
  if (!desc_present(lo)) return raise(cpu, kNP, err);
  Segment ldt = decode_descriptor(lo, selector);
  ldt.base = base;
  s.ldt = ldt;
  return true;
}

bool load_tr(Cpu& cpu, uint16_t selector) {
  CpuState& s = cpu.state();
  if (!(s.cr0 & kCr0PE) || (s.rflags & kFlagVM)) return raise(cpu, kUD);
  if (cpl(s) != 0) return raise(cpu, kGP, 0);
  if ((selector & ~3u) == 0) return raise(cpu, kGP, 0);
  uint64_t lo, base;
  if (!fetch_system(cpu, selector, &lo, &base)) return false;
  const uint32_t err = selector & 0xfffcu;
  const unsigned type = desc_type(lo);
  const bool lma = (s.efer & kEferLMA) != 0;
  if (desc_s(lo) || (lma ? type != 9 : (type != 9 && type != 1))) return raise(cpu, kGP, err);
  if (!desc_present(lo)) return raise(cpu, kNP, err);
  // Mark the TSS busy in the GDT (implicit supervisor write).
  uint8_t access = static_cast<uint8_t>((lo >> 40) | 2);
  uint64_t la = s.gdt.base + (selector & ~7u) + 5;
  if (!lma) la &= 0xffffffffull;
  if (!write_linear(cpu, la, &access, 1, Acc::kSysWrite)) return false;
  Segment tr = decode_descriptor(lo | (2ull << 40), selector);
  tr.base = base;
  s.tr = tr;
  return true;
}

}  // namespace skvm::cpu
