// SDM Vol. 2B: MOVS, CMPS, STOS, LODS, SCAS with REP/REPE/REPNE; port I/O:
// IN, OUT, INS, OUTS (SDM Vol. 1 ch. 19) with KVM's exit semantics
// (arch/x86/kvm/x86.c kvm_fast_pio, emulator_pio_in_out; emulate.c
// pio_in_emulated, em_out).
#pragma once

#include <algorithm>

#include "cpu/exec/exec.h"
#include "cpu/state/io_permission.h"

namespace skvm::cpu::exec {

// A REP string instruction yields after this many elements (RIP left on it)
// so that kicks and interrupts are seen; it resumes where it stopped.
inline constexpr unsigned kStringBudget = 4096;

struct StringCtx {
  uint64_t am;       // address-size mask
  unsigned as;       // address size
  bool rep;
  int64_t step;      // +W or -W (DF)
  uint64_t count;    // elements left (1 without REP)
};
template <unsigned W>
inline StringCtx string_ctx(const Exec& x, const Insn& i) {
  StringCtx c;
  c.as = i.asize;
  c.am = mask_for(i.asize);
  c.rep = i.pfx & (kInsnRep | kInsnRepne);
  c.step = (x.s.rflags & kFlagDF) ? -static_cast<int64_t>(W) : static_cast<int64_t>(W);
  c.count = c.rep ? (x.s.gpr[kRcx] & c.am) : 1;
  return c;
}
inline void advance(Exec& x, const StringCtx& c, uint8_t r) {
  reg_set_w(x.s, r, (x.s.gpr[r] + static_cast<uint64_t>(c.step)) & c.am, c.as);
}
inline void count_down(Exec& x, const StringCtx& c) {
  if (c.rep) reg_set_w(x.s, kRcx, (x.s.gpr[kRcx] - 1) & c.am, c.as);
}
// Leaves RIP on the instruction so that it runs again.
inline bool restart(Exec& x, const Insn& i) {
  x.s.rip -= i.len;
  return true;
}

template <unsigned W>
bool movs(Exec& x, const Insn& i) {
  StringCtx c = string_ctx<W>(x, i);
  for (unsigned budget = kStringBudget; c.count; --c.count) {
    uint64_t v;
    if (!seg_read<W>(x, seg_of(i), x.s.gpr[kRsi] & c.am, &v)) return false;
    if (!seg_write<W>(x, kEs, x.s.gpr[kRdi] & c.am, v)) return false;
    advance(x, c, kRsi);
    advance(x, c, kRdi);
    count_down(x, c);
    if (c.rep && c.count > 1 && --budget == 0) return restart(x, i);
  }
  return true;
}
template <unsigned W>
bool stos(Exec& x, const Insn& i) {
  StringCtx c = string_ctx<W>(x, i);
  uint64_t v = reg_get<W>(x.s, kRax);
  for (unsigned budget = kStringBudget; c.count; --c.count) {
    if (!seg_write<W>(x, kEs, x.s.gpr[kRdi] & c.am, v)) return false;
    advance(x, c, kRdi);
    count_down(x, c);
    if (c.rep && c.count > 1 && --budget == 0) return restart(x, i);
  }
  return true;
}
template <unsigned W>
bool lods(Exec& x, const Insn& i) {
  StringCtx c = string_ctx<W>(x, i);
  for (unsigned budget = kStringBudget; c.count; --c.count) {
    uint64_t v;
    if (!seg_read<W>(x, seg_of(i), x.s.gpr[kRsi] & c.am, &v)) return false;
    reg_set<W>(x.s, kRax, v);
    advance(x, c, kRsi);
    count_down(x, c);
    if (c.rep && c.count > 1 && --budget == 0) return restart(x, i);
  }
  return true;
}
// CMPS/SCAS: REPE (F3) repeats while equal, REPNE (F2) while not equal.
template <unsigned W, bool Cmps>
inline bool compare_string(Exec& x, const Insn& i) {
  StringCtx c = string_ctx<W>(x, i);
  bool repne = i.pfx & kInsnRepne;
  for (unsigned budget = kStringBudget; c.count; --c.count) {
    uint64_t a, b;
    if constexpr (Cmps) {
      if (!seg_read<W>(x, seg_of(i), x.s.gpr[kRsi] & c.am, &a)) return false;
    } else {
      a = reg_get<W>(x.s, kRax);
    }
    if (!seg_read<W>(x, kEs, x.s.gpr[kRdi] & c.am, &b)) return false;
    x.set_lazy(FlagOp::kSub, W, a, b, (a - b) & kMask<W>);
    if constexpr (Cmps) advance(x, c, kRsi);
    advance(x, c, kRdi);
    count_down(x, c);
    if (!c.rep) break;
    if (repne ? x.zf() : !x.zf()) break;
    if (c.count > 1 && --budget == 0) return restart(x, i);
  }
  return true;
}
template <unsigned W>
bool cmps(Exec& x, const Insn& i) {
  return compare_string<W, true>(x, i);
}
template <unsigned W>
bool scas(Exec& x, const Insn& i) {
  return compare_string<W, false>(x, i);
}

// ---- Port I/O ----

// SDM Vol. 1 19.5: in protected mode, CPL > IOPL (or V86 mode) hands the
// decision to the TSS I/O permission bitmap (state/io_permission.h, which
// raises #GP(0) for a denied port).
inline bool io_allowed(Exec& x, uint16_t port, unsigned size) {
  const CpuState& s = x.s;
  if (!(s.cr0 & kCr0PE)) return true;
  if (!(s.rflags & kFlagVM) && cpl(s) <= ((s.rflags & kFlagIOPL) >> 12)) return true;
  return io_permitted(x.cpu, port, size);
}
inline bool io_exit(Exec& x, bool in, uint16_t port, unsigned size, uint32_t count) {
  IoExit& io = x.cpu.exit().io;
  io.in = in;
  io.port = port;
  io.size = static_cast<uint8_t>(size);
  io.count = count;
  x.io_started = true;
  return x.request_stop(Stop::kIo, false);
}

enum class IoKind : uint8_t { kInImm, kInDx, kOutImm, kOutDx };

// IN/OUT: first offered to Bus::pio_in/pio_out (in-process devices);
// otherwise a KVM_EXIT_IO with RIP on the instruction. OUT retires when
// the client re-enters; IN reads its data from the PIO page then.
template <unsigned W, IoKind K>
bool io(Exec& x, const Insn& i) {
  constexpr bool in = K == IoKind::kInImm || K == IoKind::kInDx;
  uint16_t port = (K == IoKind::kInImm || K == IoKind::kOutImm) ? static_cast<uint16_t>(i.imm & 0xff)
                                                                : static_cast<uint16_t>(x.s.gpr[kRdx]);
  if (!io_allowed(x, port, W)) return false;
  // SAFETY (all PIO page accesses below): Bus::pio_page() is 4096 bytes and
  // at most 1024 bytes (INS read-ahead) or one element are touched.
  uint8_t* page = x.cpu.bus().pio_page();
  if (x.io_done) {
    if constexpr (in) {
      uint64_t v = 0;
      std::memcpy(&v, page, W);
      reg_set<W>(x.s, kRax, v);
    }
    return true;
  }
  uint64_t v = in ? 0 : reg_get<W>(x.s, kRax);
  if constexpr (in) {
    if (x.cpu.bus().pio_in(port, W, &v)) {
      reg_set<W>(x.s, kRax, v);
      return true;
    }
    std::memset(page, 0, W);
  } else {
    if (x.cpu.bus().pio_out(port, W, &v)) return true;
    std::memcpy(page, &v, W);
  }
  return io_exit(x, in, port, W, 1);
}

// INS: KVM reads ahead n = min(bytes left in RDI's page, 1024 / size,
// count) elements per exit (emulate.c pio_in_emulated) and stores them at
// ES:rDI when the client re-enters.
template <unsigned W>
bool ins(Exec& x, const Insn& i) {
  if (!io_allowed(x, static_cast<uint16_t>(x.s.gpr[kRdx]), W)) return false;
  StringCtx c = string_ctx<W>(x, i);
  if (c.count == 0) return true;
  uint16_t port = static_cast<uint16_t>(x.s.gpr[kRdx]);
  // SAFETY: the PIO page is 4096 bytes; an INS exit uses at most 1024.
  uint8_t* page = x.cpu.bus().pio_page();
  if (x.io_done) {
    for (uint32_t k = 0; k < x.io_count; ++k) {
      uint64_t v = 0;
      std::memcpy(&v, page + k * W, W);
      if (!seg_write<W>(x, kEs, x.s.gpr[kRdi] & c.am, v)) return false;
      advance(x, c, kRdi);
      count_down(x, c);
    }
    if (c.rep && (x.s.gpr[kRcx] & c.am) != 0) return restart(x, i);
    return true;
  }
  uint64_t v = 0;
  if (x.cpu.bus().pio_in(port, W, &v)) {
    for (unsigned budget = kStringBudget;;) {
      if (!seg_write<W>(x, kEs, x.s.gpr[kRdi] & c.am, v)) return false;
      advance(x, c, kRdi);
      count_down(x, c);
      if (--c.count == 0) return true;
      if (--budget == 0) return restart(x, i);
      v = 0;
      x.cpu.bus().pio_in(port, W, &v);
    }
  }
  uint64_t rdi = x.s.gpr[kRdi];
  uint64_t in_page = (x.s.rflags & kFlagDF) ? (rdi & 0xfff) : 4096 - (rdi & 0xfff);
  uint64_t n = std::min<uint64_t>({in_page, 1024 / W, c.count});
  if (n == 0) n = 1;
  std::memset(page, 0, n * W);
  return io_exit(x, true, port, W, static_cast<uint32_t>(n));
}

// OUTS: one element per exit (emulate.c em_out passes count 1).
template <unsigned W>
bool outs(Exec& x, const Insn& i) {
  if (!io_allowed(x, static_cast<uint16_t>(x.s.gpr[kRdx]), W)) return false;
  StringCtx c = string_ctx<W>(x, i);
  if (c.count == 0) return true;
  uint16_t port = static_cast<uint16_t>(x.s.gpr[kRdx]);
  if (x.io_done) {
    advance(x, c, kRsi);
    count_down(x, c);
    if (c.rep && (x.s.gpr[kRcx] & c.am) != 0) return restart(x, i);
    return true;
  }
  for (unsigned budget = kStringBudget;; ) {
    uint64_t v;
    if (!seg_read<W>(x, seg_of(i), x.s.gpr[kRsi] & c.am, &v)) return false;
    if (!x.cpu.bus().pio_out(port, W, &v)) {
      // SAFETY: one element (<= 4 bytes) into the 4096-byte PIO page.
      std::memcpy(x.cpu.bus().pio_page(), &v, W);
      return io_exit(x, false, port, W, 1);
    }
    advance(x, c, kRsi);
    count_down(x, c);
    if (--c.count == 0) return true;
    if (--budget == 0) return restart(x, i);
  }
}

}  // namespace skvm::cpu::exec
