// Operand plumbing of the integer SIMD rows (isa/opcodes_simd_int.inc):
// availability gates, register / memory operands of the MMX and XMM forms,
// then the pure compute of exec/simd_int_compute.cpp.
// SDM Vol. 1 ch. 9 (MMX), 11.4.3 (SSE2 integer), 12.3-12.10 (SSSE3, SSE4.1,
// SSE4.2); Vol. 2 per instruction for operand sizes, alignment and faults.
#include "cpu/exec/simd_int.h"

#include <cstring>

#include "cpu/exec/simd_int_compute.h"
#include "cpu/exec/simd_operands.h"

namespace skvm::cpu::exec {
namespace {

using simd::Xmm;

// The register operand (ModRM.reg) of the form.
Xmm reg_vec(const CpuState& s, const Insn& i, bool mmx) {
  if (!mmx) return simd::xmm_get(s, i.reg);
  Xmm v{};
  v.set_q(0, simd::mm_get(s, simd::mm_index(i.reg)));
  return v;
}
void set_reg_vec(CpuState& s, const Insn& i, bool mmx, const Xmm& v) {
  if (mmx) {
    simd::mm_set(s, simd::mm_index(i.reg), v.q(0));
  } else {
    simd::xmm_set(s, i.reg, v);
  }
}
// The r/m register operand (mod = 3).
Xmm rm_reg_vec(const CpuState& s, const Insn& i, bool mmx) {
  if (!mmx) return simd::xmm_get(s, i.rm);
  Xmm v{};
  v.set_q(0, simd::mm_get(s, simd::mm_index(i.rm)));
  return v;
}
void set_rm_reg_vec(CpuState& s, const Insn& i, bool mmx, const Xmm& v) {
  if (mmx) {
    simd::mm_set(s, simd::mm_index(i.rm), v.q(0));
  } else {
    simd::xmm_set(s, i.rm, v);
  }
}
// The r/m operand: a register, or `size` bytes of memory (zero-extended).
bool rm_vec(Exec& x, const Insn& i, bool mmx, Xmm* v, unsigned size, bool align) {
  if (!(i.pfx & kInsnMem)) {
    *v = rm_reg_vec(x.s, i, mmx);
    return true;
  }
  std::memset(v->b, 0, sizeof v->b);
  return simd::simd_read_mem(x, i, v->b, size, align);
}

// Memory operand size of the two-operand forms: the whole register, except
// the MMX PUNPCKL* forms, which read m32 (SDM Vol. 2B PUNPCKLBW).
unsigned binary_mem_size(SiOp op, bool mmx) {
  if (mmx && (op == SiOp::kPunpcklbw || op == SiOp::kPunpcklwd || op == SiOp::kPunpckldq)) return 4;
  return mmx ? 8 : 16;
}

bool crc32(Exec& x, const Insn& i, bool byte_src) {
  uint64_t v;
  unsigned bytes = byte_src ? 1 : i.osize;
  bool ok = false;
  switch (bytes) {
    case 1: ok = rm_read<1>(x, i, &v); break;
    case 2: ok = rm_read<2>(x, i, &v); break;
    case 4: ok = rm_read<4>(x, i, &v); break;
    default: ok = rm_read<8>(x, i, &v); break;
  }
  if (!ok) return false;
  // The destination is r32/r64 even in the byte form, whose decoding maps
  // ModRM.reg 4..7 to AH..BH without REX: undo that.
  uint8_t dst = i.reg >= kHighByteReg ? static_cast<uint8_t>(i.reg - kHighByteReg + 4) : i.reg;
  uint32_t crc = simd::si_crc32(static_cast<uint32_t>(x.s.gpr[dst]), v, bytes);
  x.s.gpr[dst] = crc;  // r32 writes zero-extend; r64 gets the zero-extended CRC
  return true;
}

// EMMS: CR0.EM -> #UD, CR0.TS -> #NM, pending x87 error -> #MF; then every
// tag empty (SDM Vol. 2A EMMS). TOP is left alone.
bool emms(Exec& x) {
  if (x.s.cr0 & kCr0EM) return raise(x.cpu, kUD);
  if (x.s.cr0 & kCr0TS) return raise(x.cpu, kNM);
  uint16_t fsw;
  std::memcpy(&fsw, x.s.fxsave.data() + simd::kFxFsw, 2);
  if (fsw & 0x80) return raise(x.cpu, kMF);
  simd::mmx_empty(x.s);
  return true;
}

// MASKMOVQ / MASKMOVDQU: bytes of reg whose mask byte (r/m) has bit 7 set
// are stored at DS:rDI (segment override allowed) (SDM Vol. 2B MASKMOVQ).
bool maskmov(Exec& x, const Insn& i, bool mmx) {
  unsigned n = mmx ? 8 : 16;
  Xmm data = reg_vec(x.s, i, mmx), mask = rm_reg_vec(x.s, i, mmx);
  uint64_t am = mask_for(i.asize);
  uint64_t base = x.s.gpr[kRdi] & am;
  for (unsigned k = 0; k < n; ++k) {
    if (!(mask.b[k] & 0x80)) continue;
    if (!write_mem(x.cpu, seg_of(i), (base + k) & am, &data.b[k], 1)) return false;
  }
  return true;
}

// PCMPESTRI/PCMPESTRM/PCMPISTRI/PCMPISTRM (SDM Vol. 2B): unaligned m128.
bool pcmpstr(Exec& x, const Insn& i, SiOp op) {
  Xmm a = simd::xmm_get(x.s, i.reg), b;
  if (!rm_vec(x, i, false, &b, 16, false)) return false;
  const uint8_t imm = static_cast<uint8_t>(i.imm);
  bool explicit_len = op == SiOp::kPcmpestri || op == SiOp::kPcmpestrm;
  unsigned la, lb;
  if (explicit_len) {
    bool w = i.osize == 8;  // REX.W: RAX/RDX
    la = simd::si_str_len_explicit(x.s.gpr[kRax], w, imm);
    lb = simd::si_str_len_explicit(x.s.gpr[kRdx], w, imm);
  } else {
    la = simd::si_str_len(a, imm);
    lb = simd::si_str_len(b, imm);
  }
  simd::StrResult r = simd::si_pcmpstr(a, b, la, lb, imm);
  const unsigned ne = (imm & 1) ? 8 : 16;
  if (op == SiOp::kPcmpestri || op == SiOp::kPcmpistri) {
    unsigned idx = ne;
    if (r.int_res2 != 0)
      idx = (imm & 0x40) ? 31u - static_cast<unsigned>(__builtin_clz(r.int_res2))
                         : static_cast<unsigned>(__builtin_ctz(r.int_res2));
    x.s.gpr[kRcx] = idx;  // ECX (zero-extended) or RCX
  } else {
    Xmm m{};
    if (imm & 0x40) {
      unsigned es = 16 / ne;
      for (unsigned k = 0; k < ne; ++k)
        if ((r.int_res2 >> k) & 1) std::memset(m.b + es * k, 0xff, es);
    } else {
      m.b[0] = static_cast<uint8_t>(r.int_res2);
      m.b[1] = static_cast<uint8_t>(r.int_res2 >> 8);
    }
    simd::xmm_set(x.s, 0, m);
  }
  x.set_arith_flags(r.flags);
  return true;
}

// PINSRW/PINSRB/PINSRD/PINSRQ: a GPR (low bits) or memory into one element.
bool pinsr(Exec& x, const Insn& i, SiOp op, bool mmx) {
  unsigned es = op == SiOp::kPinsrw ? 2 : op == SiOp::kPinsrb ? 1 : (i.osize == 8 ? 8 : 4);
  uint64_t v = 0;
  if (i.pfx & kInsnMem) {
    if (!simd::simd_read_mem(x, i, &v, es)) return false;
  } else {
    v = x.s.gpr[i.rm];
  }
  unsigned ne = (mmx ? 8 : 16) / es;
  unsigned k = static_cast<unsigned>(i.imm) & (ne - 1);
  Xmm d = reg_vec(x.s, i, mmx);
  std::memcpy(d.b + k * es, &v, es);
  set_reg_vec(x.s, i, mmx, d);
  return true;
}

// PEXTRB/PEXTRW (0F 3A 15)/PEXTRD/PEXTRQ: one element of the XMM register
// (ModRM.reg) to a GPR (zero-extended) or memory.
bool pextr(Exec& x, const Insn& i, SiOp op) {
  unsigned es = op == SiOp::kPextrwM ? 2 : op == SiOp::kPextrb ? 1 : (i.osize == 8 ? 8 : 4);
  Xmm s = simd::xmm_get(x.s, i.reg);
  unsigned k = static_cast<unsigned>(i.imm) & (16 / es - 1);
  uint64_t v = 0;
  std::memcpy(&v, s.b + k * es, es);
  if (i.pfx & kInsnMem) return simd::simd_write_mem(x, i, &v, es);
  x.s.gpr[i.rm] = v;
  return true;
}

}  // namespace

bool simd_int_exec(Exec& x, const Insn& i, SiOp op, SiForm form) {
  if (op == SiOp::kCrc32b || op == SiOp::kCrc32v) return crc32(x, i, op == SiOp::kCrc32b);
  if (op == SiOp::kEmms) return emms(x);
  const bool mmx = form == kSiMmx;
  if (mmx ? !simd::mmx_gate(x) : !simd::sse_gate(x)) return false;
  const unsigned n = mmx ? 8 : 16;
  const uint8_t imm = static_cast<uint8_t>(i.imm);

  if (op <= SiOp::kLastImm) {
    Xmm s;
    if (!rm_vec(x, i, mmx, &s, binary_mem_size(op, mmx), !mmx)) return false;
    Xmm d = reg_vec(x.s, i, mmx);
    Xmm x0{};
    if (op == SiOp::kPblendvb) x0 = simd::xmm_get(x.s, 0);
    simd::si_binary(op, d, s, n, x0, imm);
    set_reg_vec(x.s, i, mmx, d);
    return true;
  }
  switch (op) {
    case SiOp::kPsrlwI: case SiOp::kPsrldI: case SiOp::kPsrlqI: case SiOp::kPsrawI: case SiOp::kPsradI:
    case SiOp::kPsllwI: case SiOp::kPslldI: case SiOp::kPsllqI: case SiOp::kPsrldqI: case SiOp::kPslldqI: {
      Xmm d = rm_reg_vec(x.s, i, mmx);
      simd::si_shift_imm(op, d, n, imm);
      set_rm_reg_vec(x.s, i, mmx, d);
      return true;
    }
    case SiOp::kPmovsxbw: case SiOp::kPmovsxbd: case SiOp::kPmovsxbq: case SiOp::kPmovsxwd:
    case SiOp::kPmovsxwq: case SiOp::kPmovsxdq: case SiOp::kPmovzxbw: case SiOp::kPmovzxbd:
    case SiOp::kPmovzxbq: case SiOp::kPmovzxwd: case SiOp::kPmovzxwq: case SiOp::kPmovzxdq: {
      Xmm s, d{};
      if (!rm_vec(x, i, false, &s, simd::si_pmovx_src_bytes(op), false)) return false;
      simd::si_pmovx(op, d, s);
      simd::xmm_set(x.s, i.reg, d);
      return true;
    }
    case SiOp::kPcmpestrm: case SiOp::kPcmpestri: case SiOp::kPcmpistrm: case SiOp::kPcmpistri:
      return pcmpstr(x, i, op);
    case SiOp::kPinsrw: case SiOp::kPinsrb: case SiOp::kPinsrd:
      return pinsr(x, i, op, mmx);
    case SiOp::kPextrwM: case SiOp::kPextrb: case SiOp::kPextrd:
      return pextr(x, i, op);
    case SiOp::kPextrw: {
      Xmm s = rm_reg_vec(x.s, i, mmx);
      unsigned k = imm & (mmx ? 3 : 7);
      x.s.gpr[i.reg] = static_cast<uint64_t>(s.b[2 * k]) | (static_cast<uint64_t>(s.b[2 * k + 1]) << 8);
      return true;
    }
    case SiOp::kPmovmskb: {
      Xmm s = rm_reg_vec(x.s, i, mmx);
      uint64_t m = 0;
      for (unsigned k = 0; k < n; ++k) m |= static_cast<uint64_t>(s.b[k] >> 7) << k;
      x.s.gpr[i.reg] = m;
      return true;
    }
    case SiOp::kMaskmov: return maskmov(x, i, mmx);
    case SiOp::kPtest: {
      Xmm s;
      if (!rm_vec(x, i, false, &s, 16, true)) return false;
      Xmm d = simd::xmm_get(x.s, i.reg);
      uint64_t and_ = (d.q(0) & s.q(0)) | (d.q(1) & s.q(1));
      uint64_t andn = (~d.q(0) & s.q(0)) | (~d.q(1) & s.q(1));
      x.set_arith_flags((and_ == 0 ? kFlagZF : 0) | (andn == 0 ? kFlagCF : 0));
      return true;
    }
    case SiOp::kMovntdqa: {
      Xmm v;
      if (!simd::simd_read_mem(x, i, v.b, 16, true)) return false;
      simd::xmm_set(x.s, i.reg, v);
      return true;
    }
    default: break;
  }
  return raise(x.cpu, kUD);
}

}  // namespace skvm::cpu::exec
