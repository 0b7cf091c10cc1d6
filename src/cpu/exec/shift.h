// SDM Vol. 2B: ROL/ROR/RCL/RCR/SHL/SAL/SHR/SAR (group 2), SHLD/SHRD. Flags are exact,
// including what Intel CPUs produce for the "undefined" ones (checked
// against the host CPU in tests/unit/cpu/exec_native_test.cpp).
#pragma once

#include "cpu/exec/exec.h"

namespace skvm::cpu::exec {

enum class ShOp : uint8_t { kRol, kRor, kRcl, kRcr, kShl, kShr, kSar };
enum class Count : uint8_t { kOne, kCl, kImm };

// Returns false when the masked count is 0 (destination and flags unchanged).
// OF for counts > 1 and AF are "undefined" in the SDM; Intel CPUs compute OF
// with the count-1 formula from the original operand (and CF) whatever the
// count, clear AF on shifts, and leave all flags alone for an RCL/RCR whose
// count is a whole turn (9 or 17 for 8/16-bit).
// imm_form: the count came from an immediate and the operand is a register.
// Intel CPUs leave OF unchanged for ROL/ROR reg, imm8 when the count is not 1;
// the CL forms and the memory forms with an imm8 compute it (found by the
// differential fuzzer against the host CPU, tests/fuzz; regression guest
// tests/guest/regress/rotate_mem_imm_of.asm).
template <unsigned W, ShOp Op>
inline bool shift_compute(uint64_t a, unsigned count_raw, uint64_t flags_in, uint64_t* out, uint64_t* flags,
                          bool imm_form = false) {
  constexpr unsigned bits = 8 * W;
  constexpr uint64_t m = kMask<W>;
  unsigned c = count_raw & (W == 8 ? 0x3f : 0x1f);
  if (c == 0) return false;
  a &= m;
  uint64_t r = 0;
  bool cf = false, of = false;
  uint64_t f = flags_in;
  bool cin = flags_in & kFlagCF;
  auto msb = [](uint64_t v) { return ((v >> (bits - 1)) & 1) != 0; };
  switch (Op) {
    case ShOp::kRol: {
      unsigned k = c % bits;
      r = k ? ((a << k) | (a >> (bits - k))) & m : a;
      cf = r & 1;
      of = msb(a) ^ ((a >> (bits - 2)) & 1);  // Intel: the count-1 formula for any count
      if (imm_form && c != 1) of = flags_in & kFlagOF;
      f = (f & ~(kFlagCF | kFlagOF)) | (cf ? kFlagCF : 0) | (of ? kFlagOF : 0);
      break;
    }
    case ShOp::kRor: {
      unsigned k = c % bits;
      r = k ? ((a >> k) | (a << (bits - k))) & m : a;
      cf = msb(r);
      of = (a & 1) ^ msb(a);  // Intel: the count-1 formula for any count
      if (imm_form && c != 1) of = flags_in & kFlagOF;
      f = (f & ~(kFlagCF | kFlagOF)) | (cf ? kFlagCF : 0) | (of ? kFlagOF : 0);
      break;
    }
    case ShOp::kRcl: {
      unsigned k = W == 1 ? c % 9 : W == 2 ? c % 17 : c;
      if (k == 0) return false;  // Intel: a whole-turn rotate leaves the flags
      r = a;
      cf = cin;
      for (unsigned n = 0; n < k; ++n) {
        bool out_bit = msb(r);
        r = ((r << 1) | (cf ? 1 : 0)) & m;
        cf = out_bit;
      }
      of = msb(a) ^ ((a >> (bits - 2)) & 1);
      f = (f & ~(kFlagCF | kFlagOF)) | (cf ? kFlagCF : 0) | (of ? kFlagOF : 0);
      break;
    }
    case ShOp::kRcr: {
      unsigned k = W == 1 ? c % 9 : W == 2 ? c % 17 : c;
      if (k == 0) return false;
      r = a;
      cf = cin;
      for (unsigned n = 0; n < k; ++n) {
        bool out_bit = r & 1;
        r = (r >> 1) | (cf ? kSign<W> : 0);
        cf = out_bit;
      }
      of = msb(a) ^ cin;
      f = (f & ~(kFlagCF | kFlagOF)) | (cf ? kFlagCF : 0) | (of ? kFlagOF : 0);
      break;
    }
    case ShOp::kShl: {
      r = c < 64 ? (a << c) & m : 0;
      cf = c <= bits ? (a >> (bits - c)) & 1 : false;
      of = msb(a) ^ ((a >> (bits - 2)) & 1);
      f = (f & ~kFlagsArith) | Exec::szp(r, W) | (cf ? kFlagCF : 0) | (of ? kFlagOF : 0);
      break;
    }
    case ShOp::kShr: {
      r = c < 64 ? a >> c : 0;
      cf = c <= bits ? (a >> (c - 1)) & 1 : false;
      of = msb(a);
      f = (f & ~kFlagsArith) | Exec::szp(r, W) | (cf ? kFlagCF : 0) | (of ? kFlagOF : 0);
      break;
    }
    case ShOp::kSar: {
      int64_t sa = static_cast<int64_t>(a << (64 - bits)) >> (64 - bits);
      unsigned k = c < bits ? c : bits - 1;
      r = static_cast<uint64_t>(sa >> k) & m;
      cf = c < bits ? (static_cast<uint64_t>(sa) >> (c - 1)) & 1 : (sa < 0);
      f = (f & ~kFlagsArith) | Exec::szp(r, W) | (cf ? kFlagCF : 0);
      break;
    }
  }
  *out = r;
  *flags = f;
  return true;
}

// The E-operand frame shared by the shift families: read r/m, compute
// (which returns false when the masked count is 0: destination and flags
// unchanged), write r/m back, then commit the flags — nothing is committed
// before the last faulting access.
template <unsigned W, typename Compute>
bool shift_rm(Exec& x, const Insn& i, Compute compute) {
  bool mem = i.pfx & kInsnMem;
  uint64_t a, off = 0;
  if (mem) {
    off = effective_address(x, i);
    if (!seg_read<W>(x, seg_of(i), off, &a)) return false;
  } else {
    a = reg_get<W>(x.s, i.rm);
  }
  uint64_t r, f;
  // Rotates keep SF/ZF/PF/AF: they need the materialized flags.
  if (!compute(a, x.flags(), &r, &f)) {
    // A count of 0 still writes a 32-bit register (zero-extension), and a
    // memory destination is still written back: a read-only one faults as
    // on the host CPU (#GP for a CS override, #PF on a read-only page) and
    // as KVM's emulator, which writes the unchanged value back (found by
    // tests/fuzz; regression guest tests/guest/regress/shift_count0_cs_write.asm).
    if (mem) return seg_write<W>(x, seg_of(i), off, a);
    if constexpr (W == 4) reg_set<4>(x.s, i.rm, a);
    return true;
  }
  if (mem) {
    if (!seg_write<W>(x, seg_of(i), off, r)) return false;
  } else {
    reg_set<W>(x.s, i.rm, r);
  }
  x.s.rflags = f;
  return true;
}

template <unsigned W, ShOp Op, Count C>
bool shift_e(Exec& x, const Insn& i) {
  unsigned count = C == Count::kOne ? 1 : C == Count::kCl ? static_cast<unsigned>(x.s.gpr[kRcx] & 0xff)
                                                          : static_cast<unsigned>(i.imm);
  return shift_rm<W>(x, i, [&](uint64_t a, uint64_t flags_in, uint64_t* r, uint64_t* f) {
    return shift_compute<W, Op>(a, count, flags_in, r, f, C == Count::kImm && !(i.pfx & kInsnMem));
  });
}

// SHLD/SHRD (SDM Vol. 2B): the count is masked to 5 bits (6 with REX.W); a
// masked count of 0 leaves the destination and the flags. For a 16-bit
// operand and a count of 16..31 (result "undefined") Intel CPUs shift the
// 48-bit value dest:src:dest; OF is the count-1 formula on the original
// operands for every count and AF is cleared (both "undefined"; checked
// natively in tests/unit/cpu/exec_isa3_native_test.cpp).
template <unsigned W, bool Right>
inline bool double_shift_compute(uint64_t d, uint64_t src, unsigned count_raw, uint64_t flags_in, uint64_t* out,
                                 uint64_t* flags) {
  constexpr unsigned bits = 8 * W;
  constexpr uint64_t m = kMask<W>;
  unsigned c = count_raw & (W == 8 ? 0x3f : 0x1f);
  if (c == 0) return false;
  d &= m;
  src &= m;
  uint64_t r;
  bool cf;
  if constexpr (W == 2) {
    uint64_t v = (d << 32) | (src << 16) | d;  // 48 bits
    if constexpr (Right) {
      r = (v >> c) & m;
      cf = (v >> (c - 1)) & 1;
    } else {
      r = (v >> (32 - c)) & m;
      cf = (v >> (48 - c)) & 1;
    }
  } else {
    if constexpr (Right) {
      r = ((d >> c) | (src << (bits - c))) & m;
      cf = (d >> (c - 1)) & 1;
    } else {
      r = ((d << c) | (src >> (bits - c))) & m;
      cf = (d >> (bits - c)) & 1;
    }
  }
  // Count-1 formula: SHLD compares the top two bits of the destination,
  // SHRD its top bit with the source bit shifted in.
  bool of = Right ? (((d >> (bits - 1)) ^ src) & 1) : (((d >> (bits - 1)) ^ (d >> (bits - 2))) & 1);
  *out = r;
  *flags = (flags_in & ~kFlagsArith) | Exec::szp(r, W) | (cf ? kFlagCF : 0) | (of ? kFlagOF : 0);
  return true;
}

template <unsigned W, bool Right, Count C>
bool double_shift(Exec& x, const Insn& i) {
  unsigned count = C == Count::kCl ? static_cast<unsigned>(x.s.gpr[kRcx] & 0xff) : static_cast<unsigned>(i.imm);
  return shift_rm<W>(x, i, [&](uint64_t a, uint64_t flags_in, uint64_t* r, uint64_t* f) {
    return double_shift_compute<W, Right>(a, reg_get<W>(x.s, i.reg), count, flags_in, r, f);
  });
}

}  // namespace skvm::cpu::exec
