// SDM Vol. 2A/2B: Jcc, JMP (short, near, indirect, far), CALL/RET (near
// and far), LOOP/LOOPcc/JrCXZ, INT n/INT3/INTO, IRET.
#pragma once

#include "cpu/events/call_gate.h"
#include "cpu/events/debug.h"
#include "cpu/events/task_switch.h"
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
  if (!stack_push<W>(x, x.s.rip)) return false;
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
  if (!stack_push<W>(x, x.s.rip)) return false;
  x.s.rip = t;
  return true;
}
// RET / RET imm16.
template <unsigned W>
bool ret_near(Exec& x, const Insn& i) {
  uint64_t t;
  if (!stack_pop<W>(x, &t, W + (i.imm & 0xffff))) return false;
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
// A call gate selector (protected mode) goes through events/call_gate.h,
// which pushes its own frame (on the new stack for a privilege change).
template <unsigned W>
inline bool far_transfer(Exec& x, bool is_call, uint16_t sel, uint64_t off) {
  if ((x.s.cr0 & kCr0PE) && !(x.s.rflags & kFlagVM)) {
    x.flags();
    bool task = false;
    const bool switched = far_task_transfer(x.cpu, is_call, sel, x.s.rip, &task);
    if (task) {
      if (!switched) return false;
      x.sys_changed = true;
      return true;
    }
    switch (far_through_call_gate(x.cpu, is_call, sel, x.s.rip)) {
      case GateResult::kDone:
        x.sys_changed = true;
        return true;
      case GateResult::kFailed:
        return false;
      case GateResult::kNotGate:
        break;
    }
  }
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
// INT3 under KVM_GUESTDBG_USE_SW_BP exits with KVM_EXIT_DEBUG (exception
// 3, RIP on the INT3) instead (vmx.c handle_exception_nmi, BP_VECTOR).
template <unsigned W, unsigned Vec>
bool int_n(Exec& x, const Insn& i) {
  uint8_t vector = Vec == 0 ? static_cast<uint8_t>(i.imm) : static_cast<uint8_t>(Vec);
  if (Vec == 4 && !x.of()) return true;  // INTO without OF
  if (Vec == 3 && x.cpu.guest_debug().enable && x.cpu.guest_debug().sw_bp) {
    x.s.rip -= i.len;
    bp_exit(x.cpu);
    x.s.rip += i.len;
    return x.request_stop(Stop::kDebug, false);
  }
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

// INT1 / ICEBP (F1): a #DB trap through the IDT as an exception (no gate
// DPL check, SDM Vol. 2A INT n/INTO/INT3/INT1), DR6 unchanged. The return
// address is the next instruction.
template <unsigned W>
bool int1(Exec& x, const Insn& i) {
  x.flags();
  bool shutdown = false;
  x.sys_changed = true;
  const uint64_t next = x.s.rip;
  x.s.rip = next - i.len;
  if (!deliver_event(x.cpu, EventKind::kException, kDB, false, 0, next, &shutdown)) {
    if (shutdown) return x.request_stop(Stop::kShutdown, true);
    return false;
  }
  return true;
}

// SDM Vol. 2A IRET, RETURN-TO-VIRTUAL-8086-MODE: IRETD at CPL 0 with VM = 1
// in the popped EFLAGS. EIP, CS, EFLAGS, ESP, SS, ES, DS, FS, GS are popped
// (32 bits each, selectors from the low 16); the segments are loaded as
// virtual-8086 segments (base = selector << 4, limit 0xffff); CPL becomes 3.
inline bool iret_to_v86(Exec& x, uint64_t ip, uint64_t cs, uint64_t fl) {
  uint64_t v[6];  // ESP, SS, ES, DS, FS, GS
  for (unsigned k = 0; k < 6; ++k) {
    if (!stack_peek<4>(x, 12 + 4 * k, &v[k])) return false;
  }
  if ((ip & 0xffffffffull) > 0xffff) return raise(x.cpu, kGP, 0);
  x.flags();
  x.s.rflags = (fl & 0xffffffffull) | kFlagFixed1;
  const SegReg order[6] = {kCs, kSs, kEs, kDs, kFs, kGs};
  const uint64_t sel[6] = {cs, v[1], v[2], v[3], v[4], v[5]};
  for (unsigned k = 0; k < 6; ++k) {
    // Cannot fail with RFLAGS.VM set (state/segments.cpp).
    if (!load_segment(x.cpu, order[k], static_cast<uint16_t>(sel[k]))) return false;
  }
  x.s.gpr[kRsp] = v[0] & 0xffffffffull;
  x.s.rip = ip & 0xffff;
  x.s.nmi_masked = false;
  x.sys_changed = true;
  return true;
}

// SDM Vol. 2A IRET in virtual-8086 mode: with IOPL = 3 a real-mode style
// return (the 32-bit form may not change VM, VIF, VIP: EFLAGS AND 257FD5H);
// with IOPL < 3, #GP(0) (CR4.VME is never advertised).
template <unsigned W>
bool iret_in_v86(Exec& x, uint64_t ip, uint64_t cs, uint64_t fl, uint64_t f) {
  if (((x.s.rflags & kFlagIOPL) >> 12) < 3) return raise(x.cpu, kGP, 0);
  if ((ip & kMask<W>) > 0xffff) return raise(x.cpu, kGP, 0);
  const uint64_t m = W == 2 ? popf_mask(x.s, 2) : 0x257fd5ull;
  if (!load_segment(x.cpu, kCs, static_cast<uint16_t>(cs))) return false;
  stack_adjust(x, 3 * W);
  x.s.rip = ip & 0xffff;
  x.s.rflags = (f & ~m) | (fl & m) | kFlagFixed1;
  x.s.nmi_masked = false;
  x.sys_changed = true;
  return true;
}

// IRET/IRETD/IRETQ (SDM Vol. 2A IRET): real mode; protected and IA-32e
// mode returns to the same or an outer privilege level through
// state/far_return.h (SS:rSP popped on an outer return and always by
// IRETQ in 64-bit mode), to virtual-8086 mode (iret_to_v86) and within it
// (iret_in_v86). RFLAGS bits are filtered with the CPL before the return.
// Task returns (NT) go through events/task_switch.h.
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
  if (x.s.rflags & kFlagVM) return iret_in_v86<W>(x, ip, cs, fl, f);
  if (x.s.rflags & kFlagNT) {
    // SDM Vol. 2A IRET: a task return (#GP(0) in IA-32e mode).
    if (x.s.efer & kEferLMA) return raise(x.cpu, kGP, 0);
    if (!iret_task_return(x.cpu)) return false;
    x.sys_changed = true;
    return true;
  }
  const bool long64 = is_long64(x.s);
  const bool lma = (x.s.efer & kEferLMA) != 0;
  if (!lma && (fl & kFlagVM) && cpl(x.s) == 0) {
    if (W != 4) return x.request_stop(Stop::kInternal, false);  // 16-bit IRET pops no VM bit
    return iret_to_v86(x, ip, cs, fl);
  }
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
