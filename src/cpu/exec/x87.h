// Handlers for the rows of isa/opcodes_x87.inc (SDM Vol. 1 ch. 8; Vol. 2
// opcode map D8..DF, FWAIT). The templates only forward to the non-template
// code in exec/x87_exec.cpp, so dispatch.cpp stays small; the host x87 does
// the arithmetic (exec/x87_native.h).
#pragma once

#include "cpu/exec/exec.h"

namespace skvm::cpu::x87 {

// Escape opcode `op` (0xD8..0xDF) with ModRM.reg = `reg`, memory form.
bool exec_mem(Exec& x, const Insn& i, unsigned op, unsigned reg);
// Register form (mod = 11): ST(i) = i.rm & 7 (REX.B is ignored).
bool exec_reg(Exec& x, const Insn& i, unsigned op, unsigned reg);
// 9B WAIT/FWAIT.
bool exec_fwait(Exec& x, const Insn& i);

}  // namespace skvm::cpu::x87

namespace skvm::cpu::exec {

template <unsigned W, unsigned Op, unsigned Reg>
bool x87_m(Exec& x, const Insn& i) {
  return x87::exec_mem(x, i, Op, Reg);
}
template <unsigned W, unsigned Op, unsigned Reg>
bool x87_r(Exec& x, const Insn& i) {
  return x87::exec_reg(x, i, Op, Reg);
}
template <unsigned W>
bool x87_fwait(Exec& x, const Insn& i) {
  return x87::exec_fwait(x, i);
}

}  // namespace skvm::cpu::exec
