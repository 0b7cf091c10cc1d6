// SDM Vol. 2A/2B system instructions that use the descriptor tables and the
// fast system-call MSRs: SYSCALL/SYSRET, SYSENTER/SYSEXIT, SWAPGS, RDTSCP,
// SLDT/STR/LLDT/LTR/VERR/VERW (group 6, 0F 00), SMSW/LMSW (group 7),
// LAR/LSL, ARPL. The transitions themselves live in events/fast_syscall.*
// (the mmu half); these handlers decode operands and set the flags.
#pragma once

#include "cpu/events/fast_syscall.h"
#include "cpu/exec/exec.h"
#include "cpu/exec/system.h"
#include "cpu/state/descriptor.h"

namespace skvm::cpu::exec {

inline constexpr uint64_t kCr4Umip = 1ull << 11;

// Real mode and virtual-8086 mode: the protection instructions are #UD.
inline bool protected_non_v86(const CpuState& s) { return (s.cr0 & kCr0PE) && !(s.rflags & kFlagVM); }
// CR4.UMIP: SGDT/SIDT/SLDT/STR/SMSW at CPL > 0 raise #GP(0).
inline bool umip_allows(Exec& x) {
  return ((x.s.cr4 & kCr4Umip) && cpl(x.s) != 0) ? raise(x.cpu, kGP, 0) : true;
}

// ---- Fast system calls (SDM Vol. 2B SYSCALL, SYSRET, SYSENTER, SYSEXIT) ----
enum class FastSys : uint8_t { kSyscall, kSysret, kSysenter, kSysexit };

template <unsigned W, FastSys K>
bool fast_sys(Exec& x, const Insn&) {
  x.flags();  // the helpers save/restore exact RFLAGS
  bool ok = false;
  switch (K) {
    case FastSys::kSyscall: ok = do_syscall(x.cpu); break;
    case FastSys::kSysret: ok = do_sysret(x.cpu, W == 8); break;
    case FastSys::kSysenter: ok = do_sysenter(x.cpu); break;
    case FastSys::kSysexit: ok = do_sysexit(x.cpu, W == 8); break;
  }
  if (!ok) return false;
  x.sys_changed = true;
  return true;
}

// 0F 01 /7 with a register operand: SWAPGS (F8), RDTSCP (F9); the other
// rm values (MONITORX family on AMD) are #UD here.
template <unsigned W>
bool grp7_rm7(Exec& x, const Insn& i) {
  switch (i.rm & 7) {
    case 0:  // SDM Vol. 2B SWAPGS
      if (!do_swapgs(x.cpu)) return false;
      x.sys_changed = true;
      return true;
    case 1: {  // SDM Vol. 2B RDTSCP: #UD without CPUID.80000001H:EDX.RDTSCP[27]
      uint32_t leaf[4];
      x.cpu.bus().cpuid(0x80000001u, 0, leaf);
      if (!(leaf[3] & (1u << 27))) return raise(x.cpu, kUD);
      if ((x.s.cr4 & kCr4TSD) && cpl(x.s) != 0) return raise(x.cpu, kGP, 0);
      uint64_t t = x.cpu.bus().tsc() + x.s.msr.tsc_offset;
      reg_set<4>(x.s, kRax, t);
      reg_set<4>(x.s, kRdx, t >> 32);
      reg_set<4>(x.s, kRcx, x.s.msr.tsc_aux);
      return true;
    }
    default: return raise(x.cpu, kUD);
  }
}

// Stores a 16-bit value to r/m: memory gets 16 bits, a register gets the
// value zero-extended to the operand size (SLDT, STR, SMSW).
template <unsigned W>
inline bool store_selector(Exec& x, const Insn& i, uint64_t v) {
  if (i.pfx & kInsnMem) return seg_write<2>(x, seg_of(i), effective_address(x, i), v & 0xffff);
  reg_set<W>(x.s, i.rm, v);
  return true;
}

// ---- Group 6 (0F 00): SLDT, STR, LLDT, LTR, VERR, VERW ----
enum class Grp6 : uint8_t { kSldt, kStr, kLldt, kLtr, kVerr, kVerw };

// VERR/VERW (SDM Vol. 2B): ZF=1 when the segment is accessible at the
// current CPL and RPL and readable (VERR) or writable (VERW).
inline bool verify_segment(Exec& x, uint16_t sel, bool write, bool* ok) {
  *ok = false;
  if ((sel & ~3u) == 0) return true;
  uint64_t raw;
  switch (fetch_descriptor(x.cpu, sel, &raw)) {
    case DescFetch::kOutOfLimits: return true;
    case DescFetch::kFault: return false;
    case DescFetch::kOk: break;
  }
  if (!desc_s(raw)) return true;
  const unsigned type = desc_type(raw);
  const bool code = type & 8;
  const bool conforming_code = code && (type & 4);
  if (!conforming_code && (desc_dpl(raw) < cpl(x.s) || desc_dpl(raw) < (sel & 3u))) return true;
  *ok = write ? (!code && (type & 2)) : (!code || (type & 2));
  return true;
}

template <unsigned W, Grp6 K>
bool grp6(Exec& x, const Insn& i) {
  if (!protected_non_v86(x.s)) return raise(x.cpu, kUD);
  if constexpr (K == Grp6::kSldt || K == Grp6::kStr) {
    if (!umip_allows(x)) return false;
    return store_selector<W>(x, i, K == Grp6::kSldt ? x.s.ldt.selector : x.s.tr.selector);
  } else {
    uint64_t sel;
    if (!rm_read<2>(x, i, &sel)) return false;
    if constexpr (K == Grp6::kLldt || K == Grp6::kLtr) {
      x.flags();
      bool ok = K == Grp6::kLldt ? load_ldt(x.cpu, static_cast<uint16_t>(sel))
                                 : load_tr(x.cpu, static_cast<uint16_t>(sel));
      if (!ok) return false;
      x.sys_changed = true;
      return true;
    } else {
      bool ok;
      if (!verify_segment(x, static_cast<uint16_t>(sel), K == Grp6::kVerw, &ok)) return false;
      uint64_t f = x.flags();
      x.s.rflags = ok ? (f | kFlagZF) : (f & ~kFlagZF);
      return true;
    }
  }
}

// SMSW (SDM Vol. 2B): CR0 to r/m (a register gets the operand size).
template <unsigned W>
bool smsw(Exec& x, const Insn& i) {
  if (!umip_allows(x)) return false;
  return store_selector<W>(x, i, x.s.cr0 & kMask<W>);
}
// LMSW (SDM Vol. 2A): loads CR0[3:0]; PE can be set but not cleared.
template <unsigned W>
bool lmsw(Exec& x, const Insn& i) {
  if (!require_cpl0(x)) return false;
  uint64_t v;
  if (!rm_read<2>(x, i, &v)) return false;
  x.flags();
  if (!write_cr(x.cpu, 0, (x.s.cr0 & ~0xeull) | (v & 0xf))) return false;
  x.sys_changed = true;
  return true;
}

// ---- LAR / LSL (SDM Vol. 2A LAR, LSL) ----
// Valid system types: legacy LAR 1-5, 9, B, C; LSL 1-3, 9, B. IA-32e
// mode: LAR 2, 9, B, C; LSL 2, 9, B.
inline bool lar_lsl_type_ok(bool lsl, bool lma, unsigned type) {
  if (lma) return type == 2 || type == 9 || type == 0xb || (!lsl && type == 0xc);
  switch (type) {
    case 1: case 2: case 3: case 9: case 0xb: return true;
    case 4: case 5: case 0xc: return !lsl;
    default: return false;
  }
}
template <unsigned W, bool Lsl>
bool lar_lsl(Exec& x, const Insn& i) {
  if (!protected_non_v86(x.s)) return raise(x.cpu, kUD);
  uint64_t sel;
  if (!rm_read<2>(x, i, &sel)) return false;
  bool valid = false;
  uint64_t raw = 0;
  if ((sel & ~3ull) != 0) {
    switch (fetch_descriptor(x.cpu, static_cast<uint16_t>(sel), &raw)) {
      case DescFetch::kOutOfLimits: break;
      case DescFetch::kFault: return false;
      case DescFetch::kOk: valid = true; break;
    }
  }
  if (valid) {
    const unsigned type = desc_type(raw);
    const bool conforming_code = desc_s(raw) && (type & 0xc) == 0xc;
    if (!desc_s(raw) && !lar_lsl_type_ok(Lsl, (x.s.efer & kEferLMA) != 0, type)) valid = false;
    if (!conforming_code && (desc_dpl(raw) < cpl(x.s) || desc_dpl(raw) < (sel & 3u))) valid = false;
  }
  uint64_t f = x.flags();
  if (!valid) {
    x.s.rflags = f & ~kFlagZF;
    return true;
  }
  uint64_t v;
  if constexpr (Lsl) {
    v = (raw & 0xffff) | ((raw >> 32) & 0xf0000);
    if ((raw >> 55) & 1) v = (v << 12) | 0xfff;
  } else {
    v = (raw >> 32) & 0x00f0ff00;
  }
  reg_set<W == 8 ? 4 : W>(x.s, i.reg, v);  // a 64-bit destination is zero-extended
  x.s.rflags = f | kFlagZF;
  return true;
}

// ARPL Ew, Gw (SDM Vol. 2A; opcode 63 outside 64-bit mode): raises the
// RPL of the destination selector to the source's; ZF tells whether it did.
template <unsigned W>
bool arpl(Exec& x, const Insn& i) {
  if (!protected_non_v86(x.s)) return raise(x.cpu, kUD);
  uint64_t d;
  bool mem = i.pfx & kInsnMem;
  uint64_t off = mem ? effective_address(x, i) : 0;
  if (mem ? !seg_read<2>(x, seg_of(i), off, &d) : ((d = reg_get<2>(x.s, i.rm)), false)) return false;
  uint64_t src = reg_get<2>(x.s, i.reg);
  uint64_t f = x.flags();
  if ((d & 3) < (src & 3)) {
    d = (d & ~3ull) | (src & 3);
    if (mem ? !seg_write<2>(x, seg_of(i), off, d) : (reg_set<2>(x.s, i.rm, d), false)) return false;
    x.s.rflags = f | kFlagZF;
  } else {
    x.s.rflags = f & ~kFlagZF;
  }
  return true;
}

}  // namespace skvm::cpu::exec
