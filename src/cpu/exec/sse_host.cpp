// SDM Vol. 2 (each SSE/SSE2/SSE3/SSE4.1 mnemonic); Vol. 1 11.5 (SIMD
// floating-point exceptions). See sse_host.h: every operation runs the host
// instruction itself, with the guest's RC/DAZ/FZ and all exceptions masked,
// and returns the exception flags it raised. The host MXCSR is saved and
// restored around each operation, inside the same asm statement, so that
// no compiler-generated SSE code runs under the guest's MXCSR.
#include "cpu/exec/sse_host.h"

#include <array>
#include <utility>

namespace skvm::cpu::sse {
namespace {

using simd::Xmm;
using OpFn = void (*)(Xmm* dst, const Xmm& src, uint32_t& mx);

// Every host operation below is bracketed by these: save the host MXCSR,
// load the guest's (exceptions masked), run, read the flags back, restore.
#define SKVM_MXCSR_ENTER "stmxcsr %[saved]\n\tldmxcsr %[mx]\n\t"
#define SKVM_MXCSR_LEAVE "\n\tstmxcsr %[mx]\n\tldmxcsr %[saved]"

// dst = insn(src, dst) with xmm0 holding dst; extra asm inputs (the imm8)
// follow `src`. SAFETY: the asm reads `src` and reads/writes `*dst`, both
// 16-byte aligned Xmm objects (alignas(16)), and clobbers only xmm0 and the
// MXCSR it restores.
#define SKVM_SSE_BODY(text, ...)                                                            \
  uint32_t saved;                                                                           \
  asm volatile(SKVM_MXCSR_ENTER "movdqa %[d], %%xmm0\n\t" text "\n\tmovdqa %%xmm0, %[d]" \
                   SKVM_MXCSR_LEAVE                                                         \
               : [d] "+m"(*dst), [mx] "+m"(mx), [saved] "=m"(saved)                         \
               : [s] "m"(src)__VA_OPT__(, ) __VA_ARGS__                                     \
               : "xmm0")

#define SKVM_SSE_OP(fn, text) \
  void fn(Xmm* dst, const Xmm& src, uint32_t& mx) { SKVM_SSE_BODY(text); }

// The same with a compile-time imm8 (one instance per immediate value).
#define SKVM_SSE_OP_IMM(fn, text) \
  template <int I>                \
  void fn(Xmm* dst, const Xmm& src, uint32_t& mx) { SKVM_SSE_BODY(text, [imm] "i"(I)); }

SKVM_SSE_OP(addps, "addps %[s], %%xmm0")
SKVM_SSE_OP(addss, "addss %[s], %%xmm0")
SKVM_SSE_OP(addpd, "addpd %[s], %%xmm0")
SKVM_SSE_OP(addsd, "addsd %[s], %%xmm0")
SKVM_SSE_OP(subps, "subps %[s], %%xmm0")
SKVM_SSE_OP(subss, "subss %[s], %%xmm0")
SKVM_SSE_OP(subpd, "subpd %[s], %%xmm0")
SKVM_SSE_OP(subsd, "subsd %[s], %%xmm0")
SKVM_SSE_OP(mulps, "mulps %[s], %%xmm0")
SKVM_SSE_OP(mulss, "mulss %[s], %%xmm0")
SKVM_SSE_OP(mulpd, "mulpd %[s], %%xmm0")
SKVM_SSE_OP(mulsd, "mulsd %[s], %%xmm0")
SKVM_SSE_OP(divps, "divps %[s], %%xmm0")
SKVM_SSE_OP(divss, "divss %[s], %%xmm0")
SKVM_SSE_OP(divpd, "divpd %[s], %%xmm0")
SKVM_SSE_OP(divsd, "divsd %[s], %%xmm0")
SKVM_SSE_OP(minps, "minps %[s], %%xmm0")
SKVM_SSE_OP(minss, "minss %[s], %%xmm0")
SKVM_SSE_OP(minpd, "minpd %[s], %%xmm0")
SKVM_SSE_OP(minsd, "minsd %[s], %%xmm0")
SKVM_SSE_OP(maxps, "maxps %[s], %%xmm0")
SKVM_SSE_OP(maxss, "maxss %[s], %%xmm0")
SKVM_SSE_OP(maxpd, "maxpd %[s], %%xmm0")
SKVM_SSE_OP(maxsd, "maxsd %[s], %%xmm0")
SKVM_SSE_OP(sqrtps, "sqrtps %[s], %%xmm0")
SKVM_SSE_OP(sqrtss, "sqrtss %[s], %%xmm0")
SKVM_SSE_OP(sqrtpd, "sqrtpd %[s], %%xmm0")
SKVM_SSE_OP(sqrtsd, "sqrtsd %[s], %%xmm0")
SKVM_SSE_OP(rcpps, "rcpps %[s], %%xmm0")
SKVM_SSE_OP(rcpss, "rcpss %[s], %%xmm0")
SKVM_SSE_OP(rsqrtps, "rsqrtps %[s], %%xmm0")
SKVM_SSE_OP(rsqrtss, "rsqrtss %[s], %%xmm0")
SKVM_SSE_OP(addsubps, "addsubps %[s], %%xmm0")
SKVM_SSE_OP(addsubpd, "addsubpd %[s], %%xmm0")
SKVM_SSE_OP(haddps, "haddps %[s], %%xmm0")
SKVM_SSE_OP(haddpd, "haddpd %[s], %%xmm0")
SKVM_SSE_OP(hsubps, "hsubps %[s], %%xmm0")
SKVM_SSE_OP(hsubpd, "hsubpd %[s], %%xmm0")
SKVM_SSE_OP(cvtps2pd, "cvtps2pd %[s], %%xmm0")
SKVM_SSE_OP(cvtpd2ps, "cvtpd2ps %[s], %%xmm0")
SKVM_SSE_OP(cvtss2sd, "cvtss2sd %[s], %%xmm0")
SKVM_SSE_OP(cvtsd2ss, "cvtsd2ss %[s], %%xmm0")
SKVM_SSE_OP(cvtdq2ps, "cvtdq2ps %[s], %%xmm0")
SKVM_SSE_OP(cvtps2dq, "cvtps2dq %[s], %%xmm0")
SKVM_SSE_OP(cvttps2dq, "cvttps2dq %[s], %%xmm0")
SKVM_SSE_OP(cvtdq2pd, "cvtdq2pd %[s], %%xmm0")
SKVM_SSE_OP(cvtpd2dq, "cvtpd2dq %[s], %%xmm0")
SKVM_SSE_OP(cvttpd2dq, "cvttpd2dq %[s], %%xmm0")

SKVM_SSE_OP_IMM(cmpps, "cmpps %[imm], %[s], %%xmm0")
SKVM_SSE_OP_IMM(cmpss, "cmpss %[imm], %[s], %%xmm0")
SKVM_SSE_OP_IMM(cmppd, "cmppd %[imm], %[s], %%xmm0")
SKVM_SSE_OP_IMM(cmpsd, "cmpsd %[imm], %[s], %%xmm0")
SKVM_SSE_OP_IMM(roundps, "roundps %[imm], %[s], %%xmm0")
SKVM_SSE_OP_IMM(roundpd, "roundpd %[imm], %[s], %%xmm0")
SKVM_SSE_OP_IMM(roundss, "roundss %[imm], %[s], %%xmm0")
SKVM_SSE_OP_IMM(roundsd, "roundsd %[imm], %[s], %%xmm0")
SKVM_SSE_OP_IMM(dpps, "dpps %[imm], %[s], %%xmm0")
SKVM_SSE_OP_IMM(dppd, "dppd %[imm], %[s], %%xmm0")

#undef SKVM_SSE_OP
#undef SKVM_SSE_OP_IMM
#undef SKVM_SSE_BODY

#define SKVM_IMM_TABLE(name, fn, n)                                                      \
  template <size_t... K>                                                                 \
  constexpr std::array<OpFn, sizeof...(K)> name##_make(std::index_sequence<K...>) {      \
    return {&fn<static_cast<int>(K)>...};                                                \
  }                                                                                      \
  constexpr auto name = name##_make(std::make_index_sequence<n>{});

// Legacy-SSE CMPxx use imm8[2:0]; ROUNDxx imm8[3:0]; DPPS all 8 bits;
// DPPD imm8[5:4] and [1:0] (SDM Vol. 2 CMPPS, ROUNDPS, DPPS, DPPD).
SKVM_IMM_TABLE(kCmpps, cmpps, 8)
SKVM_IMM_TABLE(kCmpss, cmpss, 8)
SKVM_IMM_TABLE(kCmppd, cmppd, 8)
SKVM_IMM_TABLE(kCmpsd, cmpsd, 8)
SKVM_IMM_TABLE(kRoundps, roundps, 16)
SKVM_IMM_TABLE(kRoundpd, roundpd, 16)
SKVM_IMM_TABLE(kRoundss, roundss, 16)
SKVM_IMM_TABLE(kRoundsd, roundsd, 16)
SKVM_IMM_TABLE(kDpps, dpps, 256)
SKVM_IMM_TABLE(kDppd, dppd, 64)
#undef SKVM_IMM_TABLE

constexpr OpFn kPlain[] = {
    addps, addss, addpd, addsd, subps, subss, subpd, subsd, mulps, mulss, mulpd, mulsd,
    divps, divss, divpd, divsd, minps, minss, minpd, minsd, maxps, maxss, maxpd, maxsd,
    sqrtps, sqrtss, sqrtpd, sqrtsd, rcpps, rcpss, rsqrtps, rsqrtss,
    addsubps, addsubpd, haddps, haddpd, hsubps, hsubpd,
};
static_assert(sizeof(kPlain) / sizeof(kPlain[0]) == static_cast<size_t>(FpOp::kCmpps));

OpFn lookup(FpOp op, uint8_t imm) {
  if (op < FpOp::kCmpps) return kPlain[static_cast<size_t>(op)];
  switch (op) {
    case FpOp::kCmpps: return kCmpps[imm & 7];
    case FpOp::kCmpss: return kCmpss[imm & 7];
    case FpOp::kCmppd: return kCmppd[imm & 7];
    case FpOp::kCmpsd: return kCmpsd[imm & 7];
    case FpOp::kRoundps: return kRoundps[imm & 15];
    case FpOp::kRoundpd: return kRoundpd[imm & 15];
    case FpOp::kRoundss: return kRoundss[imm & 15];
    case FpOp::kRoundsd: return kRoundsd[imm & 15];
    case FpOp::kDpps: return kDpps[imm];
    case FpOp::kDppd: return kDppd[imm & 0x3f];
    case FpOp::kCvtps2pd: return cvtps2pd;
    case FpOp::kCvtpd2ps: return cvtpd2ps;
    case FpOp::kCvtss2sd: return cvtss2sd;
    case FpOp::kCvtsd2ss: return cvtsd2ss;
    case FpOp::kCvtdq2ps: return cvtdq2ps;
    case FpOp::kCvtps2dq: return cvtps2dq;
    case FpOp::kCvttps2dq: return cvttps2dq;
    case FpOp::kCvtdq2pd: return cvtdq2pd;
    case FpOp::kCvtpd2dq: return cvtpd2dq;
    case FpOp::kCvttpd2dq: return cvttpd2dq;
    default: return addps;  // unreachable: every FpOp is listed above
  }
}

// The host MXCSR for a guest operation: the guest's RC/DAZ/FZ, every
// exception masked, no flag set.
uint32_t host_mxcsr(uint32_t guest) {
  return (guest & (simd::kMxDAZ | simd::kMxRc | simd::kMxFZ)) | simd::kMxMasks;
}

}  // namespace

