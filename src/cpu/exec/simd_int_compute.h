// The pure compute layer of the integer SIMD instructions (exec/simd_int.h):
// operations on 8-byte (MMX) or 16-byte (XMM) little-endian vectors, with
// no CPU state. Implemented in exec/simd_int_compute.cpp; checked against
// the host CPU by tests/unit/cpu/simd_int_native_test.cpp.
#pragma once

#include <cstdint>

#include "cpu/exec/simd_int.h"
#include "cpu/exec/simd_operands.h"

namespace skvm::cpu::simd {

// dst = op(dst, src) for the SiOp values up to kLastBinary and, with imm8,
// up to kLastImm. n: vector length in bytes (8 for MMX, 16 for XMM). xmm0
// is the implicit mask of PBLENDVB.
void si_binary(exec::SiOp op, Xmm& dst, const Xmm& src, unsigned n, const Xmm& xmm0, uint8_t imm);

// Shift of dst by an immediate count (PSRLW..PSLLDQ imm8 forms).
void si_shift_imm(exec::SiOp op, Xmm& dst, unsigned n, uint8_t imm);

// PMOVSX/PMOVZX: dst from the low bytes of src.
void si_pmovx(exec::SiOp op, Xmm& dst, const Xmm& src);
// Bytes of source the PMOVSX/PMOVZX form reads (2, 4 or 8).
unsigned si_pmovx_src_bytes(exec::SiOp op);

// PCMPxSTRx core (SDM Vol. 2B 4.1 "Imm8 Control Byte Operation for
// PCMPESTRI / PCMPESTRM / PCMPISTRI / PCMPISTRM"): the intermediate result 2
// for the given valid lengths, and the flags the instruction sets.
struct StrResult {
  uint16_t int_res2;
  uint64_t flags;  // CF ZF SF OF (AF = PF = 0)
};
StrResult si_pcmpstr(const Xmm& a, const Xmm& b, unsigned la, unsigned lb, uint8_t imm);
// Implicit length: index of the first zero element (or the element count).
unsigned si_str_len(const Xmm& v, uint8_t imm);
// Explicit length: |reg| saturated to the element count (SDM: "absolute
// value of EAX/RAX").
unsigned si_str_len_explicit(uint64_t reg, bool rex_w, uint8_t imm);

// CRC32C update (polynomial 11EDC6F41H, bit-reflected) over `bytes` bytes
// of v, least significant first (SDM Vol. 2A CRC32).
uint32_t si_crc32(uint32_t crc, uint64_t v, unsigned bytes);

}  // namespace skvm::cpu::simd
