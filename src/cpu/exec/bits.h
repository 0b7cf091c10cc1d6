// SDM Vol. 2A/2B: BT, BTS, BTR, BTC (register and immediate bit offsets,
// bit strings in memory), BSF, BSR, BSWAP; and the exchange family's
// CMPXCHG and XADD (SDM Vol. 1 7.3.1.2).
#pragma once

#include "cpu/exec/alu.h"
#include "cpu/exec/exec.h"

namespace skvm::cpu::exec {

enum class BtOp : uint8_t { kBt, kBts, kBtr, kBtc };

// Flags: CF = the selected bit; ZF unchanged; OF/SF/AF/PF "undefined":
// Intel CPUs leave them unchanged (native tests).
template <unsigned W, BtOp Op, bool Imm>
bool bt_e(Exec& x, const Insn& i) {
  constexpr unsigned bits = 8 * W;
  uint64_t v;
  uint64_t off = 0;
  unsigned bit;
  bool mem = i.pfx & kInsnMem;
  if (Imm) {
    bit = static_cast<unsigned>(i.imm) & (bits - 1);
    if (mem) off = effective_address(x, i);
  } else {
    uint64_t r = reg_get<W>(x.s, i.reg);
    if (mem) {
      // A register offset addresses a bit string: signed, any distance.
      constexpr unsigned sh = 64 - bits;
      int64_t sr = static_cast<int64_t>(r << sh) >> sh;
      int64_t unit = sr >= 0 ? sr / static_cast<int64_t>(bits) : -((-sr + bits - 1) / static_cast<int64_t>(bits));
      off = (effective_address(x, i) + static_cast<uint64_t>(unit * static_cast<int64_t>(W))) & mask_for(i.asize);
      bit = static_cast<unsigned>(static_cast<uint64_t>(sr) & (bits - 1));
    } else {
      bit = static_cast<unsigned>(r & (bits - 1));
    }
  }
  if (mem) {
    if (!seg_read<W>(x, seg_of(i), off, &v)) return false;
  } else {
    v = reg_get<W>(x.s, i.rm);
  }
  bool cf = (v >> bit) & 1;
  uint64_t nv = v;
  if constexpr (Op == BtOp::kBts) nv |= 1ull << bit;
  if constexpr (Op == BtOp::kBtr) nv &= ~(1ull << bit);
  if constexpr (Op == BtOp::kBtc) nv ^= 1ull << bit;
  if constexpr (Op != BtOp::kBt) {
    if (mem) {
      if (!seg_write<W>(x, seg_of(i), off, nv)) return false;
    } else {
      reg_set<W>(x.s, i.rm, nv);
    }
  }
  uint64_t f = x.flags();
  x.s.rflags = (f & ~kFlagCF) | (cf ? kFlagCF : 0);
  return true;
}

// BSF/BSR: ZF = (source == 0); with a zero source the destination is left
// unchanged. CF/OF/SF/AF/PF: see the native tests.
template <unsigned W, bool Reverse>
bool bsf_bsr(Exec& x, const Insn& i) {
  uint64_t v;
  if (!rm_read<W>(x, i, &v)) return false;
  uint64_t f = x.flags() & ~kFlagsArith;
  if (v == 0) {
    x.s.rflags = f | kFlagZF | kFlagPF;
    return true;
  }
  uint64_t r = Reverse ? 63 - static_cast<uint64_t>(__builtin_clzll(v)) : static_cast<uint64_t>(__builtin_ctzll(v));
  reg_set<W>(x.s, i.reg, r);
  x.s.rflags = f | parity_flag(r);
  return true;
}

// BSWAP r32/r64 (0F C8+r). With a 16-bit operand the result is undefined;
// Intel CPUs clear the low 16 bits.
template <unsigned W>
bool bswap(Exec& x, const Insn& i) {
  if constexpr (W == 8) {
    reg_set<8>(x.s, i.reg, __builtin_bswap64(x.s.gpr[i.reg]));
  } else if constexpr (W == 4) {
    reg_set<4>(x.s, i.reg, __builtin_bswap32(static_cast<uint32_t>(x.s.gpr[i.reg])));
  } else {
    reg_set<2>(x.s, i.reg, 0);
  }
  return true;
}

// CMPXCHG r/m, r: compare rAX with r/m (flags as CMP); equal: r/m = r;
// otherwise rAX = r/m. A memory destination is always written (the old
// value when unequal), as on hardware.
template <unsigned W>
bool cmpxchg(Exec& x, const Insn& i) {
  uint64_t d;
  bool mem = i.pfx & kInsnMem;
  uint64_t off = mem ? effective_address(x, i) : 0;
  if (mem) {
    if (!seg_read<W>(x, seg_of(i), off, &d)) return false;
  } else {
    d = reg_get<W>(x.s, i.rm);
  }
  uint64_t a = reg_get<W>(x.s, kRax);
  bool equal = a == d;
  uint64_t nv = equal ? reg_get<W>(x.s, i.reg) : d;
  if (mem) {
    if (!seg_write<W>(x, seg_of(i), off, nv)) return false;
  } else {
    reg_set<W>(x.s, i.rm, nv);
  }
  if (!equal) reg_set<W>(x.s, kRax, d);
  alu_compute<W, AluOp::kCmp>(x, a, d);
  return true;
}

// XADD r/m, r: r/m = r/m + r; r = old r/m (flags as ADD).
template <unsigned W>
bool xadd(Exec& x, const Insn& i) {
  uint64_t d;
  bool mem = i.pfx & kInsnMem;
  uint64_t off = mem ? effective_address(x, i) : 0;
  if (mem) {
    if (!seg_read<W>(x, seg_of(i), off, &d)) return false;
  } else {
    d = reg_get<W>(x.s, i.rm);
  }
  uint64_t s = reg_get<W>(x.s, i.reg);
  Exec::LazySave saved = x.save_lazy();
  uint64_t sum = alu_compute<W, AluOp::kAdd>(x, d, s);
  if (mem) {
    if (!seg_write<W>(x, seg_of(i), off, sum)) {
      x.restore_lazy(saved);
      return false;
    }
    reg_set<W>(x.s, i.reg, d);
  } else {
    reg_set<W>(x.s, i.reg, d);
    reg_set<W>(x.s, i.rm, sum);
  }
  return true;
}

}  // namespace skvm::cpu::exec
