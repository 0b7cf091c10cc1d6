// SDM Vol. 2B: PUSH, POP (reg, r/m, imm, Sreg), PUSHF/POPF, LEAVE.
#pragma once

#include <cstring>
#include <type_traits>

#include "cpu/exec/exec.h"
#include "cpu/mmu/mmu_impl.h"

namespace skvm::cpu::exec {

// ---- 64-bit mode stack fast path ----
// In 64-bit mode SS has no base and no limit (SDM Vol. 3A 3.4.4, 5.3.1), the
// stack width is 8, and CPL = CS.RPL (RFLAGS.VM cannot be set). So a stack
// slot that lies inside one page whose soft-TLB entry has the right tag
// needs no segmentation check: the TLB holds canonical pages only, and a
// read/write tag exists only where the access is allowed (mmu/mmu_impl.h).
// Anything else (other modes, RFLAGS.AC, a slot crossing a page, a miss, a
// code page, a watched page) returns nullptr and the caller takes the
// generic path, which raises #SS/#GP/#PF/#AC exactly.
template <unsigned W, bool Write>
inline uint8_t* flat_stack_slot(Exec& x, uint64_t la) {
  const CpuState& s = x.s;
  if (!((s.efer & kEferLMA) && s.seg[kCs].l) || (s.rflags & (kFlagAC | kFlagVM))) return nullptr;
  if ((la & (kPageSize - 1)) > kPageSize - W) return nullptr;
  MmuImpl::TlbEntry& e = x.cpu.mmu().entry(la);
  const uint64_t tag = (la & kPageMask) | ((s.seg[kCs].selector & 3) == 3 ? 1 : 0);
  if ((Write ? e.write_tag : e.read_tag) != tag) return nullptr;
  // SAFETY: the tag maps this linear page to RAM (writable RAM without
  // decoded code for a write tag); the W bytes at la stay inside the page.
  return reinterpret_cast<uint8_t*>(la + e.addend);
}
// PUSH: the fast path, else exec.h push<W>.
template <unsigned W>
inline bool stack_push(Exec& x, uint64_t v) {
  if constexpr (W == 8 || W == 2) {
    const uint64_t sp = x.s.gpr[kRsp] - W;
    if (uint8_t* p = flat_stack_slot<W, true>(x, sp)) [[likely]] {
      using T = std::conditional_t<W == 8, uint64_t, uint16_t>;
      const T t = static_cast<T>(v);
      std::memcpy(p, &t, W);
      x.s.gpr[kRsp] = sp;
      return true;
    }
  }
  return push<W>(x, v);
}
// Reads the W-byte slot at RSP and then adds `drop` to RSP (POP: W; RET
// imm16: W + imm16). Nothing is committed when the read faults.
template <unsigned W>
inline bool stack_pop(Exec& x, uint64_t* v, uint64_t drop = W) {
  if constexpr (W == 8 || W == 2) {
    const uint64_t sp = x.s.gpr[kRsp];
    if (const uint8_t* p = flat_stack_slot<W, false>(x, sp)) [[likely]] {
      using T = std::conditional_t<W == 8, uint64_t, uint16_t>;
      T t;
      std::memcpy(&t, p, W);
      *v = t;
      x.s.gpr[kRsp] = sp + drop;
      return true;
    }
  }
  if (!stack_peek<W>(x, 0, v)) return false;
  stack_adjust(x, drop);
  return true;
}

template <unsigned W>
bool push_r(Exec& x, const Insn& i) {
  return stack_push<W>(x, reg_get<W>(x.s, i.reg));  // PUSH rSP pushes the old value
}
template <unsigned W>
bool pop_r(Exec& x, const Insn& i) {
  uint64_t v;
  if (!stack_pop<W>(x, &v)) return false;
  reg_set<W>(x.s, i.reg, v);  // POP rSP: the popped value wins
  return true;
}
template <unsigned W>
bool push_i(Exec& x, const Insn& i) {
  return stack_push<W>(x, i.imm);
}
template <unsigned W>
bool push_e(Exec& x, const Insn& i) {
  uint64_t v;
  if (!rm_read<W>(x, i, &v)) return false;
  return push<W>(x, v);
}
// POP r/m: an RSP-based destination address uses the incremented RSP.
template <unsigned W>
bool pop_e(Exec& x, const Insn& i) {
  uint64_t v;
  if (!stack_peek<W>(x, 0, &v)) return false;
  uint64_t old_sp = x.s.gpr[kRsp];
  stack_adjust(x, W);
  if (!rm_write<W>(x, i, v)) {
    x.s.gpr[kRsp] = old_sp;
    return false;
  }
  return true;
}

// PUSH Sreg (SDM Vol. 2B PUSH): with a 32-bit operand size recent Intel
// CPUs move only the 16-bit selector into the 4-byte slot and leave its
// upper half; KVM's emulator does the same (emulate.c em_push_sreg: RSP -= 2,
// then a 2-byte push). A 64-bit push stores the selector zero-extended
// (checked natively on the reference host).
template <unsigned W, SegReg S>
bool push_sreg(Exec& x, const Insn&) {
  if constexpr (W == 4) {
    const unsigned sw = stack_width(x.s);
    const uint64_t sp = (x.s.gpr[kRsp] - 4) & mask_for(sw);
    if (!seg_write<2>(x, kSs, sp, x.s.seg[S].selector)) return false;
    reg_set_w(x.s, kRsp, sp, sw);
    return true;
  } else {
    return push<W>(x, x.s.seg[S].selector);
  }
}
template <unsigned W, SegReg S>
bool pop_sreg(Exec& x, const Insn&) {
  uint64_t v;
  if (!stack_peek<W>(x, 0, &v)) return false;
  if (!load_segment(x.cpu, S, static_cast<uint16_t>(v))) return false;
  stack_adjust(x, W);
  if (S == kSs) x.s.interrupt_shadow |= 2;  // KVM_X86_SHADOW_INT_MOV_SS
  x.sys_changed = true;
  return true;
}

// PUSHF: VM and RF are pushed as 0 (SDM Vol. 2B PUSHF).
template <unsigned W>
bool pushf(Exec& x, const Insn&) {
  if ((x.s.rflags & kFlagVM) && ((x.s.rflags & kFlagIOPL) >> 12) < 3) return raise(x.cpu, kGP, 0);
  uint64_t f = x.flags() & ~(kFlagVM | kFlagRF);
  return push<W>(x, f);
}

// The RFLAGS bits POPF/IRET may change at the current privilege.
inline uint64_t popf_mask(const CpuState& s, unsigned w) {
  uint64_t m = kFlagsArith | kFlagTF | kFlagDF | kFlagNT | kFlagAC | kFlagID;
  unsigned c = cpl(s);
  unsigned iopl = static_cast<unsigned>((s.rflags & kFlagIOPL) >> 12);
  if (c <= iopl) m |= kFlagIF;
  if (c == 0) m |= kFlagIOPL;
  if (w == 2) m &= 0xffff;
  return m;
}
template <unsigned W>
bool popf(Exec& x, const Insn&) {
  if ((x.s.rflags & kFlagVM) && ((x.s.rflags & kFlagIOPL) >> 12) < 3) return raise(x.cpu, kGP, 0);
  uint64_t v;
  if (!stack_peek<W>(x, 0, &v)) return false;
  stack_adjust(x, W);
  uint64_t m = popf_mask(x.s, W);
  uint64_t f = x.flags();
  x.s.rflags = ((f & ~m) | (v & m) | kFlagFixed1) & ~kFlagRF;
  return true;
}

// LEAVE: rSP = rBP (stack width), then POP rBP.
template <unsigned W>
bool leave(Exec& x, const Insn&) {
  unsigned sw = stack_width(x.s);
  uint64_t old_sp = x.s.gpr[kRsp];
  reg_set_w(x.s, kRsp, x.s.gpr[kRbp], sw);
  uint64_t v;
  if (!pop<W>(x, &v)) {
    x.s.gpr[kRsp] = old_sp;
    return false;
  }
  reg_set<W>(x.s, kRbp, v);
  return true;
}

// ENTER imm16, imm8 (SDM Vol. 2A ENTER): nesting level mod 32; frame
// pointers of outer levels are copied from the old frame.
template <unsigned W>
bool enter(Exec& x, const Insn& i) {
  unsigned sw = stack_width(x.s);
  uint64_t m = mask_for(sw);
  unsigned level = i.imm2 & 31;
  uint64_t size = i.imm & 0xffff;
  uint64_t sp = x.s.gpr[kRsp];
  uint64_t bp = x.s.gpr[kRbp];
  // Writes go below RSP first; registers are committed at the end.
  sp = (sp - W) & m;
  if (!seg_write<W>(x, kSs, sp, bp)) return false;
  uint64_t frame = sp;
  for (unsigned k = 1; k < level; ++k) {
    uint64_t v;
    if (!seg_read<W>(x, kSs, (bp - k * W) & m, &v)) return false;
    sp = (sp - W) & m;
    if (!seg_write<W>(x, kSs, sp, v)) return false;
  }
  if (level > 0) {
    sp = (sp - W) & m;
    if (!seg_write<W>(x, kSs, sp, frame)) return false;
  }
  sp = (sp - size) & m;
  reg_set<W>(x.s, kRbp, frame);
  reg_set_w(x.s, kRsp, sp, sw);
  return true;
}

// PUSHA/PUSHAD: AX, CX, DX, BX, the original SP, BP, SI, DI (invalid in
// 64-bit mode). All eight slots are written before RSP is committed.
template <unsigned W>
bool pusha(Exec& x, const Insn&) {
  unsigned sw = stack_width(x.s);
  uint64_t m = mask_for(sw);
  uint64_t sp = x.s.gpr[kRsp];
  for (unsigned r = 0; r < 8; ++r) {
    sp = (sp - W) & m;
    if (!seg_write<W>(x, kSs, sp, reg_get<W>(x.s, static_cast<uint8_t>(r)))) return false;
  }
  reg_set_w(x.s, kRsp, sp, sw);
  return true;
}
// POPA/POPAD: DI, SI, BP, (SP skipped), BX, DX, CX, AX.
template <unsigned W>
bool popa(Exec& x, const Insn&) {
  uint64_t v[8];
  for (unsigned k = 0; k < 8; ++k)
    if (!stack_peek<W>(x, k * W, &v[k])) return false;
  for (unsigned k = 0; k < 8; ++k) {
    unsigned r = 7 - k;
    if (r != kRsp) reg_set<W>(x.s, static_cast<uint8_t>(r), v[k]);
  }
  stack_adjust(x, 8 * W);
  return true;
}

}  // namespace skvm::cpu::exec
