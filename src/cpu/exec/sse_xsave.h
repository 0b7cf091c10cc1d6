// The x87 + SSE state images of FXSAVE/FXRSTOR and of the XSAVE family
// (SDM Vol. 1 10.5 and ch. 13), as pure functions over CpuState and a
// memory buffer: used by the guest instructions (exec/sse_state.h) and by
// the kvm layer (KVM_GET/SET_XSAVE, src/kvm/xsave.cpp).
#pragma once

#include <cstdint>

#include "cpu/state.h"

namespace skvm::cpu::sse {

// XSAVE-managed components this engine implements: x87 (bit 0), SSE (bit 1).
inline constexpr uint64_t kXfeatureFp = 1, kXfeatureSse = 2;
inline constexpr uint64_t kXfeaturesSupported = kXfeatureFp | kXfeatureSse;
// Legacy region (512) + XSAVE header (64).
inline constexpr unsigned kXsaveHeaderOffset = 512;
inline constexpr unsigned kXsaveAreaSize = 576;

// XINUSE (SDM Vol. 1 13.6): x87 when not in its initial configuration
// (FCW 037FH, FSW 0, all tags empty, FOP/FIP/FDP 0, ST registers 0), SSE
// when an XMM register is not 0 or MXCSR is not 1F80H, plus state.xinuse.
uint64_t xinuse(const CpuState& s);

// Resets component(s) `mask` to their initial configuration (SDM Vol. 1
// 13.6). The SSE component's initial configuration includes MXCSR = 1F80H.
void init_components(CpuState& s, uint64_t mask);

// FXSAVE image (512 bytes). Wide: the REX.W (64-bit FIP/FDP) format, else
// the 32-bit format (FIP/FCS, FDP/FDS). Xmm16: 16 XMM registers (64-bit
// mode) or 8. Bytes 464..511 are left untouched (software-available).
void fxsave_image(const CpuState& s, uint8_t* img, bool wide, bool xmm16);
// The MXCSR of an FXSAVE image is checked by the caller (#GP / EINVAL).
void fxrstor_image(CpuState& s, const uint8_t* img, bool wide, bool xmm16);

// Writes the components of `rfbm` to an XSAVE area in the standard
// format (SDM Vol. 1 13.7): the legacy region parts and XSTATE_BV
// (bits of rfbm replaced by XINUSE). Opt: XSAVEOPT's init optimisation
// (components not in use are not written). Compact: XSAVEC (13.10): only
// components in use are written; XSTATE_BV = rfbm & XINUSE, XCOMP_BV =
// bit 63 | rfbm.
enum class XsaveKind : uint8_t { kStandard, kOpt, kCompact };
// Wide / xmm16 as for fxsave_image (XSAVE64 and 64-bit mode).
void xsave_image(const CpuState& s, uint8_t* area, uint64_t rfbm, XsaveKind kind, bool wide, bool xmm16);

// XRSTOR (SDM Vol. 1 13.8): validates the header (false: #GP) and MXCSR,
// then loads / initializes the components of rfbm. Nothing changes when it
// returns false.
// xcr0: the components the header may name.
bool xrstor_image(CpuState& s, const uint8_t* area, uint64_t rfbm, uint64_t xcr0, bool wide, bool xmm16);

}  // namespace skvm::cpu::sse
