// SDM Vol. 2B: MOV (r/m, imm, moffs, Sreg), MOVZX/MOVSX/MOVSXD, LEA, XCHG,
// CBW/CWDE/CDQE, CWD/CDQ/CQO, CMOVcc, SETcc, NOP.
#pragma once

#include "cpu/exec/exec.h"

namespace skvm::cpu::exec {

template <unsigned W>
bool mov_eg(Exec& x, const Insn& i) {
  return rm_write<W>(x, i, reg_get<W>(x.s, i.reg));
}
template <unsigned W>
bool mov_ge(Exec& x, const Insn& i) {
  uint64_t v;
  if (!rm_read<W>(x, i, &v)) return false;
  reg_set<W>(x.s, i.reg, v);
  return true;
}
template <unsigned W>
bool mov_ei(Exec& x, const Insn& i) {
  return rm_write<W>(x, i, i.imm);
}
template <unsigned W>
bool mov_ri(Exec& x, const Insn& i) {
  reg_set<W>(x.s, i.reg, i.imm);
  return true;
}
// MOV AL/eAX, moffs.
template <unsigned W>
bool mov_a_moffs(Exec& x, const Insn& i) {
  uint64_t v;
  if (!seg_read<W>(x, seg_of(i), i.imm & mask_for(i.asize), &v)) return false;
  reg_set<W>(x.s, kRax, v);
  return true;
}
template <unsigned W>
bool mov_moffs_a(Exec& x, const Insn& i) {
  return seg_write<W>(x, seg_of(i), i.imm & mask_for(i.asize), reg_get<W>(x.s, kRax));
}

// MOV r/m, Sreg: a register destination takes the operand size (upper bits
// zero for 32/64), a memory destination is always 16 bits.
template <unsigned W>
bool mov_e_sreg(Exec& x, const Insn& i) {
  unsigned sr = i.reg & 7;
  if (sr >= kNumSegRegs) return raise(x.cpu, kUD);
  uint64_t sel = x.s.seg[sr].selector;
  if (i.pfx & kInsnMem) return seg_write<2>(x, seg_of(i), effective_address(x, i), sel);
  reg_set<W>(x.s, i.rm, sel);
  return true;
}
// MOV Sreg, r/m16: CS is #UD; MOV SS sets the interrupt shadow.
template <unsigned W>
bool mov_sreg_e(Exec& x, const Insn& i) {
  unsigned sr = i.reg & 7;
  if (sr >= kNumSegRegs || sr == kCs) return raise(x.cpu, kUD);
  uint64_t sel;
  if (!rm_read<2>(x, i, &sel)) return false;
  if (!load_segment(x.cpu, static_cast<SegReg>(sr), static_cast<uint16_t>(sel))) return false;
  if (sr == kSs) x.s.interrupt_shadow |= 2;  // KVM_X86_SHADOW_INT_MOV_SS
  x.sys_changed = true;
  return true;
}

// MOVZX/MOVSX (source 1 or 2 bytes) and MOVSXD (source 4 bytes).
template <unsigned W, unsigned S, bool Signed>
bool movx(Exec& x, const Insn& i) {
  uint64_t v;
  if (!rm_read<S>(x, i, &v)) return false;
  if constexpr (Signed) {
    constexpr unsigned sh = 64 - 8 * S;
    v = static_cast<uint64_t>(static_cast<int64_t>(v << sh) >> sh);
  }
  reg_set<W>(x.s, i.reg, v);
  return true;
}

template <unsigned W>
bool lea(Exec& x, const Insn& i) {
  reg_set<W>(x.s, i.reg, effective_address(x, i));
  return true;
}

// XCHG r/m, r (memory form is implicitly locked).
template <unsigned W>
bool xchg_eg(Exec& x, const Insn& i) {
  uint64_t a;
  uint64_t b = reg_get<W>(x.s, i.reg);
  if (!(i.pfx & kInsnMem)) {
    a = reg_get<W>(x.s, i.rm);
    reg_set<W>(x.s, i.rm, b);
    reg_set<W>(x.s, i.reg, a);
    return true;
  }
  uint64_t off = effective_address(x, i);
  if (!seg_read<W>(x, seg_of(i), off, &a)) return false;
  if (!seg_write<W>(x, seg_of(i), off, b)) return false;
  reg_set<W>(x.s, i.reg, a);
  return true;
}
// XCHG r, rAX (90+r). 90 without REX.B is NOP (no zero-extension in 64-bit).
template <unsigned W>
bool xchg_r(Exec& x, const Insn& i) {
  if (i.reg == kRax) return true;
  uint64_t a = reg_get<W>(x.s, kRax);
  reg_set<W>(x.s, kRax, reg_get<W>(x.s, i.reg));
  reg_set<W>(x.s, i.reg, a);
  return true;
}
template <unsigned W>
bool nop(Exec&, const Insn&) {
  return true;
}

// CBW/CWDE/CDQE: sign-extend the lower half of rAX into rAX.
template <unsigned W>
bool cbw(Exec& x, const Insn&) {
  if constexpr (W >= 2) {
    constexpr unsigned half = 4 * W;
    constexpr unsigned sh = 64 - half;
    uint64_t v = static_cast<uint64_t>(static_cast<int64_t>(x.s.gpr[kRax] << sh) >> sh);
    reg_set<W>(x.s, kRax, v);
  }
  return true;
}
// CWD/CDQ/CQO: rDX = sign of rAX.
template <unsigned W>
bool cwd(Exec& x, const Insn&) {
  reg_set<W>(x.s, kRdx, (reg_get<W>(x.s, kRax) & kSign<W>) ? ~0ull : 0);
  return true;
}

// CMOVcc: the 32-bit form zero-extends the destination even when false.
template <unsigned W>
bool cmovcc(Exec& x, const Insn& i) {
  uint64_t v;
  if (!rm_read<W>(x, i, &v)) return false;
  if (x.cond(i.opcode & 0xf)) {
    reg_set<W>(x.s, i.reg, v);
  } else if constexpr (W == 4) {
    reg_set<4>(x.s, i.reg, reg_get<4>(x.s, i.reg));
  }
  return true;
}
template <unsigned W>
bool setcc(Exec& x, const Insn& i) {
  return rm_write<1>(x, i, x.cond(i.opcode & 0xf) ? 1 : 0);
}

// LDS/LES/LSS/LFS/LGS r, m16:16/32/64: offset then selector.
template <unsigned W, SegReg S>
bool load_far_pointer(Exec& x, const Insn& i) {
  if (!(i.pfx & kInsnMem)) return raise(x.cpu, kUD);
  uint64_t ea = effective_address(x, i), off, sel;
  if (!seg_read<W>(x, seg_of(i), ea, &off)) return false;
  if (!seg_read<2>(x, seg_of(i), (ea + W) & mask_for(i.asize), &sel)) return false;
  if (!load_segment(x.cpu, S, static_cast<uint16_t>(sel))) return false;
  reg_set<W>(x.s, i.reg, off);
  if (S == kSs) x.s.interrupt_shadow |= 2;
  x.sys_changed = true;
  return true;
}

// XLAT: AL = [seg:rBX + AL].
template <unsigned W>
bool xlat(Exec& x, const Insn& i) {
  uint64_t v;
  if (!seg_read<1>(x, seg_of(i), (x.s.gpr[kRbx] + (x.s.gpr[kRax] & 0xff)) & mask_for(i.asize), &v)) return false;
  reg_set<1>(x.s, kRax, v);
  return true;
}

}  // namespace skvm::cpu::exec
