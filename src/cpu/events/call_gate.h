// Far CALL / JMP through a call gate (SDM Vol. 2A CALL, JMP; Vol. 3A 5.8.3
// to 5.8.6): 16- and 32-bit gates in legacy protected mode (parameter copy
// on a privilege change), 64-bit gates in IA-32e mode. The return (RETF to
// an outer level) is state/far_return.h.
#pragma once

#include <cstdint>

#include "cpu/core.h"

namespace skvm::cpu {

enum class GateResult : uint8_t {
  kNotGate,  // `selector` is not a call gate: the caller's normal path applies
  kDone,     // CS:RIP (and SS:RSP) loaded, return frame pushed
  kFailed,   // fault recorded in signals()
};

// Protected mode only (not real, not V86). return_rip is the address after
// the CALL. Nothing is committed when it fails.
GateResult far_through_call_gate(Cpu& cpu, bool is_call, uint16_t selector, uint64_t return_rip);

}  // namespace skvm::cpu
