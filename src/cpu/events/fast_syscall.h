// Fast system-call transitions (SDM Vol. 2B SYSCALL, SYSRET, SYSENTER,
// SYSEXIT, SWAPGS) and system segment loads (LLDT, LTR). For exec/: call
// with RFLAGS exact (lazy flags materialised) and state().rip at the next
// instruction; each returns false after raising #UD/#GP like the hardware.
// The mode usually changes: recompute it afterwards.
#pragma once

#include <cstdint>

#include "cpu/core.h"

namespace skvm::cpu {

// Intel semantics: SYSCALL/SYSRET are #UD outside 64-bit mode.
bool do_syscall(Cpu& cpu);
bool do_sysret(Cpu& cpu, bool rex_w);
bool do_sysenter(Cpu& cpu);
bool do_sysexit(Cpu& cpu, bool rex_w);
bool do_swapgs(Cpu& cpu);

// LLDT / LTR (SDM Vol. 2A): descriptor checks, 16-byte system descriptors
// in long mode, TSS busy bit.
bool load_ldt(Cpu& cpu, uint16_t selector);
bool load_tr(Cpu& cpu, uint16_t selector);

}  // namespace skvm::cpu
