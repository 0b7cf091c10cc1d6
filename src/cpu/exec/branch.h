// SDM Vol. 2A/2B: Jcc, JMP (short, near, indirect, far), CALL/RET (near
// and far), LOOP/LOOPcc/JrCXZ, INT n/INT3/INTO, IRET.
#pragma once

#include "cpu/exec/exec.h"
#include "cpu/exec/stack.h"
#include "cpu/state/far_return.h"

namespace skvm::cpu::exec {

template <unsigned W>
bool jcc(Exec& x, const Insn& i) {
  if (x.cond(i.opcode & 0xf)) x.s.rip = (x.s.rip + i.imm) & ip_mask(i);
  return true;
}
template <unsigned W>
bool jmp_rel(Exec& x, const Insn& i) {
  x.s.rip = (x.s.rip + i.imm) & ip_mask(i);
  return true;
}
template <unsigned W>
bool call_rel(Exec& x, const Insn& i) {
  if (!push<W>(x, x.s.rip)) return false;
  x.s.rip = (x.s.rip + i.imm) & ip_mask(i);
  return true;
}
template <unsigned W>
bool jmp_e(Exec& x, const Insn& i) {
  uint64_t t;
  if (!rm_read<W>(x, i, &t)) return false;
  x.s.rip = t;
  return true;
}
template <unsigned W>
bool call_e(Exec& x, const Insn& i) {
  uint64_t t;
  if (!rm_read<W>(x, i, &t)) return false;
  if (!push<W>(x, x.s.rip)) return false;
  x.s.rip = t;
  return true;
}
// RET / RET imm16.
template <unsigned W>
bool ret_near(Exec& x, const Insn& i) {
  uint64_t t;
  if (!stack_peek<W>(x, 0, &t)) return false;
  stack_adjust(x, W + (i.imm & 0xffff));
  x.s.rip = t;
  return true;
}

// LOOPNE (0), LOOPE (1), LOOP (2), JrCXZ (3); the counter has the address size.
template <unsigned W, unsigned Kind>
bool loop(Exec& x, const Insn& i) {
  uint64_t am = mask_for(i.asize);
  bool taken;
  if constexpr (Kind == 3) {
    taken = (x.s.gpr[kRcx] & am) == 0;
  } else {
    uint64_t c = (x.s.gpr[kRcx] - 1) & am;
    reg_set_w(x.s, kRcx, c, i.asize);
    taken = c != 0;
    if constexpr (Kind == 0) taken = taken && !x.zf();
    if constexpr (Kind == 1) taken = taken && x.zf();
  }
  if (taken) x.s.rip = (x.s.rip + i.imm) & ip_mask(i);
  return true;
}

// Far transfers: the return frame is written below RSP first (so a fault in
// the CS load commits nothing), then CS:rIP is loaded, then RSP committed.
template <unsigned W>
inline bool far_transfer(Exec& x, bool is_call, uint16_t sel, uint64_t off) {
  unsigned sw = stack_width(x.s);
  uint64_t sp = x.s.gpr[kRsp];
  uint64_t new_sp = (sp - 2 * W) & mask_for(sw);
  if (is_call) {
    if (!seg_write<W>(x, kSs, (sp - W) & mask_for(sw), x.s.seg[kCs].selector)) return false;
    if (!seg_write<W>(x, kSs, new_sp, x.s.rip)) return false;
  }
  x.flags();
  if (!load_code_segment(x.cpu, sel, off & kMask<W>)) return false;
  if (is_call) reg_set_w(x.s, kRsp, new_sp, sw);
  x.sys_changed = true;
  return true;
}
template <unsigned W, bool Call>
bool far_ap(Exec& x, const Insn& i) {
  return far_transfer<W>(x, Call, i.imm2, i.imm);
}
template <unsigned W, bool Call>
bool far_m(Exec& x, const Insn& i) {
  if (!(i.pfx & kInsnMem)) return raise(x.cpu, kUD);
  uint64_t off, sel, ea = effective_address(x, i);
  if (!seg_read<W>(x, seg_of(i), ea, &off)) return false;
  if (!seg_read<2>(x, seg_of(i), (ea + W) & mask_for(i.asize), &sel)) return false;
  return far_transfer<W>(x, Call, static_cast<uint16_t>(sel), off);
}
// RETF / RETF imm16 (SDM Vol. 2B RET). Same privilege level: CS:rIP only.
// Outer privilege level (RPL of the popped CS > CPL): SS:rSP are popped
// above the imm16 bytes and state/far_return.h checks and loads both; imm16
// is then released on the new stack too.
template <unsigned W>
bool ret_far(Exec& x, const Insn& i) {
  uint64_t off, sel;
  if (!stack_peek<W>(x, 0, &off) || !stack_peek<W>(x, W, &sel)) return false;
  const unsigned imm = static_cast<unsigned>(i.imm & 0xffff);
  bool protected_mode = (x.s.cr0 & kCr0PE) && !(x.s.rflags & kFlagVM);
  x.flags();
  if (protected_mode && far_return_is_outer(x.s, static_cast<uint16_t>(sel))) {
    uint64_t sp, ss;
    if (!stack_peek<W>(x, 2 * W + imm, &sp) || !stack_peek<W>(x, 3 * W + imm, &ss)) return false;
    FarReturn r{static_cast<uint16_t>(sel), off & kMask<W>, true, static_cast<uint16_t>(ss), sp & kMask<W>};
    if (!far_return(x.cpu, r)) return false;
    stack_adjust(x, imm);
    x.sys_changed = true;
    return true;
  }
  if (!load_code_segment(x.cpu, static_cast<uint16_t>(sel), off)) return false;
  stack_adjust(x, 2 * W + imm);
  x.sys_changed = true;
  return true;
}

// INT n / INT3 / INTO through deliver_event (IVT in real mode, IDT
// otherwise). Vec = 0: the vector is the immediate.
template <unsigned W, unsigned Vec>
bool int_n(Exec& x, const Insn& i) {
  uint8_t vector = Vec == 0 ? static_cast<uint8_t>(i.imm) : static_cast<uint8_t>(Vec);
  if (Vec == 4 && !x.of()) return true;  // INTO without OF
  if ((x.s.rflags & kFlagVM) && ((x.s.rflags & kFlagIOPL) >> 12) < 3 && Vec == 0) return raise(x.cpu, kGP, 0);
  x.flags();
  bool shutdown = false;
  x.sys_changed = true;
  // events/ contract: RIP at the INT instruction (the return address of a
  // fault during delivery), the pushed return address after it.
  const uint64_t next = x.s.rip;
  x.s.rip = next - i.len;
  if (!deliver_event(x.cpu, EventKind::kSoftwareInt, vector, false, 0, next, &shutdown)) {
    if (shutdown) return x.request_stop(Stop::kShutdown, true);
    return false;
  }
  return true;
}

// IRET/IRETD/IRETQ (SDM Vol. 2A IRET): real mode; protected and IA-32e
// mode returns to the same or an outer privilege level through
// state/far_return.h (SS:rSP popped on an outer return and always by
// IRETQ in 64-bit mode). RFLAGS bits are filtered with the CPL before the
// return. Task returns (NT) and returns to virtual-8086 mode are not
// implemented: emulation failure, as KVM reports what it cannot emulate.
// IRET ends NMI blocking in every mode (SDM Vol. 3A 6.7.1).
template <unsigned W>
bool iret(Exec& x, const Insn& i) {
  (void)i;
  uint64_t ip, cs, fl;
  if (!stack_peek<W>(x, 0, &ip) || !stack_peek<W>(x, W, &cs) || !stack_peek<W>(x, 2 * W, &fl)) return false;
  uint64_t f = x.flags();
  bool real = !(x.s.cr0 & kCr0PE);
  if (real) {
    uint64_t m = popf_mask(x.s, W);
    x.s.seg[kCs].selector = static_cast<uint16_t>(cs);
    x.s.seg[kCs].base = (cs & 0xffff) << 4;
    stack_adjust(x, 3 * W);
    x.s.rip = ip & kMask<W>;
    x.s.rflags = ((f & ~m) | (fl & m) | kFlagFixed1);
    x.s.nmi_masked = false;  // SDM Vol. 3A 6.7.1: IRET ends NMI blocking in every mode
    x.sys_changed = true;
    return true;
  }
  if (x.s.rflags & (kFlagVM | kFlagNT)) return x.request_stop(Stop::kInternal, false);
  const bool long64 = is_long64(x.s);
  const bool lma = (x.s.efer & kEferLMA) != 0;
  if (!lma && (fl & kFlagVM) && cpl(x.s) == 0) return x.request_stop(Stop::kInternal, false);
  const bool outer = far_return_is_outer(x.s, static_cast<uint16_t>(cs));
  uint64_t new_sp = 0, new_ss = 0;
  if (long64 || outer) {
    if (!stack_peek<W>(x, 3 * W, &new_sp) || !stack_peek<W>(x, 4 * W, &new_ss)) return false;
  }
  uint64_t m = popf_mask(x.s, W);  // privilege checks with the CPL of the IRET
  if (W != 2) m |= kFlagRF;
  if (W != 2 && cpl(x.s) == 0) m |= kFlagVIF | kFlagVIP;
  FarReturn r{static_cast<uint16_t>(cs), ip & kMask<W>, long64 || outer, static_cast<uint16_t>(new_ss),
              new_sp & kMask<W>};
  if (!far_return(x.cpu, r)) return false;
  if (!r.has_stack) stack_adjust(x, 3 * W);
  x.s.rflags = ((f & ~m) | (fl & m) | kFlagFixed1);
  x.s.nmi_masked = false;
  x.sys_changed = true;
  return true;
}

}  // namespace skvm::cpu::exec
