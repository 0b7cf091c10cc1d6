// SDM Vol. 2A/2B: MUL, IMUL (one-, two- and three-operand forms), DIV, IDIV.
// #DE on a zero divisor or a quotient that does not fit.
#pragma once

#include "cpu/exec/exec.h"

namespace skvm::cpu::exec {

// Flags after a multiply: CF = OF = "high half significant"; SF/ZF/PF/AF
// are undefined in the SDM: Intel CPUs set SF and PF from the low half and
// clear ZF and AF (verified against the host CPU in the native tests).
template <unsigned W>
inline uint64_t mul_flags(uint64_t lo, bool overflow) {
  return (Exec::szp(lo, W) & ~kFlagZF) | (overflow ? (kFlagCF | kFlagOF) : 0);
}

template <unsigned W>
inline void mul_full(uint64_t a, uint64_t b, bool is_signed, uint64_t* lo, uint64_t* hi) {
  if (is_signed) {
    constexpr unsigned sh = 64 - 8 * W;
    __int128 p = static_cast<__int128>(static_cast<int64_t>(a << sh) >> sh) *
                 static_cast<__int128>(static_cast<int64_t>(b << sh) >> sh);
    *lo = static_cast<uint64_t>(p) & kMask<W>;
    *hi = static_cast<uint64_t>(p >> (8 * W)) & kMask<W>;
  } else {
    unsigned __int128 p = static_cast<unsigned __int128>(a & kMask<W>) * (b & kMask<W>);
    *lo = static_cast<uint64_t>(p) & kMask<W>;
    *hi = static_cast<uint64_t>(p >> (8 * W)) & kMask<W>;
  }
}

// MUL / IMUL r/m: rDX:rAX = rAX * r/m (AX = AL * r/m8).
template <unsigned W, bool Signed>
bool mul_e(Exec& x, const Insn& i) {
  uint64_t b;
  if (!rm_read<W>(x, i, &b)) return false;
  uint64_t lo, hi;
  mul_full<W>(reg_get<W>(x.s, kRax), b, Signed, &lo, &hi);
  bool ovf;
  if (Signed) {
    uint64_t sign_fill = (lo & kSign<W>) ? kMask<W> : 0;
    ovf = hi != sign_fill;
  } else {
    ovf = hi != 0;
  }
  if constexpr (W == 1) {
    reg_set<2>(x.s, kRax, (hi << 8) | lo);
  } else {
    reg_set<W>(x.s, kRax, lo);
    reg_set<W>(x.s, kRdx, hi);
  }
  x.set_arith_flags(mul_flags<W>(lo, ovf));
  return true;
}

template <unsigned W>
inline bool imul_two(Exec& x, uint8_t dst, uint64_t a, uint64_t b) {
  uint64_t lo, hi;
  mul_full<W>(a, b, true, &lo, &hi);
  uint64_t sign_fill = (lo & kSign<W>) ? kMask<W> : 0;
  reg_set<W>(x.s, dst, lo);
  x.set_arith_flags(mul_flags<W>(lo, hi != sign_fill));
  return true;
}
// IMUL Gv, Ev, Iz/Ib.
template <unsigned W>
bool imul_gei(Exec& x, const Insn& i) {
  uint64_t a;
  if (!rm_read<W>(x, i, &a)) return false;
  return imul_two<W>(x, i.reg, a, i.imm);
}
// IMUL Gv, Ev.
template <unsigned W>
bool imul_ge(Exec& x, const Insn& i) {
  uint64_t b;
  if (!rm_read<W>(x, i, &b)) return false;
  return imul_two<W>(x, i.reg, reg_get<W>(x.s, i.reg), b);
}

// DIV / IDIV r/m: rAX = rDX:rAX / r/m, rDX = remainder. Flags: undefined in
// the SDM; Intel CPUs leave them unchanged (native tests).
template <unsigned W, bool Signed>
bool div_e(Exec& x, const Insn& i) {
  uint64_t d;
  if (!rm_read<W>(x, i, &d)) return false;
  if (d == 0) return raise(x.cpu, kDE);
  constexpr unsigned bits = 8 * W;
  unsigned __int128 n;
  if constexpr (W == 1) {
    n = x.s.gpr[kRax] & 0xffff;
  } else {
    n = (static_cast<unsigned __int128>(reg_get<W>(x.s, kRdx)) << bits) | reg_get<W>(x.s, kRax);
  }
  uint64_t q, r;
  if constexpr (Signed) {
    constexpr unsigned sh = 128 - 2 * bits;
    __int128 sn = static_cast<__int128>(n << sh) >> sh;
    __int128 sd = static_cast<int64_t>(d << (64 - bits)) >> (64 - bits);
    __int128 sq = sn / sd;
    __int128 sr = sn % sd;
    __int128 lim = static_cast<__int128>(1) << (bits - 1);
    if (sq >= lim || sq < -lim) return raise(x.cpu, kDE);
    q = static_cast<uint64_t>(sq) & kMask<W>;
    r = static_cast<uint64_t>(sr) & kMask<W>;
  } else {
    unsigned __int128 uq = n / d;
    if (uq >> bits) return raise(x.cpu, kDE);
    q = static_cast<uint64_t>(uq);
    r = static_cast<uint64_t>(n % d);
  }
  if constexpr (W == 1) {
    reg_set<2>(x.s, kRax, (r << 8) | q);
  } else {
    reg_set<W>(x.s, kRax, q);
    reg_set<W>(x.s, kRdx, r);
  }
  return true;
}

}  // namespace skvm::cpu::exec
