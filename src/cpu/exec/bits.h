// SDM Vol. 2A/2B: BT, BTS, BTR, BTC (register and immediate bit offsets,
// bit strings in memory), BSF, BSR, BSWAP, POPCNT, TZCNT, LZCNT; and the
// exchange family's CMPXCHG, CMPXCHG8B/16B and XADD (SDM Vol. 1 7.3.1.2);
// BOUND.
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

// A guest CPUID feature bit, read from Bus::cpuid when the instruction
// executes (reg: 0..3 = EAX..EDX). Not cached: KVM_SET_CPUID may change
// the table between runs, and these forms are rare.
inline bool guest_has(Exec& x, uint32_t leaf, unsigned reg, unsigned bit) {
  uint32_t out[4] = {};
  x.cpu.bus().cpuid(leaf, 0, out);
  return (out[reg] >> bit) & 1;
}

// POPCNT (SDM Vol. 2B; F3 0F B8): #UD unless CPUID.01H:ECX.POPCNT[23].
// ZF = (source == 0); OF/SF/AF/CF/PF cleared.
template <unsigned W>
bool popcnt(Exec& x, const Insn& i) {
  if (!guest_has(x, 1, 2, 23)) return raise(x.cpu, kUD);
  uint64_t v;
  if (!rm_read<W>(x, i, &v)) return false;
  uint64_t f = x.flags() & ~kFlagsArith;
  reg_set<W>(x.s, i.reg, static_cast<uint64_t>(__builtin_popcountll(v)));
  x.s.rflags = f | (v == 0 ? kFlagZF : 0);
  return true;
}

// TZCNT (F3 0F BC, CPUID.(EAX=07H,ECX=0):EBX.BMI1[3]) and LZCNT (F3 0F BD,
// CPUID.80000001H:ECX.ABM[5]) (SDM Vol. 2A/2B). Without the feature the
// F3 prefix is ignored and the instruction is BSF/BSR, as on older CPUs.
// CF = (source == 0), ZF = (result == 0); a zero source gives the operand
// width. OF/SF/AF/PF ("undefined") are cleared as on the host CPU.
template <unsigned W, bool Lz>
bool tzcnt_lzcnt(Exec& x, const Insn& i) {
  if (!(Lz ? guest_has(x, 0x80000001u, 2, 5) : guest_has(x, 7, 1, 3))) return bsf_bsr<W, Lz>(x, i);
  uint64_t v;
  if (!rm_read<W>(x, i, &v)) return false;
  uint64_t f = x.flags() & ~kFlagsArith;
  uint64_t r = 8 * W;
  if (v != 0) {
    r = Lz ? static_cast<uint64_t>(__builtin_clzll(v)) - (64 - 8 * W) : static_cast<uint64_t>(__builtin_ctzll(v));
  }
  reg_set<W>(x.s, i.reg, r);
  x.s.rflags = f | (v == 0 ? kFlagCF : 0) | (r == 0 ? kFlagZF : 0);
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
  } else if (equal) {
    // A register destination is written only when equal: when unequal a
    // 32-bit one keeps its upper half (host CPU; found by tests/fuzz,
    // regression guest tests/guest/regress/cmpxchg_r32_unequal.asm).
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

// CMPXCHG8B m64 / CMPXCHG16B m128 (SDM Vol. 2A; 0F C7 /1, REX.W selects
// 16B). EDX:EAX (RDX:RAX) is compared with the memory operand: equal,
// ZF=1 and ECX:EBX (RCX:RBX) is stored; otherwise ZF=0, the old value is
// written back (as the hardware's locked cycle does) and loaded into
// EDX:EAX (RDX:RAX). Other flags are unchanged. CMPXCHG16B needs
// CPUID.01H:ECX.CX16[13] (#UD otherwise) and a 16-byte aligned operand
// (#GP(0)); being aligned, its two halves are on one page.
template <unsigned W>
bool cmpxchg8b(Exec& x, const Insn& i) {
  if (!(i.pfx & kInsnMem)) return raise(x.cpu, kUD);
  constexpr bool k16 = W == 8;
  constexpr unsigned half = k16 ? 8 : 4;
  if (k16 && !guest_has(x, 1, 2, 13)) return raise(x.cpu, kUD);
  const uint64_t off = effective_address(x, i);
  const uint64_t am = mask_for(i.asize);
  if (k16 && (off & 15) != 0) return raise(x.cpu, kGP, 0);
  uint64_t lo, hi;
  if (!seg_read<half>(x, seg_of(i), off, &lo) || !seg_read<half>(x, seg_of(i), (off + half) & am, &hi)) return false;
  const bool equal = lo == reg_get<half>(x.s, kRax) && hi == reg_get<half>(x.s, kRdx);
  const uint64_t new_lo = equal ? reg_get<half>(x.s, kRbx) : lo;
  const uint64_t new_hi = equal ? reg_get<half>(x.s, kRcx) : hi;
  if constexpr (k16) {
    if (!seg_write<8>(x, seg_of(i), off, new_lo) || !seg_write<8>(x, seg_of(i), (off + 8) & am, new_hi)) return false;
  } else {
    if (!seg_write<8>(x, seg_of(i), off, new_lo | (new_hi << 32))) return false;
  }
  uint64_t f = x.flags();
  if (equal) {
    x.s.rflags = f | kFlagZF;
  } else {
    x.s.rflags = f & ~kFlagZF;
    reg_set<half>(x.s, kRax, lo);
    reg_set<half>(x.s, kRdx, hi);
  }
  return true;
}

// BOUND r, m16&16 / m32&32 (SDM Vol. 2A; 62, invalid in 64-bit mode): #BR
// when the signed index is below the lower or above the upper bound.
template <unsigned W>
bool bound(Exec& x, const Insn& i) {
  if (!(i.pfx & kInsnMem)) return raise(x.cpu, kUD);
  constexpr unsigned w = W == 2 ? 2 : 4;
  const uint64_t off = effective_address(x, i);
  uint64_t lower, upper;
  if (!seg_read<w>(x, seg_of(i), off, &lower) || !seg_read<w>(x, seg_of(i), (off + w) & mask_for(i.asize), &upper))
    return false;
  auto sx = [](uint64_t v) { return static_cast<int64_t>(v << (64 - 8 * w)) >> (64 - 8 * w); };
  const int64_t index = sx(reg_get<w>(x.s, i.reg));
  if (index < sx(lower) || index > sx(upper)) return raise(x.cpu, kBR);
  return true;
}

}  // namespace skvm::cpu::exec
