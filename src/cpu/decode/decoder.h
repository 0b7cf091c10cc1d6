// x86 instruction decoder (SDM Vol. 2A ch. 2): legacy prefixes, REX, opcode
// maps 1 and 0F, ModRM/SIB/displacement (16-, 32- and 64-bit addressing,
// RIP-relative), immediates. Rows come from isa/opcodes.inc.
#pragma once

#include <cstdint>

#include "cpu/decode/insn.h"
#include "cpu/isa/features.h"

namespace skvm::cpu::decode {

inline constexpr unsigned kMaxInsnLen = 15;

struct Decoded {
  unsigned len = 0;        // bytes consumed (0: more bytes needed)
  bool ends_block = false;  // control transfer, system instruction, invalid form
  bool sys = false;         // may change mode/paging: chained successors are dropped
};

// Decodes the instruction at bytes[0..avail) for code of `code_size` bytes
// (2, 4 or 8 = 16-bit, 32-bit, 64-bit). When avail is too small for the
// instruction (and < kMaxInsnLen), returns len 0: the caller fetches more.
// Always produces a record: unknown encodings get the "not implemented"
// handler, invalid ones #UD, over-long ones #GP(0). `features`: the CPUID
// features the vCPU has (Cpu::cpuid_features()); a form whose feature column
// is not in it decodes to #UD (or to its fallback form, kAttrGateFallback).
Decoded decode(const uint8_t* bytes, unsigned avail, unsigned code_size, Insn* out,
               isa::FeatureSet features = isa::kAllFeatures);

}  // namespace skvm::cpu::decode

namespace skvm::cpu::exec {
// Implemented in exec/dispatch.cpp from the same rows.
Handler handler_for(uint16_t row, unsigned osize);
Handler handler_unimplemented();
Handler handler_ud();
Handler handler_gp0();
// Runs the row's handler under the process-wide bus lock (exec/locked.cpp).
Handler handler_bus_locked();
}  // namespace skvm::cpu::exec
