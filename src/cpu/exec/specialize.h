// Handlers chosen at block-build time (exec/dispatch.cpp exec::specialize)
// in place of a row's generic one when the record alone fixes more than the
// row does: Jcc with its condition code as a template argument (no switch on
// the condition), and Jcc right after a record of the same block that always
// leaves a known lazy-flag operation (the flags are then read without
// looking at the operation). Same results as the generic handlers
// (SDM Vol. 2A, Jcc; Vol. 1 Appendix B, condition codes), checked by
// tests/unit/cpu/run_specialize_test.cpp.
#pragma once

#include "cpu/exec/exec.h"

namespace skvm::cpu::exec {

// Jcc rel8 / rel16/32 with a constant condition code. W = operand size (the
// IP width): 16-bit code wraps IP.
template <unsigned W, unsigned Cc>
bool jcc_cc(Exec& x, const Insn& i) {
  if (x.cond(Cc)) x.s.rip = (x.s.rip + i.imm) & kMask<W>;
  return true;
}

// The lazy operation the previous record of the block always leaves when it
// retires (the block builder guarantees it: a specialized Jcc is never the
// first record of a block, and blocks are only entered at their first one).
enum class PredFlags : uint8_t { kSub, kLogic, kIncDec };

// Condition Cc from a lazy record known to hold op P (src_a/src_b/res masked
// to x.size bytes). Matches Exec::cond() for that op.
template <PredFlags P, unsigned Cc>
[[gnu::always_inline]] inline bool cond_after(const Exec& x) {
  const unsigned top = 8u * x.size - 1;
  const uint64_t a = x.src_a, b = x.src_b, r = x.res;
  bool cf, of;
  if constexpr (P == PredFlags::kSub) {
    cf = a < b;
    of = (((a ^ b) & (a ^ r)) >> top) & 1;
  } else if constexpr (P == PredFlags::kLogic) {
    cf = false;
    of = false;
  } else {
    cf = x.carry_in;
    of = (((a ^ b) & (a ^ r)) >> top) & 1;  // DEC; INC below
    if (x.op == FlagOp::kInc) of = (((a ^ r) & (b ^ r)) >> top) & 1;
  }
  const bool zf = r == 0;
  const bool sf = (r >> top) & 1;
  bool v;
  switch (Cc >> 1) {
    case 0: v = of; break;
    case 1: v = cf; break;
    case 2: v = zf; break;
    case 3: v = cf || zf; break;
    case 4: v = sf; break;
    case 5: v = parity_flag(r) != 0; break;
    case 6: v = sf != of; break;
    default: v = zf || (sf != of); break;
  }
  return (Cc & 1) ? !v : v;
}

template <unsigned W, PredFlags P, unsigned Cc>
bool jcc_after(Exec& x, const Insn& i) {
  if (cond_after<P, Cc>(x)) x.s.rip = (x.s.rip + i.imm) & kMask<W>;
  return true;
}

}  // namespace skvm::cpu::exec
