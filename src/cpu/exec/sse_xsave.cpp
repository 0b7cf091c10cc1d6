// SDM Vol. 1 10.5.1 (FXSAVE area, Tables 10-2 and 10-3) and ch. 13 (XSAVE
// feature set: 13.4 layout, 13.6 XINUSE, 13.7 XSAVE, 13.8 XRSTOR, 13.9
// XSAVEOPT, 13.10 XSAVEC) for the x87 and SSE components.
#include "cpu/exec/sse_xsave.h"

#include <cstring>

#include "cpu/exec/simd_operands.h"

namespace skvm::cpu::sse {
namespace {

using namespace simd;

template <typename T>
T load(const uint8_t* p, unsigned off) {
  T v;
  std::memcpy(&v, p + off, sizeof(T));
  return v;
}
template <typename T>
void store(uint8_t* p, unsigned off, T v) {
  std::memcpy(p + off, &v, sizeof(T));
}

// The x87 part of the legacy region: FCW..FDP (bytes 0..23 except MXCSR at
// 24..31) and ST0..7 (32..159).
void x87_out(const CpuState& s, uint8_t* img, bool wide) {
  const uint8_t* fx = s.fxsave.data();
  std::memcpy(img, fx, 8);  // FCW, FSW, abridged FTW, reserved, FOP
  img[5] = 0;
  if (wide) {
    std::memcpy(img + kFxRip, fx + kFxRip, 16);
  } else {
    // 32-bit format: FIP[31:0], FCS, FDP[31:0], FDS. The engine keeps the
    // selector in bits 47:32 of the 64-bit pointer (what FXRSTOR of the
    // 32-bit format loads).
    uint64_t fip = load<uint64_t>(fx, kFxRip), fdp = load<uint64_t>(fx, kFxRdp);
    store<uint32_t>(img, 8, static_cast<uint32_t>(fip));
    store<uint32_t>(img, 12, static_cast<uint32_t>((fip >> 32) & 0xffff));
    store<uint32_t>(img, 16, static_cast<uint32_t>(fdp));
    store<uint32_t>(img, 20, static_cast<uint32_t>((fdp >> 32) & 0xffff));
  }
  std::memcpy(img + kFxSt0, fx + kFxSt0, 128);
}
void x87_in(CpuState& s, const uint8_t* img, bool wide) {
  uint8_t* fx = s.fxsave.data();
  std::memcpy(fx, img, 8);
  fx[5] = 0;
  if (wide) {
    std::memcpy(fx + kFxRip, img + kFxRip, 16);
  } else {
    uint64_t fip = load<uint32_t>(img, 8) | (uint64_t{load<uint16_t>(img, 12)} << 32);
    uint64_t fdp = load<uint32_t>(img, 16) | (uint64_t{load<uint16_t>(img, 20)} << 32);
    store<uint64_t>(fx, kFxRip, fip);
    store<uint64_t>(fx, kFxRdp, fdp);
  }
  std::memcpy(fx + kFxSt0, img + kFxSt0, 128);
  // ST registers are 80 bits: bytes 10..15 of each slot are reserved.
  for (unsigned k = 0; k < 8; ++k) std::memset(fx + kFxSt0 + 16 * k + 10, 0, 6);
}
void mxcsr_out(const CpuState& s, uint8_t* img) {
  store<uint32_t>(img, kFxMxcsr, mxcsr(s));
  store<uint32_t>(img, kFxMxcsrMask, kMxcsrMask);
}
void xmm_out(const CpuState& s, uint8_t* img, bool xmm16) {
  std::memcpy(img + kFxXmm0, s.fxsave.data() + kFxXmm0, (xmm16 ? 16 : 8) * 16);
}
void xmm_in(CpuState& s, const uint8_t* img, bool xmm16) {
  std::memcpy(s.fxsave.data() + kFxXmm0, img + kFxXmm0, (xmm16 ? 16 : 8) * 16);
}

bool all_zero(const uint8_t* p, unsigned n) {
  for (unsigned k = 0; k < n; ++k)
    if (p[k]) return false;
  return true;
}

}  // namespace

// DEVIATION: hardware tracks XINUSE with a flag set by any instruction that
// touches the component; here a component is in use when its state differs
// from the initial configuration or was loaded as in use (XRSTOR,
// KVM_SET_XSAVE). XSAVEOPT/XSAVEC may then skip a component the host would
// write (SseState.XsavecWritesCompactedHeaderAndSkipsInitComponents).
uint64_t xinuse(const CpuState& s) {
  const uint8_t* fx = s.fxsave.data();
  uint64_t r = s.xinuse & kXfeaturesSupported;
  if (load<uint16_t>(fx, kFxFcw) != 0x37f || load<uint16_t>(fx, kFxFsw) != 0 || fx[kFxFtw] != 0 ||
      load<uint16_t>(fx, kFxFop) != 0 || !all_zero(fx + kFxRip, 16) || !all_zero(fx + kFxSt0, 128))
    r |= kXfeatureFp;
  if (mxcsr(s) != kMxcsrReset || !all_zero(fx + kFxXmm0, 256)) r |= kXfeatureSse;
  return r;
}

void init_components(CpuState& s, uint64_t mask) {
  uint8_t* fx = s.fxsave.data();
  if (mask & kXfeatureFp) {
    std::memset(fx, 0, 24);
    store<uint16_t>(fx, kFxFcw, 0x37f);
    std::memset(fx + kFxSt0, 0, 128);
  }
  if (mask & kXfeatureSse) {
    std::memset(fx + kFxXmm0, 0, 256);
    set_mxcsr(s, kMxcsrReset);
  }
  s.xinuse &= ~mask;
}

void fxsave_image(const CpuState& s, uint8_t* img, bool wide, bool xmm16) {
  x87_out(s, img, wide);
  mxcsr_out(s, img);
  xmm_out(s, img, xmm16);
}

void fxrstor_image(CpuState& s, const uint8_t* img, bool wide, bool xmm16) {
  x87_in(s, img, wide);
  set_mxcsr(s, load<uint32_t>(img, kFxMxcsr));
  xmm_in(s, img, xmm16);
}

void xsave_image(const CpuState& s, uint8_t* area, uint64_t rfbm, XsaveKind kind, bool wide, bool xmm16) {
  const uint64_t inuse = xinuse(s);
  const bool skip_init = kind != XsaveKind::kStandard;
  if ((rfbm & kXfeatureFp) && !(skip_init && !(inuse & kXfeatureFp))) x87_out(s, area, wide);
  if (rfbm & kXfeatureSse) {
    mxcsr_out(s, area);  // MXCSR is written whenever RFBM[1] = 1 (13.7)
    if (!(skip_init && !(inuse & kXfeatureSse))) xmm_out(s, area, xmm16);
  }
  uint64_t bv = load<uint64_t>(area, kXsaveHeaderOffset);
  if (kind == XsaveKind::kCompact) {
    store<uint64_t>(area, kXsaveHeaderOffset, rfbm & inuse);
    store<uint64_t>(area, kXsaveHeaderOffset + 8, (1ull << 63) | rfbm);
  } else {
    store<uint64_t>(area, kXsaveHeaderOffset, (bv & ~rfbm) | (rfbm & inuse));
  }
}

bool xrstor_image(CpuState& s, const uint8_t* area, uint64_t rfbm, uint64_t xcr0, bool wide, bool xmm16) {
  const uint8_t* hdr = area + kXsaveHeaderOffset;
  const uint64_t bv = load<uint64_t>(hdr, 0), comp = load<uint64_t>(hdr, 8);
  if (comp >> 63) {
    // Compacted form (13.8.2): XCOMP_BV[62:0] within XCR0, XSTATE_BV within
    // XCOMP_BV, header bytes 16..63 zero.
    if ((comp & ~(1ull << 63) & ~xcr0) || (bv & ~comp) || !all_zero(hdr + 16, 48)) return false;
  } else {
    // Standard form (13.8.1): XSTATE_BV within XCR0, header bytes 8..23 zero.
    if ((bv & ~xcr0) || !all_zero(hdr + 8, 16)) return false;
  }
  const uint32_t mx = load<uint32_t>(area, kFxMxcsr);
  if ((rfbm & kXfeatureSse) && (mx & ~kMxcsrMask)) return false;
  if (rfbm & kXfeatureFp) {
    if (bv & kXfeatureFp) {
      x87_in(s, area, wide);
      s.xinuse |= kXfeatureFp;
    } else {
      init_components(s, kXfeatureFp);
    }
  }
  if (rfbm & kXfeatureSse) {
    if (bv & kXfeatureSse) {
      xmm_in(s, area, xmm16);
      s.xinuse |= kXfeatureSse;
    } else {
      std::memset(s.fxsave.data() + kFxXmm0, 0, (xmm16 ? 16 : 8) * 16);
      s.xinuse &= ~kXfeatureSse;
    }
    set_mxcsr(s, mx);
  }
  return true;
}

}  // namespace skvm::cpu::sse