uint32_t host_fp(FpOp op, Xmm* dst, const Xmm& src, uint32_t mxcsr, uint8_t imm) {
  uint32_t mx = host_mxcsr(mxcsr);
  // DPPD only uses imm8 bits 5:4 and 1:0: fold bits 7:6 away.
  lookup(op, op == FpOp::kDppd ? static_cast<uint8_t>(imm & 0x33) : imm)(dst, src, mx);
  return mx & simd::kMxFlags;
}

uint32_t host_to_int(ToInt op, bool wide, const Xmm& src, uint32_t mxcsr, uint64_t* out) {
  uint32_t mx = host_mxcsr(mxcsr), saved;
  uint64_t r = 0;
  // SAFETY: reads the 16-byte aligned `src`; only the output register and
  // the (restored) MXCSR change. The output is early-clobber: it is written
  // before the last MXCSR store, so it must not hold a memory operand's
  // address (clang -O0 addresses them through registers).
#define SKVM_TO_INT(text, type)                                                      \
  {                                                                                  \
    type v;                                                                          \
    asm volatile(SKVM_MXCSR_ENTER text SKVM_MXCSR_LEAVE                              \
                 : [r] "=&r"(v), [mx] "+m"(mx), [saved] "=m"(saved)                   \
                 : [s] "m"(src));                                                    \
    r = static_cast<uint64_t>(v);                         \
  }
  switch (op) {
    case ToInt::kCvtss2si:
      if (wide) SKVM_TO_INT("cvtss2si %[s], %q[r]", uint64_t) else SKVM_TO_INT("cvtss2si %[s], %k[r]", uint32_t)
      break;
    case ToInt::kCvttss2si:
      if (wide) SKVM_TO_INT("cvttss2si %[s], %q[r]", uint64_t) else SKVM_TO_INT("cvttss2si %[s], %k[r]", uint32_t)
      break;
    case ToInt::kCvtsd2si:
      if (wide) SKVM_TO_INT("cvtsd2si %[s], %q[r]", uint64_t) else SKVM_TO_INT("cvtsd2si %[s], %k[r]", uint32_t)
      break;
    case ToInt::kCvttsd2si:
      if (wide) SKVM_TO_INT("cvttsd2si %[s], %q[r]", uint64_t) else SKVM_TO_INT("cvttsd2si %[s], %k[r]", uint32_t)
      break;
  }
#undef SKVM_TO_INT
  *out = r;
  return mx & simd::kMxFlags;
}

