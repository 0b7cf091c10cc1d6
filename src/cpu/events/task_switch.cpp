// SDM Vol. 3A 7.3 (task switching), 7.4 (task linking); emulate.c
// emulator_do_task_switch and task_switch_16/32 for the order KVM follows.
#include "cpu/events/task_switch.h"

#include <cstring>

#include "cpu/state/descriptor.h"

namespace skvm::cpu {
namespace {

constexpr unsigned kBusy = 2;  // type bit 1 of a TSS descriptor

bool is_tss(uint64_t raw) {
  const unsigned t = desc_type(raw);
  return !desc_s(raw) && (t == 1 || t == 3 || t == 9 || t == 0xb);
}

// Rewrite the type of the GDT descriptor of `sel` (busy bit).
bool set_busy(Cpu& cpu, uint16_t sel, uint64_t raw, bool busy) {
  uint8_t access = static_cast<uint8_t>(raw >> 40);
  access = busy ? (access | kBusy) : (access & ~kBusy);
  const uint64_t la = (cpu.state().gdt.base + (sel & ~7u) + 5) & 0xffffffffull;
  return write_linear(cpu, la, &access, 1, Acc::kSysWrite);
}

// A fault while loading the new task's segments is #TS with the same
// error code (emulate.c __load_segment_descriptor, X86_TRANSFER_TASK_SWITCH).
bool as_ts(Cpu& cpu) {
  Signals& sig = cpu.signals();
  if (sig.exception && (sig.vector == kGP || sig.vector == kNP) && sig.has_error) sig.vector = kTS;
  return false;
}

bool load_task_ldt(Cpu& cpu, uint16_t sel) {
  CpuState& s = cpu.state();
  if ((sel & ~3u) == 0) {
    s.ldt = null_segment(sel);
    return true;
  }
  const uint32_t err = sel & 0xfffcu;
  if (sel & 4) return raise(cpu, kTS, err);
  uint64_t raw;
  switch (fetch_descriptor(cpu, sel, &raw)) {
    case DescFetch::kOutOfLimits: return raise(cpu, kTS, err);
    case DescFetch::kFault: return false;
    case DescFetch::kOk: break;
  }
  if (desc_s(raw) || desc_type(raw) != 2) return raise(cpu, kTS, err);
  if (!desc_present(raw)) return raise(cpu, kTS, err);
  s.ldt = decode_descriptor(raw, sel);
  return true;
}

struct TaskState {
  uint32_t cr3 = 0, eip = 0, eflags = 0;
  uint32_t gpr[8] = {};
  uint16_t sel[6] = {};  // ES, CS, SS, DS, FS, GS (SegReg order)
  uint16_t ldt = 0;
  bool has_cr3 = false;
};

}  // namespace

bool task_switch(Cpu& cpu, uint16_t tss_sel, TaskSwitchReason reason, uint64_t return_rip, bool has_error,
                 uint32_t error_code) {
  CpuState& s = cpu.state();
  uint64_t next_raw, cur_raw = 0;
  const uint32_t terr = tss_sel & 0xfffcu;
  switch (fetch_descriptor(cpu, tss_sel, &next_raw)) {
    case DescFetch::kOutOfLimits: return raise(cpu, kGP, terr);
    case DescFetch::kFault: return false;
    case DescFetch::kOk: break;
  }
  const Segment next = decode_descriptor(next_raw, tss_sel);
  const bool next32 = (desc_type(next_raw) & 8) != 0;
  // emulate.c: not present, or a limit below 0x67 (32-bit) / 0x2b (16-bit).
  if (!desc_present(next_raw) || (next32 ? next.limit < 0x67 : next.limit < 0x2b)) return raise(cpu, kTS, terr);
  const uint16_t old_sel = s.tr.selector;
  const uint64_t old_base = s.tr.base & 0xffffffffull;
  const bool old32 = (s.tr.type & 8) != 0;
  const bool old_in_gdt = (old_sel & ~3u) != 0 && fetch_descriptor(cpu, old_sel, &cur_raw) == DescFetch::kOk;
  if (cpu.signals().exception) return false;

  // Save the outgoing task (general registers, selectors, EIP, EFLAGS).
  uint64_t flags = s.rflags;
  if (reason == TaskSwitchReason::kIret) flags &= ~kFlagNT;
  if (old32) {
    uint32_t img[18];
    img[0] = static_cast<uint32_t>(return_rip);
    img[1] = static_cast<uint32_t>(flags);
    for (unsigned k = 0; k < 8; ++k) img[2 + k] = static_cast<uint32_t>(s.gpr[k]);
    for (unsigned k = 0; k < 6; ++k) img[10 + k] = s.seg[k].selector;
    if (!write_linear(cpu, (old_base + 0x20) & 0xffffffffull, img, 16 * 4, Acc::kSysWrite)) return false;
  } else {
    uint16_t img[14];
    img[0] = static_cast<uint16_t>(return_rip);
    img[1] = static_cast<uint16_t>(flags);
    for (unsigned k = 0; k < 8; ++k) img[2 + k] = static_cast<uint16_t>(s.gpr[k]);
    img[10] = s.seg[kEs].selector;
    img[11] = s.seg[kCs].selector;
    img[12] = s.seg[kSs].selector;
    img[13] = s.seg[kDs].selector;
    if (!write_linear(cpu, (old_base + 0x0e) & 0xffffffffull, img, sizeof img, Acc::kSysWrite)) return false;
  }
  // Read the incoming task.
  TaskState t;
  const uint64_t new_base = next.base & 0xffffffffull;
  if (next32) {
    uint32_t img[26];
    if (!read_linear(cpu, new_base, img, sizeof img, Acc::kSysRead)) return false;
    t.cr3 = img[7];
    t.has_cr3 = true;
    t.eip = img[8];
    t.eflags = img[9];
    for (unsigned k = 0; k < 8; ++k) t.gpr[k] = img[10 + k];
    for (unsigned k = 0; k < 6; ++k) t.sel[k] = static_cast<uint16_t>(img[18 + k]);
    t.ldt = static_cast<uint16_t>(img[24]);
  } else {
    uint16_t img[22];
    if (!read_linear(cpu, new_base, img, sizeof img, Acc::kSysRead)) return false;
    t.eip = img[7];
    t.eflags = img[8];
    for (unsigned k = 0; k < 8; ++k) t.gpr[k] = img[9 + k];
    t.sel[kEs] = img[17];
    t.sel[kCs] = img[18];
    t.sel[kSs] = img[19];
    t.sel[kDs] = img[20];
    t.sel[kFs] = s.seg[kFs].selector;  // a 16-bit TSS has no FS/GS: kept
    t.sel[kGs] = s.seg[kGs].selector;
    t.ldt = img[21];
  }
  // Busy bits and the back link (emulator_do_task_switch order).
  if ((reason == TaskSwitchReason::kIret || reason == TaskSwitchReason::kJmp) && old_in_gdt &&
      !set_busy(cpu, old_sel, cur_raw, false)) {
    return false;
  }
  const bool nest = reason == TaskSwitchReason::kCall || reason == TaskSwitchReason::kGate;
  if (nest) {
    const uint16_t link = old_sel;
    if (!write_linear(cpu, new_base, &link, 2, Acc::kSysWrite)) return false;
  }
  if (reason != TaskSwitchReason::kIret && !set_busy(cpu, tss_sel, next_raw, true)) return false;

  // Commit: from here faults belong to the new task.
  if (reason == TaskSwitchReason::kIret) s.rflags &= ~kFlagNT;
  Segment tr = next;
  tr.type = static_cast<uint8_t>(tr.type | kBusy);
  s.tr = tr;
  if (t.has_cr3 && (s.cr0 & kCr0PG)) {
    if (!write_cr(cpu, 3, t.cr3)) return false;
  }
  s.rip = t.eip;
  s.rflags = (t.eflags & 0xffffffffull) | kFlagFixed1;
  if (!next32) s.rflags = (s.rflags & 0xffff) | kFlagFixed1;
  if (nest) s.rflags |= kFlagNT;
  for (unsigned k = 0; k < 8; ++k) {
    // A 16-bit TSS loads the low words only (task_switch_16 writes the
    // 16-bit registers); the upper halves are kept.
    s.gpr[k] = next32 ? t.gpr[k] : ((s.gpr[k] & ~0xffffull) | (t.gpr[k] & 0xffff));
  }
  s.cr0 |= kCr0TS;
  s.dr7 &= ~0x155ull;  // DR7 L0-L3 and LE
  // Selectors first (CPL comes from CS.RPL), then the descriptors.
  for (unsigned k = 0; k < 6; ++k) s.seg[k].selector = t.sel[k];
  if (!load_task_ldt(cpu, t.ldt)) return false;
  if (s.rflags & kFlagVM) {
    for (SegReg r : {kEs, kCs, kSs, kDs, kFs, kGs}) load_segment(cpu, r, t.sel[r]);
  } else {
    if (!load_segment(cpu, kSs, t.sel[kSs])) return as_ts(cpu);
    for (SegReg r : {kEs, kDs, kFs, kGs}) {
      if (!load_segment(cpu, r, t.sel[r])) return as_ts(cpu);
    }
    if (!load_code_segment(cpu, t.sel[kCs], t.eip)) return as_ts(cpu);
  }
  if (has_error) {
    const unsigned w = next32 ? 4 : 2;
    const uint64_t mask = s.seg[kSs].db ? 0xffffffffull : 0xffffull;
    const uint64_t sp = (s.gpr[kRsp] - w) & mask;
    if (!write_mem(cpu, kSs, sp, &error_code, w)) return false;
    s.gpr[kRsp] = (s.gpr[kRsp] & ~mask) | sp;
  }
  return true;
}

bool far_task_transfer(Cpu& cpu, bool is_call, uint16_t selector, uint64_t return_rip, bool* handled) {
  CpuState& s = cpu.state();
  *handled = false;
  if ((selector & ~3u) == 0) return false;
  uint64_t raw;
  if (fetch_descriptor(cpu, selector, &raw) != DescFetch::kOk) {
    cpu.signals().exception = false;  // the caller's normal path reports it
    return false;
  }
  const unsigned type = desc_type(raw);
  if (desc_s(raw) || (type != 5 && !is_tss(raw))) return false;
  *handled = true;
  const uint32_t err = selector & 0xfffcu;
  // No task switches in IA-32e mode (SDM Vol. 3A 7.7).
  if (s.efer & kEferLMA) return raise(cpu, kGP, err);
  const unsigned c = cpl(s);
  if (desc_dpl(raw) < c || desc_dpl(raw) < (selector & 3u)) return raise(cpu, kGP, err);
  uint16_t tss_sel = selector;
  if (type == 5) {
    if (!desc_present(raw)) return raise(cpu, kNP, err);
    tss_sel = static_cast<uint16_t>(raw >> 16);
    const uint32_t terr = tss_sel & 0xfffcu;
    if (tss_sel & 4) return raise(cpu, kGP, terr);
    switch (fetch_descriptor(cpu, tss_sel, &raw)) {
      case DescFetch::kOutOfLimits: return raise(cpu, kGP, terr);
      case DescFetch::kFault: return false;
      case DescFetch::kOk: break;
    }
    if (!is_tss(raw)) return raise(cpu, kGP, terr);
  }
  const uint32_t terr = tss_sel & 0xfffcu;
  if (desc_type(raw) & kBusy) return raise(cpu, kGP, terr);  // busy: #GP(TSS selector)
  if (!desc_present(raw)) return raise(cpu, kNP, terr);
  return task_switch(cpu, tss_sel, is_call ? TaskSwitchReason::kCall : TaskSwitchReason::kJmp, return_rip,
                     false, 0);
}

bool iret_task_return(Cpu& cpu) {
  CpuState& s = cpu.state();
  uint16_t link = 0;
  if (s.tr.limit < 1) return raise(cpu, kTS, s.tr.selector & 0xfffcu);
  if (!read_linear(cpu, s.tr.base & 0xffffffffull, &link, 2, Acc::kSysRead)) return false;
  const uint32_t err = link & 0xfffcu;
  if (link & 4) return raise(cpu, kTS, err);
  uint64_t raw;
  switch (fetch_descriptor(cpu, link, &raw)) {
    case DescFetch::kOutOfLimits: return raise(cpu, kTS, err);
    case DescFetch::kFault: return false;
    case DescFetch::kOk: break;
  }
  const unsigned type = desc_type(raw);
  if (desc_s(raw) || (type != 3 && type != 0xb)) return raise(cpu, kTS, err);  // must be busy
  if (!desc_present(raw)) return raise(cpu, kNP, err);
  // The saved EIP of the outgoing task is the instruction after the IRET.
  return task_switch(cpu, link, TaskSwitchReason::kIret, s.rip, false, 0);
}

}  // namespace skvm::cpu
