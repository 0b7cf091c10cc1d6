// SDM Vol. 2A/2B: ADD, OR, ADC, SBB, AND, SUB, XOR, CMP, TEST, INC, DEC,
// NEG, NOT — the binary arithmetic/logic family. Flags are left lazy.
#pragma once

#include "cpu/exec/exec.h"

namespace skvm::cpu::exec {

enum class AluOp : uint8_t { kAdd, kOr, kAdc, kSbb, kAnd, kSub, kXor, kCmp, kTest };

// Computes a op b at width W, records the lazy flags, returns the result.
template <unsigned W, AluOp Op>
inline uint64_t alu_compute(Exec& x, uint64_t a, uint64_t b) {
  constexpr uint64_t m = kMask<W>;
  a &= m;
  b &= m;
  uint64_t r;
  if constexpr (Op == AluOp::kAdd) {
    r = (a + b) & m;
    x.set_lazy(FlagOp::kAdd, W, a, b, r);
  } else if constexpr (Op == AluOp::kAdc) {
    bool c = x.cf();
    r = (a + b + (c ? 1 : 0)) & m;
    x.set_lazy(FlagOp::kAdc, W, a, b, r, c);
  } else if constexpr (Op == AluOp::kSub || Op == AluOp::kCmp) {
    r = (a - b) & m;
    x.set_lazy(FlagOp::kSub, W, a, b, r);
  } else if constexpr (Op == AluOp::kSbb) {
    bool c = x.cf();
    r = (a - b - (c ? 1 : 0)) & m;
    x.set_lazy(FlagOp::kSbb, W, a, b, r, c);
  } else {
    if constexpr (Op == AluOp::kOr) r = a | b;
    else if constexpr (Op == AluOp::kXor) r = a ^ b;
    else r = a & b;  // AND, TEST
    x.set_lazy(FlagOp::kLogic, W, a, b, r);
  }
  return r;
}

template <AluOp Op>
inline constexpr bool kAluWrites = Op != AluOp::kCmp && Op != AluOp::kTest;

// Lazy state must be committed only after the destination write succeeded
// (a faulting instruction leaves the flags untouched): compute into a copy.
template <unsigned W, AluOp Op>
inline bool alu_rmw(Exec& x, const Insn& i, uint64_t b) {
  // SDM Vol. 2A, LOCK: CMP is not a lockable instruction (#UD), although its
  // rows share the ALU group's encodings (found by tests/fuzz against the
  // host CPU and /dev/kvm; regression guest tests/guest/regress/lock_cmp_ud.asm).
  if constexpr (Op == AluOp::kCmp) {
    if (i.pfx & kInsnLock) return raise(x.cpu, kUD);
  }
  uint64_t a;
  if (!(i.pfx & kInsnMem)) {
    a = reg_get<W>(x.s, i.rm);
    uint64_t r = alu_compute<W, Op>(x, a, b);
    if constexpr (kAluWrites<Op>) reg_set<W>(x.s, i.rm, r);
    return true;
  }
  SegReg seg = seg_of(i);
  uint64_t off = effective_address(x, i);
  if (!seg_read<W>(x, seg, off, &a)) return false;
  if constexpr (kAluWrites<Op>) {
    Exec::LazySave saved = x.save_lazy();
    uint64_t r = alu_compute<W, Op>(x, a, b);
    if (!seg_write<W>(x, seg, off, r)) {
      x.restore_lazy(saved);
      return false;
    }
  } else {
    alu_compute<W, Op>(x, a, b);
  }
  return true;
}

// ADD_EbGb and friends: r/m op= reg.
template <unsigned W, AluOp Op>
bool alu_eg(Exec& x, const Insn& i) {
  return alu_rmw<W, Op>(x, i, reg_get<W>(x.s, i.reg));
}
// ADD_GbEb: reg op= r/m.
template <unsigned W, AluOp Op>
bool alu_ge(Exec& x, const Insn& i) {
  uint64_t b;
  if (!rm_read<W>(x, i, &b)) return false;
  uint64_t r = alu_compute<W, Op>(x, reg_get<W>(x.s, i.reg), b);
  if constexpr (kAluWrites<Op>) reg_set<W>(x.s, i.reg, r);
  return true;
}
// ADD_EvIz, group 1 (80/81/83), TEST_EvIz.
template <unsigned W, AluOp Op>
bool alu_ei(Exec& x, const Insn& i) {
  return alu_rmw<W, Op>(x, i, i.imm);
}
// ADD_ALIb / ADD_eAXIz.
template <unsigned W, AluOp Op>
bool alu_ai(Exec& x, const Insn& i) {
  uint64_t r = alu_compute<W, Op>(x, reg_get<W>(x.s, kRax), i.imm);
  if constexpr (kAluWrites<Op>) reg_set<W>(x.s, kRax, r);
  return true;
}

// INC/DEC (CF preserved: carried in the lazy record). After another
// INC/DEC (a counted loop) the record already holds CF: no materialisation.
template <unsigned W, bool Dec>
inline uint64_t incdec_compute(Exec& x, uint64_t a) {
  const bool c = (x.op == FlagOp::kDec || x.op == FlagOp::kInc) ? x.carry_in : x.cf();
  uint64_t r = (Dec ? a - 1 : a + 1) & kMask<W>;
  x.set_lazy(Dec ? FlagOp::kDec : FlagOp::kInc, W, a & kMask<W>, 1, r, c);
  return r;
}
// The memory form, out of line: the register form then needs no frame.
template <unsigned W, bool Dec>
[[gnu::noinline]] bool incdec_mem(Exec& x, const Insn& i) {
  uint64_t a, off = effective_address(x, i);
  if (!seg_read<W>(x, seg_of(i), off, &a)) return false;
  uint64_t r = (Dec ? a - 1 : a + 1) & kMask<W>;
  if (!seg_write<W>(x, seg_of(i), off, r)) return false;
  incdec_compute<W, Dec>(x, a);
  return true;
}
template <unsigned W, bool Dec>
bool incdec_e(Exec& x, const Insn& i) {
  if (i.pfx & kInsnMem) return incdec_mem<W, Dec>(x, i);
  reg_set<W>(x.s, i.rm, incdec_compute<W, Dec>(x, reg_get<W>(x.s, i.rm)));
  return true;
}
// The register form of INC/DEC r/m, chosen at block-build time
// (exec::specialize) for a record without a memory operand.
template <unsigned W, bool Dec>
bool incdec_rm(Exec& x, const Insn& i) {
  reg_set<W>(x.s, i.rm, incdec_compute<W, Dec>(x, reg_get<W>(x.s, i.rm)));
  return true;
}
template <unsigned W, bool Dec>
bool incdec_r(Exec& x, const Insn& i) {
  reg_set<W>(x.s, i.reg, incdec_compute<W, Dec>(x, reg_get<W>(x.s, i.reg)));
  return true;
}

// NEG: 0 - r/m (flags as SUB; CF = operand != 0).
template <unsigned W>
bool neg_e(Exec& x, const Insn& i) {
  uint64_t a, off = 0;
  bool mem = i.pfx & kInsnMem;
  if (mem) {
    off = effective_address(x, i);
    if (!seg_read<W>(x, seg_of(i), off, &a)) return false;
  } else {
    a = reg_get<W>(x.s, i.rm);
  }
  uint64_t r = (0 - a) & kMask<W>;
  if (mem) {
    if (!seg_write<W>(x, seg_of(i), off, r)) return false;
  } else {
    reg_set<W>(x.s, i.rm, r);
  }
  x.set_lazy(FlagOp::kSub, W, 0, a, r);
  return true;
}

// NOT: no flags.
template <unsigned W>
bool not_e(Exec& x, const Insn& i) {
  uint64_t a;
  if (!(i.pfx & kInsnMem)) {
    reg_set<W>(x.s, i.rm, ~reg_get<W>(x.s, i.rm));
    return true;
  }
  uint64_t off = effective_address(x, i);
  if (!seg_read<W>(x, seg_of(i), off, &a)) return false;
  return seg_write<W>(x, seg_of(i), off, ~a);
}

}  // namespace skvm::cpu::exec
