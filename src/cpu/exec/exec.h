// What every instruction handler sees: the Exec context (architectural
// state, lazy flags, the stop a handler requests) and the operand helpers
// (registers by width, effective addresses, r/m operands, the stack).
// Header-only and inline: handlers are templates instantiated in
// exec/dispatch.cpp from isa/opcodes.inc.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "cpu/core.h"
#include "cpu/cpu.h"
#include "cpu/decode/insn.h"
#include "cpu/mmu/access.h"
#include "cpu/state.h"

namespace skvm::cpu {

// The operation that produced the arithmetic flags, kept instead of the
// flags themselves (lazy flags). kNone: state().rflags holds them exactly.
enum class FlagOp : uint8_t { kNone, kAdd, kAdc, kSub, kSbb, kLogic, kInc, kDec };

template <unsigned W>
inline constexpr uint64_t kMask = W >= 8 ? ~0ull : (1ull << (8 * W)) - 1;
template <unsigned W>
inline constexpr uint64_t kSign = 1ull << (8 * W - 1);

inline uint64_t mask_for(unsigned w) { return w >= 8 ? ~0ull : (1ull << (8 * w)) - 1; }
inline uint64_t parity_flag(uint64_t v) {
  return __builtin_parity(static_cast<unsigned>(v & 0xff)) ? 0 : kFlagPF;
}

class Exec {
 public:
  explicit Exec(Cpu& c) : cpu(c), s(c.state()) {}

  Cpu& cpu;
  CpuState& s;

  // ---- Lazy flags (SDM Vol. 1 3.4.3.1) ----
  uint64_t res = 0, src_a = 0, src_b = 0;  // masked to the width
  FlagOp op = FlagOp::kNone;
  uint8_t size = 1;
  bool carry_in = false;  // ADC/SBB carry in; INC/DEC preserved CF

  void set_lazy(FlagOp o, unsigned w, uint64_t a, uint64_t b, uint64_t r, bool cin = false) {
    op = o;
    size = static_cast<uint8_t>(w);
    src_a = a;
    src_b = b;
    res = r;
    carry_in = cin;
  }

  struct LazySave {
    uint64_t res, a, b;
    FlagOp op;
    uint8_t size;
    bool cin;
  };
  LazySave save_lazy() const { return {res, src_a, src_b, op, size, carry_in}; }
  void restore_lazy(const LazySave& l) {
    res = l.res;
    src_a = l.a;
    src_b = l.b;
    op = l.op;
    size = l.size;
    carry_in = l.cin;
  }

  [[gnu::always_inline]] inline bool cf() const {
    switch (op) {
      case FlagOp::kNone: return s.rflags & kFlagCF;
      case FlagOp::kAdd: return res < src_a;
      case FlagOp::kAdc: return res < src_a || (carry_in && res == src_a);
      case FlagOp::kSub: return src_a < src_b;
      case FlagOp::kSbb: return src_a < src_b || (carry_in && src_a == src_b);
      case FlagOp::kLogic: return false;
      case FlagOp::kInc:
      case FlagOp::kDec: return carry_in;
    }
    return false;
  }
  [[gnu::always_inline]] inline bool zf() const { return op == FlagOp::kNone ? (s.rflags & kFlagZF) != 0 : res == 0; }
  [[gnu::always_inline]] inline bool sf() const {
    return op == FlagOp::kNone ? (s.rflags & kFlagSF) != 0 : (res >> (8 * size - 1)) & 1;
  }
  [[gnu::always_inline]] inline bool of() const {
    unsigned top = 8 * size - 1;
    switch (op) {
      case FlagOp::kNone: return s.rflags & kFlagOF;
      case FlagOp::kAdd:
      case FlagOp::kAdc:
      case FlagOp::kInc: return (((src_a ^ res) & (src_b ^ res)) >> top) & 1;
      case FlagOp::kSub:
      case FlagOp::kSbb:
      case FlagOp::kDec: return (((src_a ^ src_b) & (src_a ^ res)) >> top) & 1;
      case FlagOp::kLogic: return false;
    }
    return false;
  }
  [[gnu::always_inline]] inline bool pf() const { return op == FlagOp::kNone ? (s.rflags & kFlagPF) != 0 : parity_flag(res) != 0; }
  [[gnu::always_inline]] inline bool af() const {
    if (op == FlagOp::kNone) return s.rflags & kFlagAF;
    if (op == FlagOp::kLogic) return false;
    return ((src_a ^ src_b ^ res) >> 4) & 1;
  }

