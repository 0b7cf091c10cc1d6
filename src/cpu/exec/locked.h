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

// The decoder gives such records the handler exec::handler_bus_locked()
// (decode/decoder.h), which takes the lock and runs the row's own handler
// (found again from Insn::row and Insn::osize): the run loop pays nothing
// for the other instructions.
// LOCK prefix (memory form), or XCHG r/m, r (opcodes 86/87) with a memory
// operand.
inline bool needs_bus_lock(bool lock_prefix, bool map1, uint8_t opcode, bool mem) {
  return mem && (lock_prefix || (map1 && (opcode & 0xfe) == 0x86));
}

}  // namespace skvm::cpu
