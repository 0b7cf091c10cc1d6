// SDM Vol. 2B MOVBE (0F 38 F0 /r: MOVBE Gv, Mv; 0F 38 F1 /r: MOVBE Mv, Gv):
// a load or store with the bytes reversed. Memory operand only (the
// register encodings are #UD rows); 66 selects 16 bits, REX.W 64. Gated by
// CPUID.01H:ECX.MOVBE[22] (the row's feature column). Flags unchanged.
#pragma once

#include "cpu/exec/exec.h"

namespace skvm::cpu::exec {

template <unsigned W>
constexpr uint64_t byte_reverse(uint64_t v) {
  uint64_t r = 0;
  for (unsigned k = 0; k < W; ++k) r |= ((v >> (8 * k)) & 0xff) << (8 * (W - 1 - k));
  return r;
}

template <unsigned W, bool Store>
bool movbe(Exec& x, const Insn& i) {
  if constexpr (Store) {
    return rm_write<W>(x, i, byte_reverse<W>(reg_get<W>(x.s, i.reg)));
  } else {
    uint64_t v;
    if (!rm_read<W>(x, i, &v)) return false;
    reg_set<W>(x.s, i.reg, byte_reverse<W>(v));
    return true;
  }
}

}  // namespace skvm::cpu::exec
