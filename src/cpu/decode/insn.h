// A decoded instruction: the compact record the run loop executes. Decoded
// once (decode/decoder.cpp), stored in the block cache (cache/), read by the
// handlers (exec/). Everything a handler needs is resolved here so that the
// handler does no decoding.
#pragma once

#include <cstdint>

namespace skvm::cpu {

class Exec;
struct Insn;
// Returns true when the instruction retired normally; false when it ended
// otherwise (exception, exit): the run loop then reads cpu.signals() and the
// engine's pending stop.
using Handler = bool (*)(Exec&, const Insn&);

inline constexpr uint8_t kNoReg = 0xff;
inline constexpr uint8_t kRipReg = 0xfe;  // base register of a RIP-relative operand
inline constexpr uint8_t kHighByteReg = 16;  // reg8 16..19 = AH, CH, DH, BH

// Insn::pfx bits.
inline constexpr uint8_t kInsnMem = 1 << 0;    // ModRM.rm is memory
inline constexpr uint8_t kInsnRep = 1 << 1;    // F3 (REP / REPE)
inline constexpr uint8_t kInsnRepne = 1 << 2;  // F2 (REPNE)
inline constexpr uint8_t kInsnLock = 1 << 3;
inline constexpr uint8_t kInsnRex = 1 << 4;    // a REX prefix was in effect

struct Insn {
  Handler fn = nullptr;
  uint64_t imm = 0;     // immediate (extended per the row), moffs, far offset
  int32_t disp = 0;     // memory displacement
  uint16_t imm2 = 0;    // far selector, ENTER level
  uint16_t row = 0;     // isa::kRows index (diagnostics)
  uint8_t len = 0;      // instruction length in bytes
  uint8_t osize = 0;    // operand size in bytes: 1, 2, 4, 8
  uint8_t asize = 0;    // address size in bytes: 2, 4, 8
  uint8_t opcode = 0;   // last opcode byte (condition codes in the low nibble)
  uint8_t reg = 0;      // ModRM.reg (+REX.R) or the +r register; byte regs 16..19 = AH..BH
  uint8_t rm = 0;       // register operand when !(pfx & kInsnMem)
  uint8_t base = kNoReg;
  uint8_t index = kNoReg;
  uint8_t scale = 0;    // log2
  uint8_t seg = 3;      // effective segment (SegReg)
  uint8_t pfx = 0;      // kInsn* bits
  uint8_t attrs_end = 0;  // 1: ends the block; 2: system (drop chains)
};

}  // namespace skvm::cpu
