// The host processor as the SSE floating-point unit: each guest SSE
// arithmetic / conversion / compare form is executed by the same host
// instruction on the guest operands, under the guest's MXCSR rounding
// control, DAZ and FZ, with every exception masked on the host. The result
// and the exception flags it raised come back; exec/sse_arith.h then applies
// the guest's masks (#XM / #UD, destination unchanged).
//
// Non-template, compiled once (exec/sse_host.cpp): the handler templates
// instantiated in dispatch.cpp stay small.
#pragma once

#include <cstdint>

#include "cpu/exec/simd_operands.h"

namespace skvm::cpu::sse {

// Two-operand forms: dst = op(dst, src) (SDM Vol. 2 of each mnemonic).
// Forms with an imm8 (CMPxx, ROUNDxx, DPPx) take it as `imm`.
enum class FpOp : uint8_t {
  kAddps, kAddss, kAddpd, kAddsd,
  kSubps, kSubss, kSubpd, kSubsd,
  kMulps, kMulss, kMulpd, kMulsd,
  kDivps, kDivss, kDivpd, kDivsd,
  kMinps, kMinss, kMinpd, kMinsd,
  kMaxps, kMaxss, kMaxpd, kMaxsd,
  kSqrtps, kSqrtss, kSqrtpd, kSqrtsd,
  kRcpps, kRcpss, kRsqrtps, kRsqrtss,
  kAddsubps, kAddsubpd, kHaddps, kHaddpd, kHsubps, kHsubpd,
  kCmpps, kCmpss, kCmppd, kCmpsd,
  kRoundps, kRoundpd, kRoundss, kRoundsd,
  kDpps, kDppd,
  // Conversions between XMM registers.
  kCvtps2pd, kCvtpd2ps, kCvtss2sd, kCvtsd2ss,
  kCvtdq2ps, kCvtps2dq, kCvttps2dq,
  kCvtdq2pd, kCvtpd2dq, kCvttpd2dq,
  kCount,
};

// Runs `op` on the host: *dst = op(*dst, src). Returns the MXCSR exception
// flags (bits 0..5) the operation raised. `mxcsr` is the guest's MXCSR
// (only RC, DAZ, FZ are used).
uint32_t host_fp(FpOp op, simd::Xmm* dst, const simd::Xmm& src, uint32_t mxcsr, uint8_t imm);

// Scalar float -> integer (CVT[T]SS2SI / CVT[T]SD2SI, 32- or 64-bit result).
enum class ToInt : uint8_t { kCvtss2si, kCvttss2si, kCvtsd2si, kCvttsd2si };
uint32_t host_to_int(ToInt op, bool wide, const simd::Xmm& src, uint32_t mxcsr, uint64_t* out);

// Integer -> scalar float (CVTSI2SS / CVTSI2SD, 32- or 64-bit source):
// the low lane of *dst is replaced.
uint32_t host_from_int(bool to_double, bool wide, uint64_t v, simd::Xmm* dst, uint32_t mxcsr);

// COMISS / UCOMISS / COMISD / UCOMISD: *zpc receives ZF|PF|CF.
uint32_t host_comi(bool is_double, bool unordered_quiet, const simd::Xmm& a, const simd::Xmm& b,
                   uint32_t mxcsr, uint64_t* zpc);

}  // namespace skvm::cpu::sse
