// SDM Vol. 2 (ADDPS..MAXSD, SQRT*, RCP*, RSQRT*, ADDSUB*, HADD*, HSUB*,
// CMPPS..CMPSD, COMISS/UCOMISS/COMISD/UCOMISD, CVT*, ROUND*, DPPS/DPPD) and
// the bitwise / shuffle forms (ANDPS..XORPD, SHUFPS/PD, UNPCK*, BLEND*,
// INSERTPS, EXTRACTPS, MOVMSKPS/PD). Floating point runs on the host
// (exec/sse_host.h); Vol. 1 11.5 decides what the guest sees.
//
// Handlers are templates over the operand width W only because dispatch.cpp
// instantiates every row for four widths; bodies do not depend on W except
// where REX.W selects a 64-bit integer operand (CVTSI2SS, CVTSS2SI...).
#pragma once

#include "cpu/exec/exec.h"
#include "cpu/exec/simd_operands.h"
#include "cpu/exec/sse_host.h"

namespace skvm::cpu::exec {

using sse::FpOp;
using simd::Xmm;

// SDM Vol. 1 11.5.1-11.5.3: flags raised with every exception masked on the
// host. No unmasked flag: MXCSR |= flags, the caller writes the result.
// Otherwise the destination is left unchanged: an unmasked pre-computation
// exception (IE, DE, ZE) records only the pre-computation flags; an
// unmasked post-computation one (OE, UE, PE) records every flag; then #XM
// (CR4.OSXMMEXCPT = 1) or #UD.
// DEVIATION: an unmasked UE with an exact tiny result is not detected (the
// host runs masked, where underflow needs inexactness too).
inline bool sse_fp_commit(Exec& x, uint32_t flags) {
  const uint32_t mx = simd::mxcsr(x.s);
  const uint32_t unmasked = flags & ~(mx >> 7) & simd::kMxFlags;
  if (unmasked == 0) [[likely]] {
    simd::set_mxcsr(x.s, mx | flags);
    return true;
  }
  const uint32_t pre = flags & (simd::kMxIE | simd::kMxDE | simd::kMxZE);
  simd::set_mxcsr(x.s, mx | ((unmasked & pre) ? pre : flags));
  return raise(x.cpu, (x.s.cr4 & kCr4OSXMMEXCPT) ? kXM : kUD);
}

// dst(xmm reg) = Op(dst, src(xmm/mem)). Src: memory operand size (4, 8 or
// 16; 16 is the aligned m128 of the packed forms).
template <unsigned W, FpOp Op, unsigned Src>
bool sse_fp(Exec& x, const Insn& i) {
  if (!simd::sse_gate(x)) return false;
  Xmm s;
  if (!simd::xmm_rm_read(x, i, &s, Src, Src == 16)) return false;
  Xmm d = simd::xmm_get(x.s, i.reg);
  uint32_t flags = sse::host_fp(Op, &d, s, simd::mxcsr(x.s), static_cast<uint8_t>(i.imm));
  if (!sse_fp_commit(x, flags)) return false;
  simd::xmm_set(x.s, i.reg, d);
  return true;
}

// COMISS / UCOMISS / COMISD / UCOMISD: ZF, PF, CF from the comparison; OF,
// SF, AF cleared.
template <unsigned W, bool Double, bool Quiet>
bool sse_comi(Exec& x, const Insn& i) {
  if (!simd::sse_gate(x)) return false;
  Xmm s;
  if (!simd::xmm_rm_read(x, i, &s, Double ? 8 : 4)) return false;
  Xmm a = simd::xmm_get(x.s, i.reg);
  uint64_t zpc = 0;
  uint32_t flags = sse::host_comi(Double, Quiet, a, s, simd::mxcsr(x.s), &zpc);
  if (!sse_fp_commit(x, flags)) return false;
  x.set_arith_flags(zpc);
  return true;
}

// CVT[T]SS2SI / CVT[T]SD2SI Gy, Wss/Wsd (REX.W: 64-bit result).
template <unsigned W, sse::ToInt Op>
bool sse_cvt_to_int(Exec& x, const Insn& i) {
  if (!simd::sse_gate(x)) return false;
  constexpr bool kDouble = Op == sse::ToInt::kCvtsd2si || Op == sse::ToInt::kCvttsd2si;
  Xmm s;
  if (!simd::xmm_rm_read(x, i, &s, kDouble ? 8 : 4)) return false;
  uint64_t r = 0;
  uint32_t flags = sse::host_to_int(Op, W == 8, s, simd::mxcsr(x.s), &r);
  if (!sse_fp_commit(x, flags)) return false;
  if constexpr (W == 8) reg_set<8>(x.s, i.reg, r);
  else reg_set<4>(x.s, i.reg, r);
  return true;
}

// CVTSI2SS / CVTSI2SD Vss, Ey (REX.W: 64-bit source).
template <unsigned W, bool Double>
bool sse_cvt_from_int(Exec& x, const Insn& i) {
  if (!simd::sse_gate(x)) return false;
  uint64_t v;
  constexpr unsigned kW = W == 8 ? 8 : 4;
  if (!rm_read<kW>(x, i, &v)) return false;
  Xmm d = simd::xmm_get(x.s, i.reg);
  uint32_t flags = sse::host_from_int(Double, kW == 8, v, &d, simd::mxcsr(x.s));
  if (!sse_fp_commit(x, flags)) return false;
  simd::xmm_set(x.s, i.reg, d);
  return true;
}

// MMX <-> XMM conversions (SDM Vol. 2 CVTPI2PS, CVTPI2PD, CVTPS2PI,
// CVTTPS2PI, CVTPD2PI, CVTTPD2PI), done with the packed-dword host forms on
// the two low lanes (upper lanes zero: they raise nothing). An MMX register
// operand makes the x87 -> MMX transition (#MF on a pending x87 error).
enum class MmCvt : uint8_t { kPi2ps, kPi2pd, kPs2pi, kTps2pi, kPd2pi, kTpd2pi };
template <unsigned W, MmCvt Op>
bool sse_cvt_mmx(Exec& x, const Insn& i) {
  if (!simd::sse_gate(x)) return false;
  constexpr bool kFromMm = Op == MmCvt::kPi2ps || Op == MmCvt::kPi2pd;
  Xmm s{};
  if constexpr (kFromMm) {
    if (!(i.pfx & kInsnMem)) {
      if (!simd::mmx_gate(x)) return false;
      s.set_q(0, simd::mm_get(x.s, simd::mm_index(i.rm)));
    } else {
      uint64_t v = 0;
      if (!simd::simd_read_mem(x, i, &v, 8)) return false;
      s.set_q(0, v);
    }
  } else {
    constexpr bool kPd = Op == MmCvt::kPd2pi || Op == MmCvt::kTpd2pi;
    if (!simd::xmm_rm_read(x, i, &s, kPd ? 16 : 8, kPd)) return false;
    if constexpr (!kPd) s.set_q(1, 0);
    if (!simd::mmx_gate(x)) return false;
  }
  const uint32_t mx = simd::mxcsr(x.s);
  Xmm r{};
  uint32_t flags = 0;
  switch (Op) {
    case MmCvt::kPi2ps: flags = sse::host_fp(FpOp::kCvtdq2ps, &r, s, mx, 0); break;
    case MmCvt::kPi2pd: flags = sse::host_fp(FpOp::kCvtdq2pd, &r, s, mx, 0); break;
    case MmCvt::kPs2pi: flags = sse::host_fp(FpOp::kCvtps2dq, &r, s, mx, 0); break;
    case MmCvt::kTps2pi: flags = sse::host_fp(FpOp::kCvttps2dq, &r, s, mx, 0); break;
    case MmCvt::kPd2pi: flags = sse::host_fp(FpOp::kCvtpd2dq, &r, s, mx, 0); break;
    case MmCvt::kTpd2pi: flags = sse::host_fp(FpOp::kCvttpd2dq, &r, s, mx, 0); break;
  }
  if (!sse_fp_commit(x, flags)) return false;
  if constexpr (Op == MmCvt::kPi2ps) {
    simd::xmm_set_q(x.s, i.reg, 0, r.q(0));  // upper half preserved
  } else if constexpr (Op == MmCvt::kPi2pd) {
    simd::xmm_set(x.s, i.reg, r);
  } else {
    simd::mm_set(x.s, simd::mm_index(i.reg), r.q(0));
  }
  return true;
}

// ---- Bitwise, shuffles, blends (no floating-point exceptions) ----

enum class Logic : uint8_t { kAnd, kAndn, kOr, kXor };
// ANDPS/ANDPD, ANDNPS/ANDNPD, ORPS/ORPD, XORPS/XORPD Vx, Wx (m128 aligned).
template <unsigned W, Logic Op>
bool sse_logic(Exec& x, const Insn& i) {
  if (!simd::sse_gate(x)) return false;
  Xmm s;
  if (!simd::xmm_rm_read_a(x, i, &s)) return false;
  Xmm d = simd::xmm_get(x.s, i.reg);
  for (unsigned k = 0; k < 2; ++k) {
    uint64_t a = d.q(k), b = s.q(k);
    d.set_q(k, Op == Logic::kAnd ? a & b : Op == Logic::kAndn ? ~a & b : Op == Logic::kOr ? a | b : a ^ b);
  }
  simd::xmm_set(x.s, i.reg, d);
  return true;
}

enum class Shuf : uint8_t {
  kUnpcklps, kUnpckhps, kUnpcklpd, kUnpckhpd, kShufps, kShufpd, kBlendps, kBlendpd, kBlendvps,
  kBlendvpd,
};
template <unsigned W, Shuf Op>
bool sse_shuffle(Exec& x, const Insn& i) {
  if (!simd::sse_gate(x)) return false;
  Xmm s;
  if (!simd::xmm_rm_read_a(x, i, &s)) return false;
  const Xmm d = simd::xmm_get(x.s, i.reg);
  const unsigned imm = static_cast<unsigned>(i.imm);
  Xmm r = d;
  switch (Op) {
    case Shuf::kUnpcklps:
      r.set_d(0, d.d(0)); r.set_d(1, s.d(0)); r.set_d(2, d.d(1)); r.set_d(3, s.d(1));
      break;
    case Shuf::kUnpckhps:
      r.set_d(0, d.d(2)); r.set_d(1, s.d(2)); r.set_d(2, d.d(3)); r.set_d(3, s.d(3));
      break;
    case Shuf::kUnpcklpd: r.set_q(0, d.q(0)); r.set_q(1, s.q(0)); break;
    case Shuf::kUnpckhpd: r.set_q(0, d.q(1)); r.set_q(1, s.q(1)); break;
    case Shuf::kShufps:
      r.set_d(0, d.d(imm & 3)); r.set_d(1, d.d((imm >> 2) & 3));
      r.set_d(2, s.d((imm >> 4) & 3)); r.set_d(3, s.d((imm >> 6) & 3));
      break;
    case Shuf::kShufpd: r.set_q(0, d.q(imm & 1)); r.set_q(1, s.q((imm >> 1) & 1)); break;
    case Shuf::kBlendps:
      for (unsigned k = 0; k < 4; ++k) r.set_d(k, (imm >> k) & 1 ? s.d(k) : d.d(k));
      break;
    case Shuf::kBlendpd:
      for (unsigned k = 0; k < 2; ++k) r.set_q(k, (imm >> k) & 1 ? s.q(k) : d.q(k));
      break;
    case Shuf::kBlendvps:  // mask: sign bits of XMM0 (implicit operand)
      for (unsigned k = 0; k < 4; ++k) r.set_d(k, simd::xmm_d(x.s, 0, k) >> 31 ? s.d(k) : d.d(k));
      break;
    case Shuf::kBlendvpd:
      for (unsigned k = 0; k < 2; ++k) r.set_q(k, simd::xmm_q(x.s, 0, k) >> 63 ? s.q(k) : d.q(k));
      break;
  }
  simd::xmm_set(x.s, i.reg, r);
  return true;
}

// INSERTPS Vps, Ups/Md, Ib (SDM Vol. 2B INSERTPS).
template <unsigned W>
bool sse_insertps(Exec& x, const Insn& i) {
  if (!simd::sse_gate(x)) return false;
  const unsigned imm = static_cast<unsigned>(i.imm);
  uint32_t v;
  if (i.pfx & kInsnMem) {
    if (!simd::simd_read_mem(x, i, &v, 4)) return false;
  } else {
    v = simd::xmm_d(x.s, i.rm, (imm >> 6) & 3);
  }
  Xmm d = simd::xmm_get(x.s, i.reg);
  d.set_d((imm >> 4) & 3, v);
  for (unsigned k = 0; k < 4; ++k)
    if ((imm >> k) & 1) d.set_d(k, 0);
  simd::xmm_set(x.s, i.reg, d);
  return true;
}

// EXTRACTPS Ed, Vps, Ib: the dword, zero-extended to a 64-bit register.
template <unsigned W>
bool sse_extractps(Exec& x, const Insn& i) {
  if (!simd::sse_gate(x)) return false;
  uint32_t v = simd::xmm_d(x.s, i.reg, static_cast<unsigned>(i.imm) & 3);
  if (i.pfx & kInsnMem) return simd::simd_write_mem(x, i, &v, 4);
  x.s.gpr[i.rm] = v;
  return true;
}

// MOVMSKPS / MOVMSKPD Gd, Ux: the sign bits, zero-extended.
template <unsigned W, bool Double>
bool sse_movmsk(Exec& x, const Insn& i) {
  if (!simd::sse_gate(x)) return false;
  const Xmm s = simd::xmm_get(x.s, i.rm);
  uint64_t m = 0;
  if constexpr (Double) {
    m = (s.q(0) >> 63) | ((s.q(1) >> 63) << 1);
  } else {
    for (unsigned k = 0; k < 4; ++k) m |= uint64_t{s.d(k) >> 31} << k;
  }
  x.s.gpr[i.reg] = m;
  return true;
}

}  // namespace skvm::cpu::exec
