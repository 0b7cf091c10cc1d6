// State management: FXSAVE/FXRSTOR (SDM Vol. 2A), XSAVE/XRSTOR/XSAVEOPT/
// XSAVEC (Vol. 2C, Vol. 1 ch. 13), XGETBV/XSETBV (Vol. 2C). The images are
// built by exec/sse_xsave.cpp.
#pragma once

#include "cpu/exec/exec.h"
#include "cpu/exec/simd_operands.h"
#include "cpu/exec/sse_xsave.h"

namespace skvm::cpu::exec {

// FXSAVE / FXRSTOR: CR0.TS or CR0.EM -> #NM; the m512 operand must be
// 16-byte aligned (#GP(0)). FXRSTOR: reserved MXCSR bits -> #GP(0).
// REX.W (W == 8) selects the 64-bit FIP/FDP format.
template <unsigned W, bool Restore>
bool fxsave_fxrstor(Exec& x, const Insn& i) {
  if (x.s.cr0 & (kCr0TS | kCr0EM)) return raise(x.cpu, kNM);
  uint64_t la;
  if (!simd::simd_linear(x, i, 512, !Restore, true, &la)) return false;
  const bool xmm16 = is_long64(x.s);
  const unsigned len = simd::kFxXmm0 + (xmm16 ? 16 : 8) * 16;
  alignas(16) uint8_t img[512] = {};
  if constexpr (Restore) {
    if (!read_linear(x.cpu, la, img, len, Acc::kRead)) return false;
    uint32_t mx;
    std::memcpy(&mx, img + simd::kFxMxcsr, 4);
    if (mx & ~simd::kMxcsrMask) return raise(x.cpu, kGP, 0);
    sse::fxrstor_image(x.s, img, W == 8, xmm16);
    return true;
  } else {
    sse::fxsave_image(x.s, img, W == 8, xmm16);
    return write_linear(x.cpu, la, img, len, Acc::kWrite);
  }
}

// XSAVE family gate: CR4.OSXSAVE = 0 -> #UD, CR0.TS -> #NM; 64-byte
// aligned operand (#GP(0)).
inline bool xsave_gate(Exec& x, const Insn& i, bool write, uint64_t* la) {
  if (!(x.s.cr4 & kCr4OSXSAVE)) return raise(x.cpu, kUD);
  if (x.s.cr0 & kCr0TS) return raise(x.cpu, kNM);
  if (!simd::simd_linear(x, i, sse::kXsaveAreaSize, write, false, la)) return false;
  if (*la & 63) return raise(x.cpu, kGP, 0);
  return true;
}
inline uint64_t xsave_rfbm(const Exec& x) {
  return x.s.xcr0 & ((x.s.gpr[kRdx] << 32) | (x.s.gpr[kRax] & 0xffffffffull));
}

template <unsigned W, sse::XsaveKind Kind>
bool xsave(Exec& x, const Insn& i) {
  uint64_t la;
  if (!xsave_gate(x, i, true, &la)) return false;
  alignas(64) uint8_t area[sse::kXsaveAreaSize];
  // The header's XSTATE_BV keeps the bits outside RFBM: read the area first.
  if (!read_linear(x.cpu, la, area, sizeof area, Acc::kRead)) return false;
  sse::xsave_image(x.s, area, xsave_rfbm(x), Kind, W == 8, is_long64(x.s));
  return write_linear(x.cpu, la, area, sizeof area, Acc::kWrite);
}

template <unsigned W>
bool xrstor(Exec& x, const Insn& i) {
  uint64_t la;
  if (!xsave_gate(x, i, false, &la)) return false;
  alignas(64) uint8_t area[sse::kXsaveAreaSize];
  if (!read_linear(x.cpu, la, area, sizeof area, Acc::kRead)) return false;
  if (!sse::xrstor_image(x.s, area, xsave_rfbm(x), x.s.xcr0, W == 8, is_long64(x.s)))
    return raise(x.cpu, kGP, 0);
  return true;
}

// 0F 01 D0 XGETBV, 0F 01 D1 XSETBV; the other 0F 01 D2..D7 forms (VMFUNC,
// XEND, XTEST, ENCLU: not supported) are #UD.
// XGETBV: ECX = 0 -> XCR0, ECX = 1 -> XINUSE & XCR0, else #GP(0).
// XSETBV (x86.c: __kvm_set_xcr): CPL > 0, ECX != 0, bit 0 clear, a bit
// outside x87 | the guest CPUID 0xD.0 EDX:EAX & x87|SSE -> #GP(0).
template <unsigned W>
bool xgetbv_xsetbv(Exec& x, const Insn& i) {
  const unsigned op = i.rm & 7;
  if (op > 1) return raise(x.cpu, kUD);
  if (!(x.s.cr4 & kCr4OSXSAVE)) return raise(x.cpu, kUD);
  const uint32_t ecx = static_cast<uint32_t>(x.s.gpr[kRcx]);
  if (op == 0) {
    uint64_t v;
    if (ecx == 0) v = x.s.xcr0;
    else if (ecx == 1) v = x.s.xcr0 & sse::xinuse(x.s);
    else return raise(x.cpu, kGP, 0);
    reg_set<4>(x.s, kRax, v);
    reg_set<4>(x.s, kRdx, v >> 32);
    return true;
  }
  const uint64_t v = (x.s.gpr[kRdx] << 32) | (x.s.gpr[kRax] & 0xffffffffull);
  uint32_t leaf[4];
  x.cpu.bus().cpuid(0xd, 0, leaf);
  const uint64_t valid = (((uint64_t{leaf[3]} << 32) | leaf[0]) & sse::kXfeaturesSupported) | sse::kXfeatureFp;
  if (cpl(x.s) != 0 || ecx != 0 || !(v & sse::kXfeatureFp) || (v & ~valid)) return raise(x.cpu, kGP, 0);
  x.s.xcr0 = v;
  return true;
}

}  // namespace skvm::cpu::exec
