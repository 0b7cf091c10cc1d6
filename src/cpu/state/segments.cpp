// SDM Vol. 3A 5.5-5.8 (privilege checks for data and code segment loads),
// Vol. 2A MOV Sreg / JMP far / CALL far. Order of checks follows
// arch/x86/kvm/emulate.c (__load_segment_descriptor).
#include "cpu/mmu/mmu_impl.h"
#include "cpu/state/descriptor.h"

namespace skvm::cpu {

bool load_segment(Cpu& cpu, SegReg seg, uint16_t selector) {
  CpuState& s = cpu.state();
  Segment& dst = s.seg[seg];
  if (!(s.cr0 & kCr0PE)) {
    // Real mode: only selector and base change; cached limit and attributes
    // stay (so "unreal" limits survive).
    dst.selector = selector;
    dst.base = static_cast<uint64_t>(selector) << 4;
    return true;
  }
  if (s.rflags & kFlagVM) {
    Segment v;
    v.selector = selector;
    v.base = static_cast<uint64_t>(selector) << 4;
    v.limit = 0xffff;
    v.type = 3;
    v.present = 1;
    v.s = 1;
    v.dpl = 3;
    dst = v;
    return true;
  }

  const unsigned cur_cpl = cpl(s);
  const unsigned rpl = selector & 3;
  const bool long64 = (s.efer & kEferLMA) && s.seg[kCs].l;
  if ((selector & ~3u) == 0) {
    // Null selector: fine for data segments; SS only in 64-bit mode at
    // CPL < 3 with RPL == CPL.
    if (seg == kSs && (!long64 || cur_cpl == 3 || rpl != cur_cpl)) return raise(cpu, kGP, 0);
    if (seg == kCs) return raise(cpu, kGP, 0);
    Segment n = null_segment(selector);
    if (seg == kSs) {
      n.dpl = static_cast<uint8_t>(cur_cpl);
      n.db = 1;
    }
    dst = n;
    return true;
  }

  uint64_t raw;
  const uint32_t err = selector & 0xfffcu;
  switch (fetch_descriptor(cpu, selector, &raw)) {
    case DescFetch::kOutOfLimits: return raise(cpu, kGP, err);
    case DescFetch::kFault: return false;
    case DescFetch::kOk: break;
  }
  if (!desc_s(raw)) return raise(cpu, kGP, err);
  const unsigned type = desc_type(raw);
  const unsigned dpl = desc_dpl(raw);
  const bool code = (type & 8) != 0;
  if (seg == kSs) {
    if (rpl != cur_cpl || code || !(type & 2) || dpl != cur_cpl) return raise(cpu, kGP, err);
    if (!desc_present(raw)) return raise(cpu, kSS, err);
  } else if (seg == kCs) {
    // MOV/POP to CS is #UD at decode; CS loads go through load_code_segment.
    return raise(cpu, kUD);
  } else {
    if (code && !(type & 2)) return raise(cpu, kGP, err);  // execute-only code
    const bool conforming_code = code && (type & 4);
    if (!conforming_code && (rpl > dpl || cur_cpl > dpl)) return raise(cpu, kGP, err);
    if (!desc_present(raw)) return raise(cpu, kNP, err);
  }
  if (!set_descriptor_accessed(cpu, selector, raw)) return false;
  dst = decode_descriptor(raw | (1ull << 40), selector);
  return true;
}

bool load_code_segment(Cpu& cpu, uint16_t selector, uint64_t offset) {
  CpuState& s = cpu.state();
  Segment& cs = s.seg[kCs];
  if (!(s.cr0 & kCr0PE) || (s.rflags & kFlagVM)) {
    if (offset > cs.limit) return raise(cpu, kGP, 0);
    cs.selector = selector;
    cs.base = static_cast<uint64_t>(selector) << 4;
    s.rip = offset;
    return true;
  }
  const unsigned cur_cpl = cpl(s);
  const unsigned rpl = selector & 3;
  if ((selector & ~3u) == 0) return raise(cpu, kGP, 0);
  uint64_t raw;
  const uint32_t err = selector & 0xfffcu;
  switch (fetch_descriptor(cpu, selector, &raw)) {
    case DescFetch::kOutOfLimits: return raise(cpu, kGP, err);
    case DescFetch::kFault: return false;
    case DescFetch::kOk: break;
  }
  const unsigned type = desc_type(raw);
  const unsigned dpl = desc_dpl(raw);
  if (!desc_s(raw)) {
    // Far CALL/JMP through call gates, task gates and TSS descriptors
    // never get here (exec/branch.h sends them to events/call_gate.h and
    // events/task_switch.h); what remains is RETF (or a task's CS) naming
    // a system descriptor: not a code segment, #GP(selector) (SDM Vol. 2B
    // RET, "IF return code segment descriptor is not a code segment").
    return raise(cpu, kGP, err);
  }
  if (!(type & 8)) return raise(cpu, kGP, err);
  if (type & 4) {
    if (dpl > cur_cpl) return raise(cpu, kGP, err);  // conforming
  } else if (rpl > cur_cpl || dpl != cur_cpl) {
    return raise(cpu, kGP, err);
  }
  if (!desc_present(raw)) return raise(cpu, kNP, err);
  const bool lma = (s.efer & kEferLMA) != 0;
  if (lma && desc_l(raw) && desc_db(raw)) return raise(cpu, kGP, err);
  Segment n = decode_descriptor(raw | (1ull << 40), static_cast<uint16_t>((selector & ~3u) | cur_cpl));
  if (lma && n.l) {
    if (static_cast<uint64_t>(static_cast<int64_t>(offset << 16) >> 16) != offset) return raise(cpu, kGP, 0);
  } else if (offset > n.limit) {
    return raise(cpu, kGP, 0);
  }
  if (!set_descriptor_accessed(cpu, selector, raw)) return false;
  cs = n;
  s.rip = offset;
  return true;
}

}  // namespace skvm::cpu
