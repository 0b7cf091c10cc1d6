// SDM Vol. 2A: DAA, DAS, AAA, AAS, AAM, AAD (decimal adjust; invalid in
// 64-bit mode). The "undefined" flags are what the host Intel CPU
// produces, checked by running the same instruction natively in
// compatibility mode (tests/unit/cpu/exec_isa3_native_test.cpp): DAA/DAS
// clear OF; AAA/AAS clear SF/OF and set ZF/PF from the final AL; AAM
// clears OF/AF/CF; AAD sets all six flags as the 8-bit ADD of AL and
// AH * imm8.
#pragma once

#include "cpu/exec/exec.h"

namespace skvm::cpu::exec {

// DAA (Sub = false) / DAS (Sub = true).
template <unsigned W, bool Sub>
bool decimal_adjust(Exec& x, const Insn&) {
  const uint64_t f_in = x.flags();
  const uint64_t old = x.s.gpr[kRax] & 0xff;
  const bool old_cf = f_in & kFlagCF;
  uint64_t al = old;
  bool cf = false, af = false;
  if ((al & 0xf) > 9 || (f_in & kFlagAF)) {
    cf = old_cf || (Sub ? al < 6 : al > 0xf9);
    al = (Sub ? al - 6 : al + 6) & 0xff;
    af = true;
  }
  if (old > 0x99 || old_cf) {
    al = (Sub ? al - 0x60 : al + 0x60) & 0xff;
    cf = true;
  } else if (!Sub) {
    cf = false;  // DAA: CF comes from the high-digit test alone
  }
  reg_set<1>(x.s, kRax, al);
  x.set_arith_flags(Exec::szp(al, 1) | (cf ? kFlagCF : 0) | (af ? kFlagAF : 0));
  return true;
}

// AAA (Sub = false) / AAS (Sub = true): AX += 0x106 / AX -= 6, AH -= 1
// when the low digit overflowed (AF or > 9); AL keeps its low digit.
template <unsigned W, bool Sub>
bool ascii_adjust(Exec& x, const Insn&) {
  const uint64_t f_in = x.flags();
  uint64_t ax = x.s.gpr[kRax] & 0xffff;
  const bool adjust = (ax & 0xf) > 9 || (f_in & kFlagAF);
  if (adjust) {
    if constexpr (Sub) {
      ax = (ax - 6) & 0xffff;
      ax = (ax & 0xff) | ((((ax >> 8) - 1) & 0xff) << 8);
    } else {
      ax = (ax + 0x106) & 0xffff;
    }
  }
  ax &= 0xff0f;
  reg_set<2>(x.s, kRax, ax);
  x.set_arith_flags((Exec::szp(ax & 0xf, 1) & ~kFlagSF) | (adjust ? kFlagCF | kFlagAF : 0));
  return true;
}

// AAM imm8 (Aad = false): AH = AL / imm8, AL = AL % imm8 (#DE when 0).
// AAD imm8 (Aad = true): AL = AL + AH * imm8, AH = 0.
template <unsigned W, bool Aad>
bool ascii_adjust_imm(Exec& x, const Insn& i) {
  const uint64_t imm = i.imm & 0xff;
  const uint64_t al = x.s.gpr[kRax] & 0xff, ah = (x.s.gpr[kRax] >> 8) & 0xff;
  if constexpr (Aad) {
    const uint64_t p = (ah * imm) & 0xff, r = (al + p) & 0xff;
    reg_set<2>(x.s, kRax, r);
    x.set_lazy(FlagOp::kAdd, 1, al, p, r);
  } else {
    if (imm == 0) return raise(x.cpu, kDE);
    const uint64_t r = al % imm;
    reg_set<2>(x.s, kRax, ((al / imm) << 8) | r);
    x.set_arith_flags(Exec::szp(r, 1));
  }
  return true;
}

}  // namespace skvm::cpu::exec
