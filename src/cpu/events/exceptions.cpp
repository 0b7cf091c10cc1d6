// SDM Vol. 3A chapter 6 (Interrupt and Exception Handling): recording
// exceptions, delivery through the real-mode IVT and the protected / long
// mode IDT, double-fault escalation (SDM 6.15, table 6-5) and triple fault.
//
// Contract with exec/ (the run loop):
//   - state().rflags is exact (lazy flags materialised) when deliver_event is
//     called; state().rip is the address of the faulting instruction for
//     exceptions and INT n, the next instruction for external interrupts.
//     A fault raised *during* delivery is reported with state().rip as its
//     return address (so INT n that faults points at the INT instruction).
//   - kind: kException for CPU exceptions (including INT1/ICEBP with
//     return_rip = next instruction); kSoftwareInt for INT n / INT3 / INTO
//     (gate DPL checked against CPL); kExternal for INTR; kNmi for NMI.
//   - For vector 14, CR2 is written from signals().fault_cr2 when
//     signals().exception holds that #PF; otherwise CR2 is left as is.
//   - deliver_event clears signals().exception. It returns true after the
//     frame is pushed and CS:RIP loaded (the mode may have changed). It
//     returns false with *shutdown = true on a triple fault, and false with
//     *shutdown = false when the delivery needs an exit (exit() filled,
//     signals().exit_now set: MMIO in a descriptor table).
#include <cstring>

#include "cpu/mmu/mmu_impl.h"
#include "cpu/events/task_switch.h"
#include "cpu/state/descriptor.h"

