// Operand access shared by the SSE (exec/sse*.h) and MMX / integer SIMD
// (exec/simd_int*.h) handlers: the XMM and MMX registers inside
// CpuState::fxsave, MXCSR, 4/8/16-byte memory operands (with the 16-byte
// alignment #GP of the aligned forms), and the availability gates
// (CR0.EM / CR4.OSFXSR -> #UD, CR0.TS -> #NM, pending x87 error -> #MF).
//
// Register numbering: an SSE handler uses Insn::reg / Insn::rm directly
// (0..15, REX.R / REX.B applied by the decoder for kWidX rows); MMX
// registers ignore REX (mm_index()).
#pragma once

#include <cstdint>
#include <cstring>

#include "cpu/exec/exec.h"

namespace skvm::cpu::simd {

// FXSAVE image offsets, 64-bit format (SDM Vol. 1 10.5.1, Table 10-2).
inline constexpr unsigned kFxFcw = 0, kFxFsw = 2, kFxFtw = 4, kFxFop = 6, kFxRip = 8, kFxRdp = 16,
                          kFxMxcsr = 24, kFxMxcsrMask = 28, kFxSt0 = 32, kFxXmm0 = 160;

// MXCSR (SDM Vol. 1 10.2.3).
inline constexpr uint32_t kMxIE = 1u << 0, kMxDE = 1u << 1, kMxZE = 1u << 2, kMxOE = 1u << 3,
                          kMxUE = 1u << 4, kMxPE = 1u << 5, kMxDAZ = 1u << 6, kMxFlags = 0x3f,
                          kMxMasks = 0x3f << 7, kMxRc = 3u << 13, kMxFZ = 1u << 15;
// Bits MXCSR may hold on this engine (DAZ supported): MXCSR_MASK.
inline constexpr uint32_t kMxcsrMask = 0xffff;
inline constexpr uint32_t kMxcsrReset = 0x1f80;

// An XMM value. Little-endian lanes, as in memory.
struct alignas(16) Xmm {
  uint8_t b[16];
  uint64_t q(unsigned n) const {
    uint64_t v;
    std::memcpy(&v, b + 8 * n, 8);
    return v;
  }
  void set_q(unsigned n, uint64_t v) { std::memcpy(b + 8 * n, &v, 8); }
  uint32_t d(unsigned n) const {
    uint32_t v;
    std::memcpy(&v, b + 4 * n, 4);
    return v;
  }
  void set_d(unsigned n, uint32_t v) { std::memcpy(b + 4 * n, &v, 4); }
};
static_assert(sizeof(Xmm) == 16);

// ---- Registers inside the FXSAVE image -----------------------------------

inline uint32_t mxcsr(const CpuState& s) {
  uint32_t v;
  std::memcpy(&v, s.fxsave.data() + kFxMxcsr, 4);
  return v;
}
inline void set_mxcsr(CpuState& s, uint32_t v) { std::memcpy(s.fxsave.data() + kFxMxcsr, &v, 4); }

inline Xmm xmm_get(const CpuState& s, unsigned n) {
  Xmm v;
  std::memcpy(v.b, s.fxsave.data() + kFxXmm0 + 16 * (n & 15), 16);
  return v;
}
inline void xmm_set(CpuState& s, unsigned n, const Xmm& v) {
  std::memcpy(s.fxsave.data() + kFxXmm0 + 16 * (n & 15), v.b, 16);
}
inline uint64_t xmm_q(const CpuState& s, unsigned n, unsigned lane) {
  uint64_t v;
  std::memcpy(&v, s.fxsave.data() + kFxXmm0 + 16 * (n & 15) + 8 * lane, 8);
  return v;
}
inline void xmm_set_q(CpuState& s, unsigned n, unsigned lane, uint64_t v) {
  std::memcpy(s.fxsave.data() + kFxXmm0 + 16 * (n & 15) + 8 * lane, &v, 8);
}
inline uint32_t xmm_d(const CpuState& s, unsigned n, unsigned lane) {
  uint32_t v;
  std::memcpy(&v, s.fxsave.data() + kFxXmm0 + 16 * (n & 15) + 4 * lane, 4);
  return v;
}
inline void xmm_set_d(CpuState& s, unsigned n, unsigned lane, uint32_t v) {
  std::memcpy(s.fxsave.data() + kFxXmm0 + 16 * (n & 15) + 4 * lane, &v, 4);
}

// MMX register n (ModRM field, REX ignored) aliases the mantissa of x87
// physical register n, i.e. FXSAVE slot (n - TOP) mod 8. Every MMX
// instruction sets TOP = 0 (SDM Vol. 1 9.5.1), so after the gate slot ==
// register; reads before the gate's TOP reset use mm_get_raw.
inline unsigned mm_index(uint8_t r) { return r & 7; }
inline unsigned fpu_top(const CpuState& s) {
  uint16_t fsw;
  std::memcpy(&fsw, s.fxsave.data() + kFxFsw, 2);
  return (fsw >> 11) & 7;
}
inline uint64_t mm_get(const CpuState& s, unsigned n) {
  uint64_t v;
  std::memcpy(&v, s.fxsave.data() + kFxSt0 + 16 * ((n - fpu_top(s)) & 7), 8);
  return v;
}
// MMX write: mantissa = v, exponent/sign = all ones (SDM Vol. 1 9.5.1).
inline void mm_set(CpuState& s, unsigned n, uint64_t v) {
  uint8_t* p = s.fxsave.data() + kFxSt0 + 16 * ((n - fpu_top(s)) & 7);
  std::memcpy(p, &v, 8);
  p[8] = 0xff;
  p[9] = 0xff;
}

// ---- Gates (SDM Vol. 3A 2.5 CR0.EM/TS, CR4.OSFXSR; Vol. 2 "Protected
// Mode Exceptions" of each form) ---------------------------------------------

// SSE..SSE4.2 forms that touch XMM/MXCSR: CR0.EM -> #UD, CR4.OSFXSR = 0 ->
// #UD, CR0.TS -> #NM.
[[gnu::always_inline]] inline bool sse_gate(Exec& x) {
  if ((x.s.cr0 & (kCr0EM | kCr0TS)) == 0 && (x.s.cr4 & kCr4OSFXSR)) [[likely]] return true;
  if ((x.s.cr0 & kCr0EM) || !(x.s.cr4 & kCr4OSFXSR)) return raise(x.cpu, kUD);
  return raise(x.cpu, kNM);
}

// MMX forms: CR0.EM -> #UD, CR0.TS -> #NM, an unmasked pending x87
// exception (FSW.ES) -> #MF. On success the x87 state enters MMX mode: TOP
// = 0 and every tag valid (abridged FTW = 0xff) (SDM Vol. 1 9.5.1).
inline bool mmx_gate(Exec& x) {
  if (x.s.cr0 & kCr0EM) return raise(x.cpu, kUD);
  if (x.s.cr0 & kCr0TS) return raise(x.cpu, kNM);
  uint16_t fsw;
  std::memcpy(&fsw, x.s.fxsave.data() + kFxFsw, 2);
  if (fsw & 0x80) return raise(x.cpu, kMF);
  if (fsw & 0x3800) {
    // Rotate the register file so that physical register n is slot n.
    unsigned top = (fsw >> 11) & 7;
    uint8_t tmp[128];
    for (unsigned k = 0; k < 8; ++k) std::memcpy(tmp + 16 * ((k + top) & 7), x.s.fxsave.data() + kFxSt0 + 16 * k, 16);
    std::memcpy(x.s.fxsave.data() + kFxSt0, tmp, 128);
    fsw = static_cast<uint16_t>(fsw & ~0x3800);
    std::memcpy(x.s.fxsave.data() + kFxFsw, &fsw, 2);
  }
  x.s.fxsave[kFxFtw] = 0xff;
  return true;
}
// EMMS: every tag empty (SDM Vol. 2A EMMS).
inline void mmx_empty(CpuState& s) { s.fxsave[kFxFtw] = 0; }

// ---- Memory operands -------------------------------------------------------

// Linear address of the memory operand for a `size`-byte access, with the
// segment checks. Align: the 16-byte aligned forms (MOVAPS, MOVDQA, most
// legacy-SSE memory operands) #GP(0) on a misaligned linear address
// (SDM Vol. 1 11.4.1 / Vol. 2 per-form "If a memory operand is not aligned
// on a 16-byte boundary").
inline bool simd_linear(Exec& x, const Insn& i, unsigned size, bool write, bool align, uint64_t* la) {
  if (!seg_to_linear(x.cpu, seg_of(i), effective_address(x, i), size, write ? Acc::kWrite : Acc::kRead, la))
    return false;
  if (align && (*la & 15)) return raise(x.cpu, kGP, 0);
  return true;
}

// Reads `size` bytes (1..16, or more for state areas) of the memory operand.
inline bool simd_read_mem(Exec& x, const Insn& i, void* dst, unsigned size, bool align = false) {
  uint64_t la;
  if (!simd_linear(x, i, size, false, align, &la)) return false;
  return read_linear(x.cpu, la, dst, size, Acc::kRead);
}
inline bool simd_write_mem(Exec& x, const Insn& i, const void* src, unsigned size, bool align = false) {
  uint64_t la;
  if (!simd_linear(x, i, size, true, align, &la)) return false;
  return write_linear(x.cpu, la, src, size, Acc::kWrite);
}

// The r/m operand as an XMM value: the register, or `size` bytes of memory
// in the low lanes with the rest zero (size 4, 8 or 16).
inline bool xmm_rm_read(Exec& x, const Insn& i, Xmm* v, unsigned size = 16, bool align = false) {
  if (!(i.pfx & kInsnMem)) {
    *v = xmm_get(x.s, i.rm);
    return true;
  }
  std::memset(v->b, 0, 16);
  return simd_read_mem(x, i, v->b, size, align);
}
// 16-byte aligned r/m read (the default of legacy SSE memory operands).
inline bool xmm_rm_read_a(Exec& x, const Insn& i, Xmm* v) { return xmm_rm_read(x, i, v, 16, true); }

// Writes the low `size` bytes of v to the r/m operand. For a register
// destination the whole register is written (callers merge lanes first).
inline bool xmm_rm_write(Exec& x, const Insn& i, const Xmm& v, unsigned size = 16, bool align = false) {
  if (!(i.pfx & kInsnMem)) {
    xmm_set(x.s, i.rm, v);
    return true;
  }
  return simd_write_mem(x, i, v.b, size, align);
}

// The r/m operand as an MMX value (register mm_index(rm), or 8 bytes of
// memory). Call after mmx_gate().
inline bool mm_rm_read(Exec& x, const Insn& i, uint64_t* v) {
  if (!(i.pfx & kInsnMem)) {
    *v = mm_get(x.s, mm_index(i.rm));
    return true;
  }
  *v = 0;
  return simd_read_mem(x, i, v, 8);
}
inline bool mm_rm_write(Exec& x, const Insn& i, uint64_t v) {
  if (!(i.pfx & kInsnMem)) {
    mm_set(x.s, mm_index(i.rm), v);
    return true;
  }
  return simd_write_mem(x, i, &v, 8);
}

}  // namespace skvm::cpu::simd