  // Makes state().rflags exact and returns it.
  uint64_t flags() {
    if (op != FlagOp::kNone) {
      uint64_t f = s.rflags & ~kFlagsArith;
      f |= (cf() ? kFlagCF : 0) | parity_flag(res) | (af() ? kFlagAF : 0) | (res == 0 ? kFlagZF : 0) |
           (sf() ? kFlagSF : 0) | (of() ? kFlagOF : 0);
      s.rflags = f;
      op = FlagOp::kNone;
    }
    return s.rflags;
  }
  // Replaces the arithmetic flags with exact values.
  void set_arith_flags(uint64_t f) {
    op = FlagOp::kNone;
    s.rflags = (s.rflags & ~kFlagsArith) | (f & kFlagsArith);
  }
  // Result flags of a logic-like result (SF/ZF/PF from r, CF/OF/AF given).
  static uint64_t szp(uint64_t r, unsigned w) {
    r &= mask_for(w);
    return parity_flag(r) | (r == 0 ? kFlagZF : 0) | (((r >> (8 * w - 1)) & 1) ? kFlagSF : 0);
  }

  // Condition codes (SDM Vol. 2 Appendix B.1), cc = low nibble of Jcc.
  [[gnu::always_inline]] inline bool cond(unsigned cc) const {
    bool r;
    switch (cc >> 1) {
      case 0: r = of(); break;
      case 1: r = cf(); break;
      case 2: r = zf(); break;
      case 3: r = cf() || zf(); break;
      case 4: r = sf(); break;
      case 5: r = pf(); break;
      case 6: r = sf() != of(); break;
      default: r = zf() || (sf() != of()); break;
    }
    return (cc & 1) ? !r : r;
  }

  // ---- Stops requested by handlers ----
  // A handler that ends the run (HLT, an I/O exit, an unimplemented form)
  // records it here and returns false. retire: RIP stays after the
  // instruction (HLT); otherwise the loop rolls RIP back to its start.
  bool stop_pending = false;
  bool stop_retire = false;
  Stop stop = Stop::kHlt;
  bool request_stop(Stop why, bool retire) {
    stop_pending = true;
    stop_retire = retire;
    stop = why;
    return false;
  }

  // ---- Port I/O completion ----
  // Set while the run loop re-executes an instruction whose I/O exit the
  // client has completed (IN data is at Bus::pio_page()).
  bool io_done = false;
  uint32_t io_count = 0;   // elements of the exit being completed
  // Set by handlers that start an I/O exit: the run loop keeps a copy of
  // the record and completes it on the next run().
  bool io_started = false;