namespace skvm::cpu {

bool raise(Cpu& cpu, uint8_t vector) {
  Signals& sig = cpu.signals();
  sig.exception = true;
  sig.vector = vector;
  sig.has_error = false;
  sig.error_code = 0;
  return false;
}

bool raise(Cpu& cpu, uint8_t vector, uint32_t error_code) {
  Signals& sig = cpu.signals();
  sig.exception = true;
  sig.vector = vector;
  sig.has_error = true;
  sig.error_code = error_code;
  return false;
}

bool raise_pf(Cpu& cpu, uint64_t linear, uint32_t error_code) {
  cpu.signals().fault_cr2 = linear;
  return raise(cpu, kPF, error_code);
}

namespace {

enum class ExcClass : uint8_t { kBenign, kContributory, kPageFault };

ExcClass exception_class(uint8_t vector) {
  switch (vector) {
    case kDE: case kTS: case kNP: case kSS: case kGP:
      return ExcClass::kContributory;
    case kPF:
      return ExcClass::kPageFault;
    default:
      return ExcClass::kBenign;
  }
}

bool is_canonical(uint64_t la) {
  return static_cast<uint64_t>(static_cast<int64_t>(la << 16) >> 16) == la;
}

// Frame under construction: values pushed in order (highest address first).
struct Frame {
  uint8_t bytes[64] = {};
  unsigned size = 0;   // bytes used, growing downwards from the end
  unsigned width = 0;  // 2, 4 or 8
  void push(uint64_t v) {
    // At most 10 pushes of 4 bytes (v86) or 6 of 8 bytes (long mode): fits.
    size += width;
    std::memcpy(bytes + sizeof bytes - size, &v, width);
  }
  const uint8_t* data() const { return bytes + sizeof bytes - size; }
};

bool deliver_real(Cpu& cpu, uint8_t vector, uint64_t return_rip) {
  CpuState& s = cpu.state();
  // SDM Vol. 3A 20.1.4: the IVT entry is 4 bytes (offset, segment).
  if (vector * 4u + 3 > s.idt.limit) return raise(cpu, kGP, vector * 8u + 2);
  uint16_t ivt[2];
  if (!read_linear(cpu, (s.idt.base + vector * 4u) & 0xffffffffull, ivt, 4, Acc::kSysRead)) return false;
  const Segment& ss = s.seg[kSs];
  uint64_t sp_mask = ss.db ? 0xffffffffull : 0xffffull;
  uint64_t sp = s.gpr[kRsp] & sp_mask;
  uint16_t values[3] = {static_cast<uint16_t>(s.rflags), s.seg[kCs].selector,
                        static_cast<uint16_t>(return_rip)};
  for (uint16_t v : values) {
    sp = (sp - 2) & sp_mask;
    if (!write_mem(cpu, kSs, sp, &v, 2)) return false;
  }
  s.gpr[kRsp] = (s.gpr[kRsp] & ~sp_mask) | sp;
  s.rflags &= ~(kFlagIF | kFlagTF | kFlagAC | kFlagRF);
  Segment& cs = s.seg[kCs];
  cs.selector = ivt[1];
  cs.base = static_cast<uint64_t>(ivt[1]) << 4;
  s.rip = ivt[0];
  return true;
}

bool deliver_protected(Cpu& cpu, EventKind kind, uint8_t vector, bool has_error,
                       uint32_t error_code, uint64_t return_rip) {
  CpuState& s = cpu.state();
  const bool lm = (s.efer & kEferLMA) != 0;
  const bool v86 = (s.rflags & kFlagVM) != 0;
  const unsigned old_cpl = cpl(s);
  const uint32_t ext = kind == EventKind::kSoftwareInt ? 0 : 1;
  const uint32_t idt_error = vector * 8u + 2 + ext;

  // SDM Vol. 2A INT n: in virtual-8086 mode with IOPL < 3 (CR4.VME not
  // implemented), INT n faults before the IDT is consulted. INT3 and INTO
  // take the normal path (gate DPL check).
  if (kind == EventKind::kSoftwareInt && v86 && ((s.rflags & kFlagIOPL) >> 12) < 3 && vector != kBP &&
      vector != kOF) {
    return raise(cpu, kGP, 0);
  }

  const unsigned gate_size = lm ? 16 : 8;
  if (vector * gate_size + gate_size - 1 > s.idt.limit) return raise(cpu, kGP, idt_error);
  uint64_t gate[2] = {0, 0};
  uint64_t gate_la = s.idt.base + vector * gate_size;
  if (!lm) gate_la &= 0xffffffffull;
  if (!read_linear(cpu, gate_la, gate, gate_size, Acc::kSysRead)) return false;
  const unsigned type = desc_type(gate[0]);
  if (lm ? (type != 0xe && type != 0xf) : (type != 0x5 && type != 0x6 && type != 0x7 && type != 0xe && type != 0xf)) {
    return raise(cpu, kGP, idt_error);
  }
  if (desc_s(gate[0])) return raise(cpu, kGP, idt_error);
  if (kind == EventKind::kSoftwareInt && desc_dpl(gate[0]) < old_cpl) return raise(cpu, kGP, idt_error);
  if (!desc_present(gate[0])) return raise(cpu, kNP, idt_error);
  if (type == 0x5) {
    // Task gate (SDM Vol. 3A 6.11.2; legacy mode only: the type check above
    // rejects it in IA-32e mode): a task switch, the error code pushed on
    // the new task's stack (emulate.c emulator_do_task_switch).
    const uint16_t tss_sel = static_cast<uint16_t>(gate[0] >> 16);
    const uint32_t terr = (tss_sel & 0xfffcu) + ext;
    uint64_t tss_raw;
    if (tss_sel & 4) return raise(cpu, kGP, terr);
    switch (fetch_descriptor(cpu, tss_sel, &tss_raw)) {
      case DescFetch::kOutOfLimits: return raise(cpu, kGP, terr);
      case DescFetch::kFault: return false;
      case DescFetch::kOk: break;
    }
    const unsigned tss_type = desc_type(tss_raw);
    if (desc_s(tss_raw) || (tss_type != 1 && tss_type != 9)) return raise(cpu, kTS, terr);  // busy or not a TSS
    if (!desc_present(tss_raw)) return raise(cpu, kNP, terr);
    return task_switch(cpu, tss_sel, TaskSwitchReason::kGate, return_rip, has_error, error_code);
  }
  const bool gate32 = type >= 0xe;
  const bool int_gate = type == 0x6 || type == 0xe;
  const uint16_t selector = static_cast<uint16_t>(gate[0] >> 16);
  uint64_t offset = (gate[0] & 0xffff) | ((gate[0] >> 32) & 0xffff0000ull);
  if (lm) offset |= (gate[1] & 0xffffffffull) << 32;
  if (!gate32) offset &= 0xffff;
  const unsigned ist = lm ? (gate[0] >> 32) & 7 : 0;

  // Target code segment.
  if ((selector & ~3u) == 0) return raise(cpu, kGP, ext);
  uint64_t cs_raw;
  const uint32_t sel_error = (selector & 0xfffcu) + ext;
  switch (fetch_descriptor(cpu, selector, &cs_raw)) {
    case DescFetch::kOutOfLimits: return raise(cpu, kGP, sel_error);
    case DescFetch::kFault: return false;
    case DescFetch::kOk: break;
  }
  if (!desc_s(cs_raw) || !(desc_type(cs_raw) & 8) || desc_dpl(cs_raw) > old_cpl) {
    return raise(cpu, kGP, sel_error);
  }
  if (!desc_present(cs_raw)) return raise(cpu, kNP, sel_error);
  if (lm && (!desc_l(cs_raw) || desc_db(cs_raw))) return raise(cpu, kGP, sel_error);
  const bool conforming = (desc_type(cs_raw) & 4) != 0;
  const unsigned new_cpl = conforming ? old_cpl : desc_dpl(cs_raw);
  if (v86 && new_cpl != 0) return raise(cpu, kGP, sel_error);
  const bool stack_switch = new_cpl < old_cpl;

  // New stack.
  Segment new_ss = s.seg[kSs];
  uint64_t new_rsp = s.gpr[kRsp];
  uint64_t ss_raw = 0;
  const uint32_t tss_error = (s.tr.selector & 0xfffcu) + ext;
  auto tss_read = [&](uint32_t off, unsigned size, uint64_t* v) {
    *v = 0;
    if (off + size - 1 > s.tr.limit) return raise(cpu, kTS, tss_error);
    uint64_t la = s.tr.base + off;
    if (!lm) la &= 0xffffffffull;
    return read_linear(cpu, la, v, size, Acc::kSysRead);
  };
  if (lm) {
    if (ist != 0) {
      if (!tss_read(36 + (ist - 1) * 8, 8, &new_rsp)) return false;
    } else if (stack_switch) {
      if (!tss_read(4 + new_cpl * 8, 8, &new_rsp)) return false;
    }
    if (stack_switch) {
      new_ss = null_segment(static_cast<uint16_t>(new_cpl));
      new_ss.dpl = static_cast<uint8_t>(new_cpl);
    }
    new_rsp &= ~0xfull;
  } else if (stack_switch) {
    const bool tss32 = (s.tr.type & 8) != 0;
    uint64_t ss_sel64 = 0;
    if (tss32) {
      if (!tss_read(4 + new_cpl * 8, 4, &new_rsp) || !tss_read(8 + new_cpl * 8, 2, &ss_sel64)) return false;
    } else {
      if (!tss_read(2 + new_cpl * 4, 2, &new_rsp) || !tss_read(4 + new_cpl * 4, 2, &ss_sel64)) return false;
    }
    const uint16_t ss_sel = static_cast<uint16_t>(ss_sel64);
    const uint32_t ss_error = (ss_sel & 0xfffcu) + ext;
    if ((ss_sel & ~3u) == 0) return raise(cpu, kTS, ext);
    switch (fetch_descriptor(cpu, ss_sel, &ss_raw)) {
      case DescFetch::kOutOfLimits: return raise(cpu, kTS, ss_error);
      case DescFetch::kFault: return false;
      case DescFetch::kOk: break;
    }
    if ((ss_sel & 3) != new_cpl || desc_dpl(ss_raw) != new_cpl || !desc_s(ss_raw) ||
        (desc_type(ss_raw) & 0xa) != 0x2) {
      return raise(cpu, kTS, ss_error);
    }
    if (!desc_present(ss_raw)) return raise(cpu, kSS, ss_error);
    new_ss = decode_descriptor(ss_raw, ss_sel);
  }

  // Build the frame (SDM Vol. 3A figures 6-4 and 6-9).
  Frame f;
  f.width = lm ? 8 : (gate32 ? 4 : 2);
  if (v86) {
    f.push(s.seg[kGs].selector);
    f.push(s.seg[kFs].selector);
    f.push(s.seg[kDs].selector);
    f.push(s.seg[kEs].selector);
  }
  if (lm || stack_switch) {
    f.push(s.seg[kSs].selector);
    f.push(s.gpr[kRsp]);
  }
  // Fault-class exceptions (not #DB, #BP, #OF, #DF, #MC) push RFLAGS with
  // RF = 1 (x86.c: kvm_check_and_inject_events follows Intel here).
  const bool fault_class = kind == EventKind::kException && vector < 32 && vector != kDB &&
                           vector != kBP && vector != kOF && vector != kDF && vector != kMC;
  f.push(fault_class ? (s.rflags | kFlagRF) : s.rflags);
  f.push(s.seg[kCs].selector);
  f.push(return_rip);
  if (has_error) f.push(error_code);

  const Acc acc = new_cpl == 3 ? Acc::kWrite : Acc::kSysWrite;
  const uint32_t stack_error = stack_switch ? (new_ss.selector & 0xfffcu) + ext : ext;
  uint64_t frame_la;
  uint64_t top;
  if (lm) {
    top = new_rsp - f.size;
    if (!is_canonical(top) || !is_canonical(new_rsp - 1)) return raise(cpu, kSS, stack_error);
    frame_la = top;
  } else {
    uint64_t mask = new_ss.db ? 0xffffffffull : 0xffffull;
    uint64_t sp = new_rsp & mask;
    top = (sp - f.size) & mask;
    bool expand_down = !(new_ss.type & 8) && (new_ss.type & 4);
    uint64_t upper = expand_down ? mask : new_ss.limit;
    uint64_t lower = expand_down ? uint64_t{new_ss.limit} + 1 : 0;
    if (sp < f.size || top < lower || sp - 1 > upper) return raise(cpu, kSS, stack_error);
    frame_la = (new_ss.base + top) & 0xffffffffull;
  }
  if (!write_linear(cpu, frame_la, f.data(), f.size, acc)) return false;
  if (!set_descriptor_accessed(cpu, selector, cs_raw)) return false;
  if (ss_raw != 0 && !set_descriptor_accessed(cpu, new_ss.selector, ss_raw)) return false;

  // Commit.
  if (v86) {
    for (SegReg r : {kEs, kDs, kFs, kGs}) s.seg[r] = null_segment(0);
  }
  Segment cs = decode_descriptor(cs_raw | (1ull << 40), static_cast<uint16_t>((selector & ~3u) | new_cpl));
  s.seg[kCs] = cs;
  if (stack_switch) {
    if (ss_raw != 0) new_ss.type |= 1;
    s.seg[kSs] = new_ss;
  }
  if (lm) {
    s.gpr[kRsp] = top;
  } else {
    uint64_t mask = new_ss.db ? 0xffffffffull : 0xffffull;
    s.gpr[kRsp] = (new_rsp & ~mask) | top;
  }
  s.rip = offset;
  s.rflags &= ~(kFlagTF | kFlagNT | kFlagRF | kFlagVM);
  if (int_gate) s.rflags &= ~kFlagIF;
  return true;
}

bool deliver_once(Cpu& cpu, EventKind kind, uint8_t vector, bool has_error, uint32_t error_code,
                  uint64_t return_rip) {
  if (!(cpu.state().cr0 & kCr0PE)) return deliver_real(cpu, vector, return_rip);
  return deliver_protected(cpu, kind, vector, has_error, error_code, return_rip);
}

}  // namespace

bool deliver_event(Cpu& cpu, EventKind kind, uint8_t vector, bool has_error, uint32_t error_code,
                   uint64_t return_rip, bool* shutdown) {
  CpuState& s = cpu.state();
  Signals& sig = cpu.signals();
  *shutdown = false;
  if (kind == EventKind::kException && vector == kPF && sig.exception && sig.vector == kPF) {
    s.cr2 = sig.fault_cr2;
  }
  sig.exception = false;
  // Real mode pushes no error code.
  if (!(s.cr0 & kCr0PE)) has_error = false;
  for (;;) {
    const bool delivered = deliver_once(cpu, kind, vector, has_error, error_code, return_rip);
    if (sig.exit_after || (sig.exit_now && cpu.exit().reason == Stop::kMmio)) {
      // A descriptor table, TSS or stack in unbacked memory: the frame
      // cannot be delivered through an MMIO exit (there is no instruction
      // to re-execute). Not supported: emulation failure.
      sig.exit_after = false;
      return internal_error_exit(cpu, 0xe7e40000u | vector);
    }
    if (delivered) {
      cpu.count_delivery();
      s.halted = false;
      if (kind == EventKind::kNmi) s.nmi_masked = true;
      return true;
    }
    if (sig.exit_now || !sig.exception) {
      if (!sig.exit_now) internal_error_exit(cpu, vector);
      return false;
    }
    // A fault while delivering: SDM Vol. 3A 6.15, table 6-5; KVM
    // (x86.c: kvm_multiple_exception) shuts down on any fault while
    // delivering #DF.
    const uint8_t second = sig.vector;
    sig.exception = false;
    if (second == kPF) s.cr2 = sig.fault_cr2;
    const bool first_is_exception = kind == EventKind::kException;
    if (first_is_exception && vector == kDF) {
      *shutdown = true;
      return false;
    }
    const ExcClass c1 = first_is_exception ? exception_class(vector) : ExcClass::kBenign;
    const ExcClass c2 = exception_class(second);
    kind = EventKind::kException;
    return_rip = s.rip;
    if ((c1 == ExcClass::kContributory && c2 == ExcClass::kContributory) ||
        (c1 == ExcClass::kPageFault && c2 != ExcClass::kBenign)) {
      vector = kDF;
      has_error = true;
      error_code = 0;
    } else {
      vector = second;
      has_error = sig.has_error;
      error_code = sig.error_code;
    }
    if (!(s.cr0 & kCr0PE)) has_error = false;
  }
}

}  // namespace skvm::cpu
