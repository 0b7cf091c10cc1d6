// LOCK-prefixed instructions and XCHG with memory (implicitly locked, SDM
// Vol. 2B, XCHG) are atomic across vCPUs (SDM Vol. 3A, 9.1.2 "Bus
// Locking"). Two mechanisms:
//   - Locked vs locked: the whole instruction runs under one process-wide
//     lock (9.1.2.2 "Software Controlled Bus Locking").
//   - Locked vs plain stores of other vCPUs (which take no lock; e.g.
//     Linux's spinlock release `movb $0, lock`): while the handler runs, the
//     MMU records the operand bytes it reads and buffers its store
//     (MmuImpl::LockedOp, mmu_impl.h); the store is then committed with a
//     host compare-and-swap (LOCK CMPXCHG / CMPXCHG16B) against the bytes
//     read. If another store changed them, nothing is written, the GPRs,
//     RFLAGS and lazy flags are put back and the instruction runs again, so
//     the racing store is ordered before it, as on hardware. This includes
//     the old-value write-back of a failing CMPXCHG / CMPXCHG8B / 16B.
//     Code-page and cross-vCPU code notifications follow the commit.
// DEVIATION: an operand that is not naturally aligned (so may cross a cache
// line or a page: a split lock, which Linux warns about), is 3/5/6/7 bytes,
// or is not RAM (MMIO, read-only slots) keeps the lock-only path: a plain
// store of another vCPU racing with it can still be overwritten. A plain
// (unlocked) read-modify-write racing with a locked one may interleave
// inside it; x86 guests never rely on that (their atomics are all locked).
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
