// SDM Vol. 2 (PADDB ... PTEST, PCMPxSTRx, CRC32) and Vol. 1 ch. 9, 11.4.3,
// 12.3-12.10: portable integer SIMD arithmetic on little-endian vectors.
// Results are bit-exact with the host CPU (tests/unit/cpu/simd_int_*_test).
#include "cpu/exec/simd_int_compute.h"

#include <cstring>
#include <type_traits>

namespace skvm::cpu::simd {
namespace {

using exec::SiOp;

template <class T>
T get(const Xmm& v, unsigned k) {
  T t;
  std::memcpy(&t, v.b + k * sizeof(T), sizeof(T));
  return t;
}
template <class T>
void put(Xmm& v, unsigned k, T t) {
  std::memcpy(v.b + k * sizeof(T), &t, sizeof(T));
}

// r[k] = f(d[k], s[k]) for every element of type T.
template <class T, class F>
void map2(Xmm& d, const Xmm& s, unsigned n, F f) {
  Xmm r = d;
  for (unsigned k = 0; k < n / sizeof(T); ++k) put<T>(r, k, static_cast<T>(f(get<T>(d, k), get<T>(s, k))));
  d = r;
}

int32_t sat_s8(int32_t v) { return v < -128 ? -128 : v > 127 ? 127 : v; }
int32_t sat_u8(int32_t v) { return v < 0 ? 0 : v > 255 ? 255 : v; }
int32_t sat_s16(int32_t v) { return v < -32768 ? -32768 : v > 32767 ? 32767 : v; }
int32_t sat_u16(int32_t v) { return v < 0 ? 0 : v > 65535 ? 65535 : v; }

// Shifts by a count (SDM Vol. 2B PSLLW/PSRLW/PSRAW...): a count beyond the
// element width gives 0 (logical) or the sign fill (arithmetic).
template <class T>
void shift_elems(Xmm& d, unsigned n, uint64_t count, int dir /* -1 left, 1 right logical, 2 right arith */) {
  constexpr unsigned kBits = 8 * sizeof(T);
  using S = std::make_signed_t<T>;
  for (unsigned k = 0; k < n / sizeof(T); ++k) {
    T v = get<T>(d, k);
    T r;
    if (dir == 2) {
      unsigned c = count > kBits - 1 ? kBits - 1 : static_cast<unsigned>(count);
      r = static_cast<T>(static_cast<S>(v) >> c);
    } else if (count > kBits - 1) {
      r = 0;
    } else {
      r = dir < 0 ? static_cast<T>(v << count) : static_cast<T>(v >> count);
    }
    put<T>(d, k, r);
  }
}

// Byte shift of the whole register (PSLLDQ / PSRLDQ).
void shift_bytes(Xmm& d, uint64_t count, bool left) {
  Xmm r{};
  if (count < 16) {
    unsigned c = static_cast<unsigned>(count);
    for (unsigned k = 0; k < 16; ++k) {
      if (left) {
        if (k >= c) r.b[k] = d.b[k - c];
      } else if (k + c < 16) {
        r.b[k] = d.b[k + c];
      }
    }
  }
  d = r;
}

enum class ShKind { kLeft, kRightL, kRightA };
void shift_op(Xmm& d, unsigned n, uint64_t count, unsigned esize, ShKind kind) {
  int dir = kind == ShKind::kLeft ? -1 : kind == ShKind::kRightL ? 1 : 2;
  switch (esize) {
    case 2: shift_elems<uint16_t>(d, n, count, dir); break;
    case 4: shift_elems<uint32_t>(d, n, count, dir); break;
    default: shift_elems<uint64_t>(d, n, count, dir); break;
  }
}

// PUNPCKL*/PUNPCKH*: interleave the low (or high) halves, element size e.
void unpack(Xmm& d, const Xmm& s, unsigned n, unsigned e, bool high) {
  Xmm r{};
  unsigned half = n / 2;
  unsigned off = high ? half : 0;
  for (unsigned k = 0; k < half / e; ++k) {
    std::memcpy(r.b + 2 * k * e, d.b + off + k * e, e);
    std::memcpy(r.b + (2 * k + 1) * e, s.b + off + k * e, e);
  }
  std::memcpy(d.b, r.b, n);
}

// Horizontal add/subtract (PHADDW/PHSUBW/PHADDSW...): pairs of dst, then
// pairs of src.
template <class T>
void horizontal(Xmm& d, const Xmm& s, unsigned n, bool sub, bool sat) {
  using S = std::make_signed_t<T>;
  unsigned ne = n / sizeof(T), half = ne / 2;
  Xmm r = d;
  for (unsigned k = 0; k < half; ++k) {
    for (unsigned part = 0; part < 2; ++part) {
      const Xmm& v = part ? s : d;
      int64_t a = static_cast<S>(get<T>(v, 2 * k)), b = static_cast<S>(get<T>(v, 2 * k + 1));
      int64_t x = sub ? a - b : a + b;
      if (sat) x = sat_s16(static_cast<int32_t>(x));
      put<T>(r, part * half + k, static_cast<T>(x));
    }
  }
  d = r;
}

template <class T>
void psign(Xmm& d, const Xmm& s, unsigned n) {
  using S = std::make_signed_t<T>;
  map2<T>(d, s, n, [](T a, T b) -> T {
    S sb = static_cast<S>(b);
    return sb < 0 ? static_cast<T>(0 - a) : sb == 0 ? T{0} : a;
  });
}
template <class T>
void pabs(Xmm& d, const Xmm& s, unsigned n) {
  using S = std::make_signed_t<T>;
  map2<T>(d, s, n, [](T, T b) -> T { return static_cast<S>(b) < 0 ? static_cast<T>(0 - b) : b; });
}
template <class T>
void pmin(Xmm& d, const Xmm& s, unsigned n) {
  map2<T>(d, s, n, [](T a, T b) -> T { return b < a ? b : a; });
}
template <class T>
void pmax(Xmm& d, const Xmm& s, unsigned n) {
  map2<T>(d, s, n, [](T a, T b) -> T { return b > a ? b : a; });
}
template <class T, class U>
void pcmpeq(Xmm& d, const Xmm& s, unsigned n) {
  map2<T>(d, s, n, [](T a, T b) -> U { return a == b ? static_cast<U>(~U{0}) : U{0}; });
}
template <class T, class U>
void pcmpgt(Xmm& d, const Xmm& s, unsigned n) {
  map2<T>(d, s, n, [](T a, T b) -> U { return a > b ? static_cast<U>(~U{0}) : U{0}; });
}

// PACKSS*/PACKUS*: From elements of dst then src, saturated to To.
template <class From, class To>
void pack(Xmm& d, const Xmm& s, unsigned n, int32_t (*sat)(int32_t)) {
  Xmm r{};
  unsigned ne = n / sizeof(From);
  for (unsigned k = 0; k < ne; ++k) {
    put<To>(r, k, static_cast<To>(sat(static_cast<int32_t>(get<From>(d, k)))));
    put<To>(r, ne + k, static_cast<To>(sat(static_cast<int32_t>(get<From>(s, k)))));
  }
  std::memcpy(d.b, r.b, n);
}

}  // namespace

void si_binary(SiOp op, Xmm& d, const Xmm& s, unsigned n, const Xmm& xmm0, uint8_t imm) {
  switch (op) {
    case SiOp::kPaddb: map2<uint8_t>(d, s, n, [](auto a, auto b) { return a + b; }); break;
    case SiOp::kPaddw: map2<uint16_t>(d, s, n, [](auto a, auto b) { return a + b; }); break;
    case SiOp::kPaddd: map2<uint32_t>(d, s, n, [](auto a, auto b) { return a + b; }); break;
    case SiOp::kPaddq: map2<uint64_t>(d, s, n, [](auto a, auto b) { return a + b; }); break;
    case SiOp::kPsubb: map2<uint8_t>(d, s, n, [](auto a, auto b) { return a - b; }); break;
    case SiOp::kPsubw: map2<uint16_t>(d, s, n, [](auto a, auto b) { return a - b; }); break;
    case SiOp::kPsubd: map2<uint32_t>(d, s, n, [](auto a, auto b) { return a - b; }); break;
    case SiOp::kPsubq: map2<uint64_t>(d, s, n, [](auto a, auto b) { return a - b; }); break;
    case SiOp::kPaddsb: map2<int8_t>(d, s, n, [](int8_t a, int8_t b) { return sat_s8(a + b); }); break;
    case SiOp::kPaddsw: map2<int16_t>(d, s, n, [](int16_t a, int16_t b) { return sat_s16(a + b); }); break;
    case SiOp::kPaddusb: map2<uint8_t>(d, s, n, [](uint8_t a, uint8_t b) { return sat_u8(a + b); }); break;
    case SiOp::kPaddusw: map2<uint16_t>(d, s, n, [](uint16_t a, uint16_t b) { return sat_u16(a + b); }); break;
    case SiOp::kPsubsb: map2<int8_t>(d, s, n, [](int8_t a, int8_t b) { return sat_s8(a - b); }); break;
    case SiOp::kPsubsw: map2<int16_t>(d, s, n, [](int16_t a, int16_t b) { return sat_s16(a - b); }); break;
    case SiOp::kPsubusb: map2<uint8_t>(d, s, n, [](uint8_t a, uint8_t b) { return sat_u8(a - b); }); break;
    case SiOp::kPsubusw: map2<uint16_t>(d, s, n, [](uint16_t a, uint16_t b) { return sat_u16(a - b); }); break;
    case SiOp::kPmullw:
      map2<uint16_t>(d, s, n, [](uint16_t a, uint16_t b) { return static_cast<uint32_t>(a) * b; });
      break;
    case SiOp::kPmulhw:
      map2<int16_t>(d, s, n, [](int16_t a, int16_t b) { return (static_cast<int32_t>(a) * b) >> 16; });
      break;
    case SiOp::kPmulhuw:
      map2<uint16_t>(d, s, n, [](uint16_t a, uint16_t b) { return (static_cast<uint32_t>(a) * b) >> 16; });
      break;
    case SiOp::kPmulhrsw:
      map2<int16_t>(d, s, n, [](int16_t a, int16_t b) { return (((static_cast<int32_t>(a) * b) >> 14) + 1) >> 1; });
      break;
    case SiOp::kPmulld:
      map2<uint32_t>(d, s, n, [](uint32_t a, uint32_t b) { return static_cast<uint32_t>(static_cast<uint64_t>(a) * b); });
      break;
    case SiOp::kPmuludq:
      for (unsigned q = 0; q < n / 8; ++q) put<uint64_t>(d, q, static_cast<uint64_t>(get<uint32_t>(d, 2 * q)) * get<uint32_t>(s, 2 * q));
      break;
    case SiOp::kPmuldq:
      for (unsigned q = 0; q < n / 8; ++q)
        put<int64_t>(d, q, static_cast<int64_t>(get<int32_t>(d, 2 * q)) * get<int32_t>(s, 2 * q));
      break;
    case SiOp::kPmaddwd: {
      Xmm r = d;
      for (unsigned k = 0; k < n / 4; ++k) {
        int64_t v = static_cast<int64_t>(get<int16_t>(d, 2 * k)) * get<int16_t>(s, 2 * k) +
                    static_cast<int64_t>(get<int16_t>(d, 2 * k + 1)) * get<int16_t>(s, 2 * k + 1);
        put<uint32_t>(r, k, static_cast<uint32_t>(v));
      }
      d = r;
      break;
    }
    case SiOp::kPmaddubsw: {
      Xmm r = d;
      for (unsigned k = 0; k < n / 2; ++k) {
        int32_t v = static_cast<int32_t>(get<uint8_t>(d, 2 * k)) * get<int8_t>(s, 2 * k) +
                    static_cast<int32_t>(get<uint8_t>(d, 2 * k + 1)) * get<int8_t>(s, 2 * k + 1);
        put<int16_t>(r, k, static_cast<int16_t>(sat_s16(v)));
      }
      d = r;
      break;
    }
    case SiOp::kPavgb:
      map2<uint8_t>(d, s, n, [](uint8_t a, uint8_t b) { return (static_cast<unsigned>(a) + b + 1) >> 1; });
      break;
    case SiOp::kPavgw:
      map2<uint16_t>(d, s, n, [](uint16_t a, uint16_t b) { return (static_cast<unsigned>(a) + b + 1) >> 1; });
      break;
    case SiOp::kPminub: pmin<uint8_t>(d, s, n); break;
    case SiOp::kPmaxub: pmax<uint8_t>(d, s, n); break;
    case SiOp::kPminsw: pmin<int16_t>(d, s, n); break;
    case SiOp::kPmaxsw: pmax<int16_t>(d, s, n); break;
    case SiOp::kPminsb: pmin<int8_t>(d, s, n); break;
    case SiOp::kPmaxsb: pmax<int8_t>(d, s, n); break;
    case SiOp::kPminsd: pmin<int32_t>(d, s, n); break;
    case SiOp::kPmaxsd: pmax<int32_t>(d, s, n); break;
    case SiOp::kPminuw: pmin<uint16_t>(d, s, n); break;
    case SiOp::kPmaxuw: pmax<uint16_t>(d, s, n); break;
    case SiOp::kPminud: pmin<uint32_t>(d, s, n); break;
    case SiOp::kPmaxud: pmax<uint32_t>(d, s, n); break;
    case SiOp::kPsadbw:
      for (unsigned q = 0; q < n / 8; ++q) {
        unsigned sum = 0;
        for (unsigned k = 0; k < 8; ++k) {
          int diff = static_cast<int>(d.b[8 * q + k]) - s.b[8 * q + k];
          sum += static_cast<unsigned>(diff < 0 ? -diff : diff);
        }
        put<uint64_t>(d, q, sum);
      }
      break;
    case SiOp::kPcmpeqb: pcmpeq<uint8_t, uint8_t>(d, s, n); break;
    case SiOp::kPcmpeqw: pcmpeq<uint16_t, uint16_t>(d, s, n); break;
    case SiOp::kPcmpeqd: pcmpeq<uint32_t, uint32_t>(d, s, n); break;
    case SiOp::kPcmpeqq: pcmpeq<uint64_t, uint64_t>(d, s, n); break;
    case SiOp::kPcmpgtb: pcmpgt<int8_t, uint8_t>(d, s, n); break;
    case SiOp::kPcmpgtw: pcmpgt<int16_t, uint16_t>(d, s, n); break;
    case SiOp::kPcmpgtd: pcmpgt<int32_t, uint32_t>(d, s, n); break;
    case SiOp::kPcmpgtq: pcmpgt<int64_t, uint64_t>(d, s, n); break;
    case SiOp::kPand: map2<uint64_t>(d, s, n, [](uint64_t a, uint64_t b) { return a & b; }); break;
    case SiOp::kPandn: map2<uint64_t>(d, s, n, [](uint64_t a, uint64_t b) { return ~a & b; }); break;
    case SiOp::kPor: map2<uint64_t>(d, s, n, [](uint64_t a, uint64_t b) { return a | b; }); break;
    case SiOp::kPxor: map2<uint64_t>(d, s, n, [](uint64_t a, uint64_t b) { return a ^ b; }); break;
    // Shifts by the low 64 bits of the source (SDM Vol. 2B PSLLW...).
    case SiOp::kPsrlw: shift_op(d, n, get<uint64_t>(s, 0), 2, ShKind::kRightL); break;
    case SiOp::kPsrld: shift_op(d, n, get<uint64_t>(s, 0), 4, ShKind::kRightL); break;
    case SiOp::kPsrlq: shift_op(d, n, get<uint64_t>(s, 0), 8, ShKind::kRightL); break;
    case SiOp::kPsraw: shift_op(d, n, get<uint64_t>(s, 0), 2, ShKind::kRightA); break;
    case SiOp::kPsrad: shift_op(d, n, get<uint64_t>(s, 0), 4, ShKind::kRightA); break;
    case SiOp::kPsllw: shift_op(d, n, get<uint64_t>(s, 0), 2, ShKind::kLeft); break;
    case SiOp::kPslld: shift_op(d, n, get<uint64_t>(s, 0), 4, ShKind::kLeft); break;
    case SiOp::kPsllq: shift_op(d, n, get<uint64_t>(s, 0), 8, ShKind::kLeft); break;
    case SiOp::kPacksswb: pack<int16_t, int8_t>(d, s, n, sat_s8); break;
    case SiOp::kPackssdw: pack<int32_t, int16_t>(d, s, n, sat_s16); break;
    case SiOp::kPackuswb: pack<int16_t, uint8_t>(d, s, n, sat_u8); break;
    case SiOp::kPackusdw: pack<int32_t, uint16_t>(d, s, n, sat_u16); break;
    case SiOp::kPunpcklbw: unpack(d, s, n, 1, false); break;
    case SiOp::kPunpcklwd: unpack(d, s, n, 2, false); break;
    case SiOp::kPunpckldq: unpack(d, s, n, 4, false); break;
    case SiOp::kPunpcklqdq: unpack(d, s, n, 8, false); break;
    case SiOp::kPunpckhbw: unpack(d, s, n, 1, true); break;
    case SiOp::kPunpckhwd: unpack(d, s, n, 2, true); break;
    case SiOp::kPunpckhdq: unpack(d, s, n, 4, true); break;
    case SiOp::kPunpckhqdq: unpack(d, s, n, 8, true); break;
    case SiOp::kPshufb: {
      Xmm r = d;
      for (unsigned k = 0; k < n; ++k) r.b[k] = (s.b[k] & 0x80) ? 0 : d.b[s.b[k] & (n - 1)];
      d = r;
      break;
    }
    case SiOp::kPhaddw: horizontal<uint16_t>(d, s, n, false, false); break;
    case SiOp::kPhaddd: horizontal<uint32_t>(d, s, n, false, false); break;
    case SiOp::kPhaddsw: horizontal<uint16_t>(d, s, n, false, true); break;
    case SiOp::kPhsubw: horizontal<uint16_t>(d, s, n, true, false); break;
    case SiOp::kPhsubd: horizontal<uint32_t>(d, s, n, true, false); break;
    case SiOp::kPhsubsw: horizontal<uint16_t>(d, s, n, true, true); break;
    case SiOp::kPsignb: psign<uint8_t>(d, s, n); break;
    case SiOp::kPsignw: psign<uint16_t>(d, s, n); break;
    case SiOp::kPsignd: psign<uint32_t>(d, s, n); break;
    case SiOp::kPabsb: pabs<uint8_t>(d, s, n); break;
    case SiOp::kPabsw: pabs<uint16_t>(d, s, n); break;
    case SiOp::kPabsd: pabs<uint32_t>(d, s, n); break;
    case SiOp::kPblendvb:
      for (unsigned k = 0; k < n; ++k)
        if (xmm0.b[k] & 0x80) d.b[k] = s.b[k];
      break;
    case SiOp::kPhminposuw: {
      unsigned best = 0;
      for (unsigned k = 1; k < 8; ++k)
        if (get<uint16_t>(s, k) < get<uint16_t>(s, best)) best = k;
      Xmm r{};
      put<uint16_t>(r, 0, get<uint16_t>(s, best));
      put<uint16_t>(r, 1, static_cast<uint16_t>(best));
      d = r;
      break;
    }
    // ---- imm8 forms ----
    case SiOp::kPshufw:
    case SiOp::kPshufd: {
      Xmm r = d;
      if (op == SiOp::kPshufw) {
        for (unsigned k = 0; k < 4; ++k) put<uint16_t>(r, k, get<uint16_t>(s, (imm >> (2 * k)) & 3));
      } else {
        for (unsigned k = 0; k < 4; ++k) put<uint32_t>(r, k, get<uint32_t>(s, (imm >> (2 * k)) & 3));
      }
      d = r;
      break;
    }
    case SiOp::kPshufhw:
    case SiOp::kPshuflw: {
      unsigned base = op == SiOp::kPshufhw ? 4 : 0;
      Xmm r = s;
      for (unsigned k = 0; k < 4; ++k) put<uint16_t>(r, base + k, get<uint16_t>(s, base + ((imm >> (2 * k)) & 3)));
      d = r;
      break;
    }
    case SiOp::kPalignr: {
      uint8_t tmp[32];
      std::memcpy(tmp, s.b, n);
      std::memcpy(tmp + n, d.b, n);
      for (unsigned k = 0; k < n; ++k) d.b[k] = imm + k < 2 * n ? tmp[imm + k] : 0;
      break;
    }
    case SiOp::kPblendw:
      for (unsigned k = 0; k < 8; ++k)
        if ((imm >> k) & 1) put<uint16_t>(d, k, get<uint16_t>(s, k));
      break;
    case SiOp::kMpsadbw: {
      unsigned i0 = ((imm >> 2) & 1) * 4, j0 = (imm & 3) * 4;
      Xmm r{};
      for (unsigned k = 0; k < 8; ++k) {
        unsigned sum = 0;
        for (unsigned m = 0; m < 4; ++m) {
          int diff = static_cast<int>(d.b[i0 + k + m]) - s.b[j0 + m];
          sum += static_cast<unsigned>(diff < 0 ? -diff : diff);
        }
        put<uint16_t>(r, k, static_cast<uint16_t>(sum));
      }
      d = r;
      break;
    }
    default: break;
  }
}

void si_shift_imm(SiOp op, Xmm& d, unsigned n, uint8_t imm) {
  switch (op) {
    case SiOp::kPsrlwI: shift_op(d, n, imm, 2, ShKind::kRightL); break;
    case SiOp::kPsrldI: shift_op(d, n, imm, 4, ShKind::kRightL); break;
    case SiOp::kPsrlqI: shift_op(d, n, imm, 8, ShKind::kRightL); break;
    case SiOp::kPsrawI: shift_op(d, n, imm, 2, ShKind::kRightA); break;
    case SiOp::kPsradI: shift_op(d, n, imm, 4, ShKind::kRightA); break;
    case SiOp::kPsllwI: shift_op(d, n, imm, 2, ShKind::kLeft); break;
    case SiOp::kPslldI: shift_op(d, n, imm, 4, ShKind::kLeft); break;
    case SiOp::kPsllqI: shift_op(d, n, imm, 8, ShKind::kLeft); break;
    case SiOp::kPsrldqI: shift_bytes(d, imm, false); break;
    case SiOp::kPslldqI: shift_bytes(d, imm, true); break;
    default: break;
  }
}

namespace {
template <class From, class To>
void movx(Xmm& d, const Xmm& s) {
  Xmm r{};
  for (unsigned k = 0; k < 16 / sizeof(To); ++k) put<To>(r, k, static_cast<To>(get<From>(s, k)));
  d = r;
}
}  // namespace

unsigned si_pmovx_src_bytes(SiOp op) {
  switch (op) {
    case SiOp::kPmovsxbd: case SiOp::kPmovzxbd: case SiOp::kPmovsxwq: case SiOp::kPmovzxwq: return 4;
    case SiOp::kPmovsxbq: case SiOp::kPmovzxbq: return 2;
    default: return 8;
  }
}

void si_pmovx(SiOp op, Xmm& d, const Xmm& s) {
  switch (op) {
    case SiOp::kPmovsxbw: movx<int8_t, int16_t>(d, s); break;
    case SiOp::kPmovsxbd: movx<int8_t, int32_t>(d, s); break;
    case SiOp::kPmovsxbq: movx<int8_t, int64_t>(d, s); break;
    case SiOp::kPmovsxwd: movx<int16_t, int32_t>(d, s); break;
    case SiOp::kPmovsxwq: movx<int16_t, int64_t>(d, s); break;
    case SiOp::kPmovsxdq: movx<int32_t, int64_t>(d, s); break;
    case SiOp::kPmovzxbw: movx<uint8_t, uint16_t>(d, s); break;
    case SiOp::kPmovzxbd: movx<uint8_t, uint32_t>(d, s); break;
    case SiOp::kPmovzxbq: movx<uint8_t, uint64_t>(d, s); break;
    case SiOp::kPmovzxwd: movx<uint16_t, uint32_t>(d, s); break;
    case SiOp::kPmovzxwq: movx<uint16_t, uint64_t>(d, s); break;
    case SiOp::kPmovzxdq: movx<uint32_t, uint64_t>(d, s); break;
    default: break;
  }
}

// ---- PCMPxSTRx (SDM Vol. 2B 4.1) ----

namespace {
// Element k of v as a signed or unsigned int by imm8[1:0].
int32_t str_elem(const Xmm& v, unsigned k, uint8_t imm) {
  switch (imm & 3) {
    case 0: return get<uint8_t>(v, k);
    case 1: return get<uint16_t>(v, k);
    case 2: return get<int8_t>(v, k);
    default: return get<int16_t>(v, k);
  }
}
}  // namespace

unsigned si_str_len(const Xmm& v, uint8_t imm) {
  unsigned ne = (imm & 1) ? 8 : 16;
  for (unsigned k = 0; k < ne; ++k)
    if (str_elem(v, k, imm) == 0) return k;
  return ne;
}

unsigned si_str_len_explicit(uint64_t reg, bool rex_w, uint8_t imm) {
  unsigned ne = (imm & 1) ? 8 : 16;
  uint64_t mag;
  if (rex_w) {
    int64_t v = static_cast<int64_t>(reg);
    mag = v < 0 ? 0 - reg : reg;
  } else {
    int64_t v = static_cast<int32_t>(static_cast<uint32_t>(reg));
    mag = static_cast<uint64_t>(v < 0 ? -v : v);
  }
  return mag > ne ? ne : static_cast<unsigned>(mag);
}

StrResult si_pcmpstr(const Xmm& a, const Xmm& b, unsigned la, unsigned lb, uint8_t imm) {
  const unsigned ne = (imm & 1) ? 8 : 16;
  uint32_t res1 = 0;
  switch ((imm >> 2) & 3) {
    case 0:  // equal any: b[i] is one of the valid a[j]
      for (unsigned i = 0; i < lb; ++i)
        for (unsigned j = 0; j < la; ++j)
          if (str_elem(a, j, imm) == str_elem(b, i, imm)) res1 |= 1u << i;
      break;
    case 1:  // ranges: a[j] <= b[i] <= a[j+1] for a valid pair (j even)
      for (unsigned i = 0; i < lb; ++i) {
        int32_t bi = str_elem(b, i, imm);
        for (unsigned j = 0; j + 1 < la; j += 2)
          if (bi >= str_elem(a, j, imm) && bi <= str_elem(a, j + 1, imm)) res1 |= 1u << i;
      }
      break;
    case 2:  // equal each: both invalid -> true, one invalid -> false
      for (unsigned i = 0; i < ne; ++i) {
        bool va = i < la, vb = i < lb;
        bool r = (va && vb) ? str_elem(a, i, imm) == str_elem(b, i, imm) : (!va && !vb);
        if (r) res1 |= 1u << i;
      }
      break;
    default:  // equal ordered: a (needle) matches b (haystack) from position j
      for (unsigned j = 0; j < ne; ++j) {
        bool r = true;
        for (unsigned k = 0; j + k < ne && r; ++k) {
          if (k >= la) break;              // a invalid: true
          if (j + k >= lb) r = false;      // a valid, b invalid: false
          else r = str_elem(a, k, imm) == str_elem(b, j + k, imm);
        }
        if (r) res1 |= 1u << j;
      }
      break;
  }
  const uint32_t all = (1u << ne) - 1;
  uint32_t res2 = res1;
  switch ((imm >> 4) & 3) {
    case 1: res2 = ~res1 & all; break;
    case 3: res2 = res1 ^ ((1u << lb) - 1); break;
    default: break;
  }
  uint64_t f = (res2 != 0 ? kFlagCF : 0) | (lb < ne ? kFlagZF : 0) | (la < ne ? kFlagSF : 0) |
               ((res2 & 1) ? kFlagOF : 0);
  return StrResult{static_cast<uint16_t>(res2), f};
}

uint32_t si_crc32(uint32_t crc, uint64_t v, unsigned bytes) {
  for (unsigned k = 0; k < bytes; ++k) {
    crc ^= static_cast<uint8_t>(v >> (8 * k));
    for (unsigned bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ ((crc & 1) ? 0x82f63b78u : 0u);
  }
  return crc;
}

}  // namespace skvm::cpu::simd
