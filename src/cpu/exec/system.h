// SDM Vol. 2 and Vol. 3 ch. 2.8 (system instructions): HLT, CPUID, RDTSC,
// RDMSR/WRMSR, LGDT/LIDT/SGDT/SIDT, INVLPG, MOV CRn; flag control (CLC,
// STC, CMC, CLD, STD, CLI, STI, SAHF, LAHF); #UD forms; the handler for
// encodings this slice does not implement.
#pragma once

#include "cpu/events/debug.h"
#include "cpu/exec/exec.h"

namespace skvm::cpu::exec {

inline bool require_cpl0(Exec& x) { return cpl(x.s) == 0 ? true : raise(x.cpu, kGP, 0); }

// Records the instruction bytes for an emulation-failure exit
// (KVM_INTERNAL_ERROR_EMULATION; KVM's ndata may be 0).
inline bool emulation_failure(Exec& x, const Insn& i) {
  InternalExit& e = x.cpu.exit().internal;
  e = InternalExit{};
  e.suberror = 1;  // KVM_INTERNAL_ERROR_EMULATION
  e.ndata = 0;
  uint64_t start = x.s.rip - i.len;
  uint64_t la = x.s.seg[kCs].base + start;
  if (!is_long64(x.s)) la &= 0xffffffffull;
  uint8_t buf[15] = {};
  unsigned n = i.len > 15 ? 15 : i.len;
  Signals saved = x.cpu.signals();
  if (read_linear(x.cpu, la, buf, n, Acc::kExec)) {
    std::memcpy(e.insn, buf, n);
    e.insn_len = static_cast<uint8_t>(n);
  }
  x.cpu.signals() = saved;
  return x.request_stop(Stop::kInternal, false);
}

template <unsigned W>
bool unimplemented(Exec& x, const Insn& i) {
  return emulation_failure(x, i);
}
template <unsigned W>
bool ud(Exec& x, const Insn&) {
  return raise(x.cpu, kUD);
}
template <unsigned W>
bool gp0(Exec& x, const Insn&) {
  return raise(x.cpu, kGP, 0);
}

// HLT: KVM_EXIT_HLT with RIP after the instruction.
template <unsigned W>
bool hlt(Exec& x, const Insn&) {
  if (!require_cpl0(x)) return false;
  x.s.halted = true;
  return x.request_stop(Stop::kHlt, true);
}

template <unsigned W>
bool cpuid(Exec& x, const Insn&) {
  do_cpuid(x.cpu);
  return true;
}

template <unsigned W>
bool rdtsc(Exec& x, const Insn&) {
  if ((x.s.cr4 & kCr4TSD) && cpl(x.s) != 0) return raise(x.cpu, kGP, 0);
  uint64_t t = x.cpu.bus().tsc() + x.s.msr.tsc_offset;
  reg_set<4>(x.s, kRax, t);
  reg_set<4>(x.s, kRdx, t >> 32);
  return true;
}

template <unsigned W, bool Write>
bool msr(Exec& x, const Insn&) {
  if (!require_cpl0(x)) return false;
  uint32_t index = static_cast<uint32_t>(x.s.gpr[kRcx]);
  if constexpr (Write) {
    uint64_t v = (x.s.gpr[kRdx] << 32) | (x.s.gpr[kRax] & 0xffffffffull);
    x.flags();
    if (!wrmsr(x.cpu, index, v)) return false;
    x.sys_changed = true;
  } else {
    uint64_t v;
    if (!rdmsr(x.cpu, index, &v)) return false;
    reg_set<4>(x.s, kRax, v);
    reg_set<4>(x.s, kRdx, v >> 32);
  }
  return true;
}

// LGDT/LIDT m16&32 (m16&64 in 64-bit mode; 24-bit base with a 16-bit
// operand size).
template <unsigned W, bool Idt>
bool load_dt(Exec& x, const Insn& i) {
  if (!require_cpl0(x)) return false;
  uint64_t ea = effective_address(x, i), limit, base;
  if (!seg_read<2>(x, seg_of(i), ea, &limit)) return false;
  uint64_t boff = (ea + 2) & mask_for(i.asize);
  if (is_long64(x.s)) {
    if (!seg_read<8>(x, seg_of(i), boff, &base)) return false;
  } else {
    if (!seg_read<4>(x, seg_of(i), boff, &base)) return false;
    if (W == 2) base &= 0xffffff;
  }
  DescTable& t = Idt ? x.s.idt : x.s.gdt;
  t.limit = static_cast<uint16_t>(limit);
  t.base = base;
  x.sys_changed = true;
  return true;
}
template <unsigned W, bool Idt>
bool store_dt(Exec& x, const Insn& i) {
  if ((x.s.cr4 & (1u << 11)) && cpl(x.s) != 0) return raise(x.cpu, kGP, 0);  // CR4.UMIP
  const DescTable& t = Idt ? x.s.idt : x.s.gdt;
  uint64_t ea = effective_address(x, i);
  uint8_t buf[10];
  uint16_t limit = t.limit;
  uint64_t base = t.base;
  if (!is_long64(x.s)) base &= (W == 2) ? 0xffffff : 0xffffffff;
  std::memcpy(buf, &limit, 2);
  std::memcpy(buf + 2, &base, 8);
  unsigned n = is_long64(x.s) ? 10 : 6;
  return write_mem(x.cpu, seg_of(i), ea, buf, n);
}

template <unsigned W>
bool invlpg(Exec& x, const Insn& i) {
  if (!require_cpl0(x)) return false;
  uint64_t off = effective_address(x, i);
  uint64_t la = x.s.seg[i.seg].base + off;
  if (is_long64(x.s)) {
    if (i.seg != kFs && i.seg != kGs) la = off;
  } else {
    la &= 0xffffffffull;
  }
  tlb_flush_page(x.cpu, la);
  x.sys_changed = true;
  return true;
}

// MOV r, CRn / MOV CRn, r (ModRM.mod is ignored: always a register).
template <unsigned W, bool Write>
bool mov_cr(Exec& x, const Insn& i) {
  unsigned n = i.reg;
  bool valid = n == 0 || n == 2 || n == 3 || n == 4 || (n == 8 && is_long64(x.s));
  if (!valid) return raise(x.cpu, kUD);
  if (!require_cpl0(x)) return false;
  if constexpr (Write) {
    x.flags();
    if (!write_cr(x.cpu, n, reg_get<W>(x.s, i.rm))) return false;
    x.sys_changed = true;
  } else {
    uint64_t v = n == 0 ? x.s.cr0 : n == 2 ? x.s.cr2 : n == 3 ? x.s.cr3 : n == 4 ? x.s.cr4 : x.s.cr8;
    reg_set<W>(x.s, i.rm, v);
  }
  return true;
}

// MOV r, DRn / MOV DRn, r (SDM Vol. 2B MOV-Move to/from Debug Registers;
// emulate.c check_dr_read / check_dr_write, x86.c kvm_set_dr). DR4/DR5
// alias DR6/DR7 unless CR4.DE (then #UD). DR7.GD: #DB (fault) with DR6.BD
// before the access; with KVM_GUESTDBG_USE_HW_BP the client's GD exits
// instead (vmx.c handle_dr). Writes to DR0-DR3/DR7 reprogram the data
// breakpoints.
template <unsigned W, bool Write>
bool mov_dr(Exec& x, const Insn& i) {
  unsigned n = i.reg;
  if (n > 7) return raise(x.cpu, kUD);
  if ((n == 4 || n == 5) && (x.s.cr4 & kCr4DE)) return raise(x.cpu, kUD);
  if (!require_cpl0(x)) return false;
  if (effective_breakpoints(x.cpu).dr7 & kDr7Gd) {
    if (db_exits_to_host(x.cpu) && x.cpu.guest_debug().hw_bp) {
      x.s.rip -= i.len;  // pc: the MOV DR instruction
      db_exit(x.cpu, kDr6Bd);
      x.s.rip += i.len;
      return x.request_stop(Stop::kDebug, false);
    }
    x.flags();
    apply_db_payload(x.s, kDr6Bd);
    return raise(x.cpu, kDB);
  }
  if (n == 4 || n == 5) n += 2;
  if constexpr (Write) {
    uint64_t v = reg_get<W>(x.s, i.rm);
    if ((n == 6 || n == 7) && (v >> 32) != 0) return raise(x.cpu, kGP, 0);
    if (n < 4) x.s.dr[n] = v;
    else if (n == 6) x.s.dr6 = (v & kDr6Volatile) | kDr6ActiveLow;
    else x.s.dr7 = (v & kDr7Volatile) | kDr7Fixed1;
    if (n != 6) update_data_breakpoints(x.cpu);
  } else {
    reg_set<W>(x.s, i.rm, n < 4 ? x.s.dr[n] : n == 6 ? x.s.dr6 : x.s.dr7);
  }
  return true;
}

// CLTS: clear CR0.TS (CPL 0).
template <unsigned W>
bool clts(Exec& x, const Insn&) {
  if (!require_cpl0(x)) return false;
  x.flags();
  if (!write_cr(x.cpu, 0, x.s.cr0 & ~kCr0TS)) return false;
  x.sys_changed = true;
  return true;
}

// WBINVD/INVD: no caches to write back (CPL 0).
template <unsigned W>
bool wbinvd(Exec& x, const Insn&) {
  return require_cpl0(x);
}

// ---- Flag control ----
enum class FlagInsn : uint8_t { kClc, kStc, kCmc, kCld, kStd, kCli, kSti, kSahf, kLahf };

// CLI/STI: protected mode needs CPL <= IOPL, V86 mode IOPL = 3 (VME/PVI
// virtual-interrupt extensions are not implemented: #GP as without them).
inline bool if_change_allowed(const CpuState& s) {
  if (!(s.cr0 & kCr0PE)) return true;
  unsigned iopl = static_cast<unsigned>((s.rflags & kFlagIOPL) >> 12);
  if (s.rflags & kFlagVM) return iopl == 3;
  return cpl(s) <= iopl;
}

template <unsigned W, FlagInsn F>
bool flag_op(Exec& x, const Insn&) {
  switch (F) {
    case FlagInsn::kClc: x.flags(); x.s.rflags &= ~kFlagCF; break;
    case FlagInsn::kStc: x.flags(); x.s.rflags |= kFlagCF; break;
    case FlagInsn::kCmc: x.flags(); x.s.rflags ^= kFlagCF; break;
    case FlagInsn::kCld: x.s.rflags &= ~kFlagDF; break;
    case FlagInsn::kStd: x.s.rflags |= kFlagDF; break;
    case FlagInsn::kCli:
      if (!if_change_allowed(x.s)) return raise(x.cpu, kGP, 0);
      x.s.rflags &= ~kFlagIF;
      break;
    case FlagInsn::kSti:
      if (!if_change_allowed(x.s)) return raise(x.cpu, kGP, 0);
      // Interrupts stay blocked until after the next instruction.
      if (!(x.s.rflags & kFlagIF)) x.s.interrupt_shadow |= 1;  // KVM_X86_SHADOW_INT_STI
      x.s.rflags |= kFlagIF;
      break;
    case FlagInsn::kSahf: {
      uint64_t m = kFlagSF | kFlagZF | kFlagAF | kFlagPF | kFlagCF;
      uint64_t ah = (x.s.gpr[kRax] >> 8) & 0xff;
      x.flags();
      x.s.rflags = (x.s.rflags & ~m) | (ah & m);
      break;
    }
    case FlagInsn::kLahf: {
      uint64_t f = x.flags() & 0xff;
      reg_set<1>(x.s, kHighByteReg + 0, (f | kFlagFixed1) & 0xd7);
      break;
    }
  }
  return true;
}

}  // namespace skvm::cpu::exec
