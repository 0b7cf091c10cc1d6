// Far returns (RETF, IRET) in protected and long mode, including returns to
// an outer privilege level (SDM Vol. 2B RET "RETURN-TO-OUTER-PRIVILEGE-LEVEL",
// IRET "RETURN-TO-OUTER-PRIVILEGE-LEVEL" / IA-32e mode). For exec/: pop the
// values, call far_return, then set RFLAGS (IRET) and adjust RSP when
// has_stack is false. RETF imm16 to an outer level releases imm16 bytes on
// both stacks: add imm16 to the new RSP after far_return as well.
#pragma once

#include <cstdint>

#include "cpu/core.h"

namespace skvm::cpu {

struct FarReturn {
  uint16_t cs = 0;
  uint64_t rip = 0;
  // SS:RSP were popped: always for a return to an outer privilege level
  // (RPL of cs > CPL) and for IRET in 64-bit mode.
  bool has_stack = false;
  uint16_t ss = 0;
  uint64_t rsp = 0;
};

// True when returning to `cs` lowers the privilege (the instruction then
// pops SS:RSP too).
inline bool far_return_is_outer(const CpuState& s, uint16_t cs) { return (cs & 3u) > cpl(s); }

// Checks and loads CS:RIP (and SS:RSP when has_stack), then, on a privilege
// drop, nulls ES/DS/FS/GS whose descriptors the new CPL may not use. Faults
// (#GP/#NP/#SS with selector error codes) leave the state unchanged.
bool far_return(Cpu& cpu, const FarReturn& r);

}  // namespace skvm::cpu
