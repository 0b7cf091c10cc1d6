// SDM Vol. 2A ADCX (66 0F 38 F6 /r) and ADOX (F3 0F 38 F6 /r): unsigned
// add with carry that reads and writes only CF (ADCX) or only OF (ADOX),
// leaving the other flags as they were. Operand size 32, or 64 with REX.W
// (the 66/F3 are mandatory prefixes, kWidX). Gated by
// CPUID.(EAX=07H,ECX=0):EBX.ADX[19] (the row's feature column).
#pragma once

#include "cpu/exec/exec.h"

namespace skvm::cpu::exec {

template <unsigned W, bool Overflow>
bool adx(Exec& x, const Insn& i) {
  uint64_t src;
  if (!rm_read<W>(x, i, &src)) return false;
  const uint64_t f = x.flags();  // materialized: only one flag changes
  const uint64_t bit = Overflow ? kFlagOF : kFlagCF;
  const uint64_t dst = reg_get<W>(x.s, i.reg);
  const unsigned __int128 sum =
      static_cast<unsigned __int128>(dst) + src + ((f & bit) ? 1 : 0);
  reg_set<W>(x.s, i.reg, static_cast<uint64_t>(sum));
  const bool carry = (sum >> (8 * W)) & 1;
  x.s.rflags = (f & ~bit) | (carry ? bit : 0);
  return true;
}

}  // namespace skvm::cpu::exec
