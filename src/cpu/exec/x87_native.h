// The host processor as the x87 unit. Each guest x87 instruction that
// computes (arithmetic, loads/stores, compares, transcendental, FXAM, stack
// and tag changes, FLDCW, FLDENV/FRSTOR/FNSTENV/FNSAVE in their 64-bit host
// format) is executed by the very same host instruction on a copy of the
// guest's x87 state, so results, FSW (C0-C3, TOP, exception flags, ES/B),
// the tag word and precision/rounding control are the host's bit for bit.
//
// Unmasked exceptions need no special handling here: x87 reports them at the
// NEXT waiting instruction (SDM Vol. 1 8.6), so the host merely records them
// in FSW (ES/B set, destination handled as the SDM says); exec/x87_exec.cpp
// raises #MF when the guest reaches its next waiting instruction. A waiting
// instruction is only ever run here when the guest has no exception pending.
//
// Non-template, compiled once (exec/x87_native.cpp).
#pragma once

#include <cstdint>

namespace skvm::cpu::x87 {

// A 512-byte FXSAVE64 image in host memory (the x87 part of CpuState::fxsave
// with a host-valid MXCSR).
struct alignas(64) Image {
  uint8_t b[512];
};

// Runs the two-byte x87 instruction `opcode` (D8..DF) `modrm` on the host
// with *img loaded (FXRSTOR64) and stores the state back into *img
// (FXSAVE64). Memory forms must use mod=00 rm=111, i.e. [rdi] = mem, a host
// buffer large enough for the operand (108 bytes for FNSAVE/FRSTOR).
// `rflags`: the arithmetic flags the instruction sees (FCMOVcc); returns
// the host RFLAGS after it (FCOMI/FUCOMI write ZF, PF, CF).
// The host's own x87/SSE state is saved and restored around the call.
uint64_t run(uint8_t opcode, uint8_t modrm, Image* img, void* mem, uint64_t rflags);

// True when the host executes the register form (mod = 11) `opcode modrm`
// without #UD (measured on the reference host; SDM Vol. 2 Table A-7..A-22
// plus the undocumented aliases FSTP1, FCOM2, FCOMP3, FXCH4, FCOMP5,
// FFREEP, FXCH7, FSTP8, FSTP9 that Intel processors execute).
bool reg_form_valid(uint8_t opcode, uint8_t modrm);

}  // namespace skvm::cpu::x87