uint32_t host_from_int(bool to_double, bool wide, uint64_t v, Xmm* dst, uint32_t mxcsr) {
  uint32_t mx = host_mxcsr(mxcsr), saved;
  // SAFETY: reads/writes the 16-byte aligned *dst; clobbers xmm0 and the
  // restored MXCSR.
#define SKVM_FROM_INT(text)                                                               \
  asm volatile(SKVM_MXCSR_ENTER "movdqa %[d], %%xmm0\n\t" text                            \
               "\n\tmovdqa %%xmm0, %[d]" SKVM_MXCSR_LEAVE                                   \
               : [d] "+m"(*dst), [mx] "+m"(mx), [saved] "=m"(saved)                       \
               : [v] "r"(v)                                                               \
               : "xmm0")
  if (to_double) {
    if (wide) SKVM_FROM_INT("cvtsi2sdq %q[v], %%xmm0");
    else SKVM_FROM_INT("cvtsi2sdl %k[v], %%xmm0");
  } else {
    if (wide) SKVM_FROM_INT("cvtsi2ssq %q[v], %%xmm0");
    else SKVM_FROM_INT("cvtsi2ssl %k[v], %%xmm0");
  }
#undef SKVM_FROM_INT
  return mx & simd::kMxFlags;
}

uint32_t host_comi(bool is_double, bool unordered_quiet, const Xmm& a, const Xmm& b, uint32_t mxcsr,
                   uint64_t* zpc) {
  uint32_t mx = host_mxcsr(mxcsr), saved;
  uint64_t ax;
  // SAFETY: reads the aligned a and b; LAHF copies ZF/PF/CF into AH. RAX is
  // early-clobber: LAHF writes it before the MXCSR store, so no memory
  // operand may be addressed through it.
#define SKVM_COMI(text)                                                                     \
  asm volatile(SKVM_MXCSR_ENTER "movdqa %[a], %%xmm0\n\t" text                              \
               "\n\tlahf" SKVM_MXCSR_LEAVE                                                   \
               : "=&a"(ax), [mx] "+m"(mx), [saved] "=m"(saved)                               \
               : [a] "m"(a), [b] "m"(b)                                                     \
               : "xmm0", "cc")
  if (is_double) {
    if (unordered_quiet) SKVM_COMI("ucomisd %[b], %%xmm0");
    else SKVM_COMI("comisd %[b], %%xmm0");
  } else {
    if (unordered_quiet) SKVM_COMI("ucomiss %[b], %%xmm0");
    else SKVM_COMI("comiss %[b], %%xmm0");
  }
#undef SKVM_COMI
  *zpc = (ax >> 8) & (kFlagZF | kFlagPF | kFlagCF);
  return mx & simd::kMxFlags;
}

#undef SKVM_MXCSR_ENTER
#undef SKVM_MXCSR_LEAVE

}  // namespace skvm::cpu::sse
