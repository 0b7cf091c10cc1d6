// SDM Vol. 2 data movement of the SSE..SSE4.1 sets: MOVAPS/MOVUPS/MOVAPD/
// MOVUPD/MOVDQA/MOVDQU/LDDQU, MOVSS/MOVSD, MOVLPS/MOVHPS/MOVLPD/MOVHPD,
// MOVHLPS/MOVLHPS, MOVSLDUP/MOVSHDUP/MOVDDUP, MOVNTPS/MOVNTPD/MOVNTDQ/
// MOVNTI/MOVNTQ, MOVD/MOVQ (XMM, MMX and GPR forms), MOVQ2DQ/MOVDQ2Q,
// LDMXCSR/STMXCSR, CLFLUSH.
#pragma once

#include "cpu/exec/exec.h"
#include "cpu/exec/simd_operands.h"

namespace skvm::cpu::exec {

// Vx <- Wx (16 bytes). Align: MOVAPS/MOVAPD/MOVDQA.
template <unsigned W, bool Align>
bool sse_load128(Exec& x, const Insn& i) {
  if (!simd::sse_gate(x)) return false;
  simd::Xmm v;
  if (!simd::xmm_rm_read(x, i, &v, 16, Align)) return false;
  simd::xmm_set(x.s, i.reg, v);
  return true;
}
// Wx <- Vx (16 bytes). Align: MOVAPS/MOVAPD/MOVDQA and the MOVNT forms.
template <unsigned W, bool Align>
bool sse_store128(Exec& x, const Insn& i) {
  if (!simd::sse_gate(x)) return false;
  return simd::xmm_rm_write(x, i, simd::xmm_get(x.s, i.reg), 16, Align);
}

// MOVSS / MOVSD loads (F3/F2 0F 10): a register source replaces the low
// lane only; a memory source loads the lane and zeroes the rest.
template <unsigned W, unsigned Size>
bool sse_movs_load(Exec& x, const Insn& i) {
  if (!simd::sse_gate(x)) return false;
  simd::Xmm d = simd::xmm_get(x.s, i.reg);
  if (i.pfx & kInsnMem) {
    simd::Xmm m;
    if (!simd::xmm_rm_read(x, i, &m, Size)) return false;
    d = m;
  } else {
    std::memcpy(d.b, simd::xmm_get(x.s, i.rm).b, Size);
  }
  simd::xmm_set(x.s, i.reg, d);
  return true;
}
// MOVSS / MOVSD stores (F3/F2 0F 11): the low lane to memory or to the low
// lane of a register.
template <unsigned W, unsigned Size>
bool sse_movs_store(Exec& x, const Insn& i) {
  if (!simd::sse_gate(x)) return false;
  const simd::Xmm v = simd::xmm_get(x.s, i.reg);
  if (i.pfx & kInsnMem) return simd::simd_write_mem(x, i, v.b, Size);
  simd::Xmm d = simd::xmm_get(x.s, i.rm);
  std::memcpy(d.b, v.b, Size);
  simd::xmm_set(x.s, i.rm, d);
  return true;
}

// 0F 12 / 0F 16 loads of one quadword lane: Lane 0 (MOVLPS/MOVLPD,
// MOVHLPS for a register source of the no-prefix form) or lane 1
// (MOVHPS/MOVHPD, MOVLHPS). RegOk: the no-prefix form, whose register form
// is MOVHLPS/MOVLHPS; the 66 forms are memory only (#UD).
template <unsigned W, unsigned Lane, bool RegOk>
bool sse_movlh_load(Exec& x, const Insn& i) {
  if (!(i.pfx & kInsnMem) && !RegOk) return raise(x.cpu, kUD);
  if (!simd::sse_gate(x)) return false;
  uint64_t v;
  if (i.pfx & kInsnMem) {
    if (!simd::simd_read_mem(x, i, &v, 8)) return false;
  } else {
    v = simd::xmm_q(x.s, i.rm, Lane ^ 1);  // MOVHLPS: high of src; MOVLHPS: low
  }
  simd::xmm_set_q(x.s, i.reg, Lane, v);
  return true;
}
// 0F 13 / 0F 17: one quadword lane to memory (memory only: #UD otherwise).
template <unsigned W, unsigned Lane>
bool sse_movlh_store(Exec& x, const Insn& i) {
  if (!(i.pfx & kInsnMem)) return raise(x.cpu, kUD);
  if (!simd::sse_gate(x)) return false;
  uint64_t v = simd::xmm_q(x.s, i.reg, Lane);
  return simd::simd_write_mem(x, i, &v, 8);
}

// MOVSLDUP / MOVSHDUP (m128 aligned), MOVDDUP (m64).
enum class Dup : uint8_t { kSldup, kShdup, kDdup };
template <unsigned W, Dup Op>
bool sse_dup(Exec& x, const Insn& i) {
  if (!simd::sse_gate(x)) return false;
  simd::Xmm s, r;
  if (!simd::xmm_rm_read(x, i, &s, Op == Dup::kDdup ? 8 : 16, Op != Dup::kDdup)) return false;
  if constexpr (Op == Dup::kDdup) {
    r.set_q(0, s.q(0));
    r.set_q(1, s.q(0));
  } else {
    constexpr unsigned kOdd = Op == Dup::kShdup ? 1 : 0;
    for (unsigned k = 0; k < 4; ++k) r.set_d(k, s.d((k & 2) | kOdd));
  }
  simd::xmm_set(x.s, i.reg, r);
  return true;
}

// MOVD / MOVQ Vy, Ey (66 0F 6E): zero-extended into the XMM register.
template <unsigned W>
bool sse_movd_to_xmm(Exec& x, const Insn& i) {
  if (!simd::sse_gate(x)) return false;
  uint64_t v;
  if (!rm_read<W == 8 ? 8 : 4>(x, i, &v)) return false;
  simd::Xmm r{};
  r.set_q(0, v);
  simd::xmm_set(x.s, i.reg, r);
  return true;
}
// MOVD / MOVQ Ey, Vy (66 0F 7E).
template <unsigned W>
bool sse_movd_from_xmm(Exec& x, const Insn& i) {
  if (!simd::sse_gate(x)) return false;
  return rm_write<W == 8 ? 8 : 4>(x, i, simd::xmm_q(x.s, i.reg, 0));
}
// MOVQ Vq, Wq (F3 0F 7E): the low quadword, upper zeroed.
template <unsigned W>
bool sse_movq_load(Exec& x, const Insn& i) {
  if (!simd::sse_gate(x)) return false;
  simd::Xmm s;
  if (!simd::xmm_rm_read(x, i, &s, 8)) return false;
  s.set_q(1, 0);
  simd::xmm_set(x.s, i.reg, s);
  return true;
}
// MOVQ Wq, Vq (66 0F D6): a register destination gets its upper half zeroed.
template <unsigned W>
bool sse_movq_store(Exec& x, const Insn& i) {
  if (!simd::sse_gate(x)) return false;
  simd::Xmm v{};
  v.set_q(0, simd::xmm_q(x.s, i.reg, 0));
  return simd::xmm_rm_write(x, i, v, 8);
}

// MMX MOVD/MOVQ Pq, Ey (0F 6E) and Ey, Pq (0F 7E); MOVQ Pq, Qq (0F 6F) and
// Qq, Pq (0F 7F); MOVNTQ Mq, Pq (0F E7).
template <unsigned W>
bool mmx_movd_load(Exec& x, const Insn& i) {
  if (!simd::mmx_gate(x)) return false;
  uint64_t v;
  if (!rm_read<W == 8 ? 8 : 4>(x, i, &v)) return false;
  simd::mm_set(x.s, simd::mm_index(i.reg), v);
  return true;
}
template <unsigned W>
bool mmx_movd_store(Exec& x, const Insn& i) {
  if (!simd::mmx_gate(x)) return false;
  return rm_write<W == 8 ? 8 : 4>(x, i, simd::mm_get(x.s, simd::mm_index(i.reg)));
}
template <unsigned W>
bool mmx_movq_load(Exec& x, const Insn& i) {
  if (!simd::mmx_gate(x)) return false;
  uint64_t v;
  if (!simd::mm_rm_read(x, i, &v)) return false;
  simd::mm_set(x.s, simd::mm_index(i.reg), v);
  return true;
}
template <unsigned W, bool MemOnly>
bool mmx_movq_store(Exec& x, const Insn& i) {
  if (MemOnly && !(i.pfx & kInsnMem)) return raise(x.cpu, kUD);
  if (!simd::mmx_gate(x)) return false;
  return simd::mm_rm_write(x, i, simd::mm_get(x.s, simd::mm_index(i.reg)));
}
// MOVQ2DQ Vdq, Nq (F3 0F D6) and MOVDQ2Q Pq, Uq (F2 0F D6): register only.
template <unsigned W, bool ToXmm>
bool sse_movq2dq(Exec& x, const Insn& i) {
  if (i.pfx & kInsnMem) return raise(x.cpu, kUD);
  if (!simd::sse_gate(x) || !simd::mmx_gate(x)) return false;
  if constexpr (ToXmm) {
    simd::Xmm r{};
    r.set_q(0, simd::mm_get(x.s, simd::mm_index(i.rm)));
    simd::xmm_set(x.s, i.reg, r);
  } else {
    simd::mm_set(x.s, simd::mm_index(i.reg), simd::xmm_q(x.s, i.rm, 0));
  }
  return true;
}

// MOVNTI My, Gy (0F C3): memory only.
template <unsigned W>
bool movnti(Exec& x, const Insn& i) {
  if (!(i.pfx & kInsnMem)) return raise(x.cpu, kUD);
  constexpr unsigned kW = W == 8 ? 8 : 4;
  return rm_write<kW>(x, i, reg_get<kW>(x.s, i.reg));
}

// LDMXCSR Md (SDM Vol. 2A LDMXCSR): #GP(0) when a bit outside MXCSR_MASK
// is set.
template <unsigned W>
bool ldmxcsr(Exec& x, const Insn& i) {
  if (!simd::sse_gate(x)) return false;
  uint32_t v;
  if (!simd::simd_read_mem(x, i, &v, 4)) return false;
  if (v & ~simd::kMxcsrMask) return raise(x.cpu, kGP, 0);
  simd::set_mxcsr(x.s, v);
  return true;
}
template <unsigned W>
bool stmxcsr(Exec& x, const Insn& i) {
  if (!simd::sse_gate(x)) return false;
  uint32_t v = simd::mxcsr(x.s);
  return simd::simd_write_mem(x, i, &v, 4);
}

// CLFLUSH Mb (0F AE /7): the engine has no caches to flush. The segment
// checks apply (#GP/#SS).
// DEVIATION: no #PF for an unmapped line (the line is not touched).
template <unsigned W>
bool clflush(Exec& x, const Insn& i) {
  uint64_t la;
  return seg_to_linear(x.cpu, seg_of(i), effective_address(x, i), 1, Acc::kRead, &la);
}

}  // namespace skvm::cpu::exec