  // Raised by a handler that changed system state (mode, paging): chained
  // successors must not be followed.
  bool sys_changed = false;
};

// ---- Registers ----
template <unsigned W>
inline uint64_t reg_get(const CpuState& s, uint8_t r) {
  if constexpr (W == 1) {
    if (r >= kHighByteReg) return (s.gpr[r - kHighByteReg] >> 8) & 0xff;
    return s.gpr[r] & 0xff;
  } else {
    return s.gpr[r] & kMask<W>;
  }
}
template <unsigned W>
inline void reg_set(CpuState& s, uint8_t r, uint64_t v) {
  if constexpr (W == 1) {
    if (r >= kHighByteReg) {
      uint64_t& g = s.gpr[r - kHighByteReg];
      g = (g & ~0xff00ull) | ((v & 0xff) << 8);
    } else {
      s.gpr[r] = (s.gpr[r] & ~0xffull) | (v & 0xff);
    }
  } else if constexpr (W == 2) {
    s.gpr[r] = (s.gpr[r] & ~0xffffull) | (v & 0xffff);
  } else if constexpr (W == 4) {
    s.gpr[r] = v & 0xffffffffull;  // 32-bit writes zero-extend (SDM Vol. 1 3.4.1.1)
  } else {
    s.gpr[r] = v;
  }
}
// Register write by a run-time width (address-size counters: RCX/RSI/RDI).
inline void reg_set_w(CpuState& s, uint8_t r, uint64_t v, unsigned w) {
  switch (w) {
    case 2: reg_set<2>(s, r, v); break;
    case 4: reg_set<4>(s, r, v); break;
    default: reg_set<8>(s, r, v); break;
  }
}

// ---- Memory operands ----
inline uint64_t effective_address(const Exec& x, const Insn& i) {
  uint64_t a = static_cast<uint64_t>(static_cast<int64_t>(i.disp));
  if (i.base == kRipReg) {
    a += x.s.rip;  // RIP already points after the instruction
  } else if (i.base != kNoReg) {
    a += x.s.gpr[i.base];
  }
  if (i.index != kNoReg) a += x.s.gpr[i.index] << i.scale;
  return a & mask_for(i.asize);
}
inline SegReg seg_of(const Insn& i) { return static_cast<SegReg>(i.seg); }

// 64-bit mode data access without FS/GS, canonical, no alignment checking
// (RFLAGS.AC clear): the linear address is the offset, so the soft TLB's
// inline fast path (mmu/access.h) applies directly. Everything else goes
// through read_mem/write_mem (segmentation checks).
template <unsigned W>
inline bool flat64_access(const Exec& x, SegReg seg, uint64_t off) {
  const CpuState& s = x.s;
  return (s.efer & kEferLMA) && s.seg[kCs].l && seg != kFs && seg != kGs && !(s.rflags & kFlagAC) &&
         static_cast<uint64_t>(static_cast<int64_t>(off << 16) >> 16) == off &&
         (off & (kPageSize - 1)) + W <= kPageSize;
}
template <unsigned W>
inline bool seg_read(Exec& x, SegReg seg, uint64_t off, uint64_t* v) {
  *v = 0;
  if constexpr (W == 1 || W == 2 || W == 4 || W == 8) {
    if (flat64_access<W>(x, seg, off)) [[likely]] {
      using T = std::conditional_t<W == 1, uint8_t, std::conditional_t<W == 2, uint16_t, std::conditional_t<W == 4, uint32_t, uint64_t>>>;
      T t;
      if (!mem_read<T>(x.cpu, off, &t)) return false;
      *v = t;
      return true;
    }
  }
  return read_mem(x.cpu, seg, off, v, W);
}
template <unsigned W>
inline bool seg_write(Exec& x, SegReg seg, uint64_t off, uint64_t v) {
  if constexpr (W == 1 || W == 2 || W == 4 || W == 8) {
    if (flat64_access<W>(x, seg, off)) [[likely]] {
      using T = std::conditional_t<W == 1, uint8_t, std::conditional_t<W == 2, uint16_t, std::conditional_t<W == 4, uint32_t, uint64_t>>>;
      return mem_write<T>(x.cpu, off, static_cast<T>(v));
    }
  }
  return write_mem(x.cpu, seg, off, &v, W);
}

// r/m operand.
template <unsigned W>
inline bool rm_read(Exec& x, const Insn& i, uint64_t* v) {
  if (!(i.pfx & kInsnMem)) {
    *v = reg_get<W>(x.s, i.rm);
    return true;
  }
  return seg_read<W>(x, seg_of(i), effective_address(x, i), v);
}
template <unsigned W>
inline bool rm_write(Exec& x, const Insn& i, uint64_t v) {
  if (!(i.pfx & kInsnMem)) {
    reg_set<W>(x.s, i.rm, v);
    return true;
  }
  return seg_write<W>(x, seg_of(i), effective_address(x, i), v);
}

// ---- Stack (SDM Vol. 1 6.2) ----
inline unsigned stack_width(const CpuState& s) {
  if (s.efer & kEferLMA && s.seg[kCs].l) return 8;
  return s.seg[kSs].db ? 4 : 2;
}
template <unsigned W>
inline bool push(Exec& x, uint64_t v) {
  unsigned sw = stack_width(x.s);
  uint64_t sp = (x.s.gpr[kRsp] - W) & mask_for(sw);
  if (!seg_write<W>(x, kSs, sp, v)) return false;
  reg_set_w(x.s, kRsp, sp, sw);
  return true;
}
// Reads the top of the stack at `depth` bytes above RSP without popping.
template <unsigned W>
inline bool stack_peek(Exec& x, unsigned depth, uint64_t* v) {
  unsigned sw = stack_width(x.s);
  return seg_read<W>(x, kSs, (x.s.gpr[kRsp] + depth) & mask_for(sw), v);
}
inline void stack_adjust(Exec& x, uint64_t delta) {
  unsigned sw = stack_width(x.s);
  reg_set_w(x.s, kRsp, (x.s.gpr[kRsp] + delta) & mask_for(sw), sw);
}
template <unsigned W>
inline bool pop(Exec& x, uint64_t* v) {
  if (!stack_peek<W>(x, 0, v)) return false;
  stack_adjust(x, W);
  return true;
}

// ---- Control flow ----
// Width of the instruction pointer for the current code (16-bit code wraps IP).
inline uint64_t ip_mask(const Insn& i) { return mask_for(i.osize); }
inline bool is_long64(const CpuState& s) { return (s.efer & kEferLMA) && s.seg[kCs].l; }

}  // namespace skvm::cpu
