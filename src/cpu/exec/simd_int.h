// Handlers for the rows of isa/opcodes_simd_int.inc: MMX and integer SIMD
// (SSE2, SSSE3, SSE4.1, SSE4.2 incl. PCMPxSTRx and CRC32).
//
// Every row names an operation (SiOp) and a register file (MMX or XMM). The
// handler template below is instantiated by dispatch.cpp for each operand
// width, but it only forwards to one out-of-line function
// (exec/simd_int_exec.cpp), so the table costs one tiny stub per row and
// the compute code is compiled once.
#pragma once

#include <cstdint>

#include "cpu/exec/exec.h"

namespace skvm::cpu::exec {

enum class SiOp : uint8_t {
  // Element-wise and lane-wise binary operations: dst = f(dst, src).
  kPaddb, kPaddw, kPaddd, kPaddq, kPsubb, kPsubw, kPsubd, kPsubq,
  kPaddsb, kPaddsw, kPaddusb, kPaddusw, kPsubsb, kPsubsw, kPsubusb, kPsubusw,
  kPmullw, kPmulhw, kPmulhuw, kPmuludq, kPmaddwd, kPavgb, kPavgw,
  kPminub, kPmaxub, kPminsw, kPmaxsw, kPsadbw,
  kPcmpeqb, kPcmpeqw, kPcmpeqd, kPcmpgtb, kPcmpgtw, kPcmpgtd,
  kPand, kPandn, kPor, kPxor,
  kPsrlw, kPsrld, kPsrlq, kPsraw, kPsrad, kPsllw, kPslld, kPsllq,
  kPacksswb, kPackssdw, kPackuswb,
  kPunpcklbw, kPunpcklwd, kPunpckldq, kPunpcklqdq,
  kPunpckhbw, kPunpckhwd, kPunpckhdq, kPunpckhqdq,
  // SSSE3
  kPshufb, kPhaddw, kPhaddd, kPhaddsw, kPhsubw, kPhsubd, kPhsubsw,
  kPmaddubsw, kPmulhrsw, kPsignb, kPsignw, kPsignd, kPabsb, kPabsw, kPabsd,
  // SSE4.1 / SSE4.2 binary
  kPmulld, kPmuldq, kPminsb, kPminsd, kPminuw, kPminud, kPmaxsb, kPmaxsd, kPmaxuw, kPmaxud,
  kPcmpeqq, kPackusdw, kPcmpgtq, kPblendvb, kPhminposuw,
  kLastBinary = kPhminposuw,
  // With imm8: dst = f(dst, src, imm8).
  kPshufw, kPshufd, kPshufhw, kPshuflw, kPalignr, kPblendw, kMpsadbw,
  kLastImm = kMpsadbw,
  // Shift by imm8 of the r/m register (groups 12/13/14).
  kPsrlwI, kPsrldI, kPsrlqI, kPsrawI, kPsradI, kPsllwI, kPslldI, kPsllqI, kPsrldqI, kPslldqI,
  // PMOVSX / PMOVZX (narrow source).
  kPmovsxbw, kPmovsxbd, kPmovsxbq, kPmovsxwd, kPmovsxwq, kPmovsxdq,
  kPmovzxbw, kPmovzxbd, kPmovzxbq, kPmovzxwd, kPmovzxwq, kPmovzxdq,
  // String compare (SSE4.2).
  kPcmpestrm, kPcmpestri, kPcmpistrm, kPcmpistri,
  // Others with their own operand shapes.
  kPinsrw, kPextrw, kPextrwM, kPextrb, kPextrd, kPinsrb, kPinsrd, kPmovmskb, kMaskmov,
  kEmms, kPtest, kMovntdqa, kCrc32b, kCrc32v,
};

// Register file of a row.
enum SiForm : uint8_t { kSiMmx, kSiXmm };

bool simd_int_exec(Exec& x, const Insn& i, SiOp op, SiForm form);

template <unsigned W, SiOp Op, SiForm F>
bool simd_int(Exec& x, const Insn& i) {
  return simd_int_exec(x, i, Op, F);
}

}  // namespace skvm::cpu::exec
