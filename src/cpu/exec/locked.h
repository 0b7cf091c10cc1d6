// LOCK-prefixed instructions and XCHG with memory (implicitly locked, SDM
// Vol. 2B, XCHG) are atomic across vCPUs: the whole instruction runs under
// one process-wide lock (SDM Vol. 3A, 9.1.2.2 "Software Controlled Bus
// Locking"). Locked instructions exclude each other; a plain aligned store
// racing with them stays a single store, as on hardware.
// DEVIATION: a plain (unlocked) read-modify-write racing with a locked one
// on the same location may interleave inside it; x86 guests never rely on
// that (their atomics are all locked).
#pragma once

#include "cpu/decode/insn.h"

namespace skvm::cpu {

// LOCK prefix, or XCHG r/m, r (opcodes 86/87) with a memory operand.
inline bool is_locked_insn(const Insn& i) {
  return (i.pfx & kInsnLock) != 0 || ((i.opcode & 0xfe) == 0x86 && (i.pfx & kInsnMem) != 0);
}

// Runs i.fn(x, i) holding the bus lock.
bool run_locked_insn(Exec& x, const Insn& i);

}  // namespace skvm::cpu
