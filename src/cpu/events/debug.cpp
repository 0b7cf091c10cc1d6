// SDM Vol. 3B chapter 17: breakpoint matching, DR6 payloads and the
// KVM_EXIT_DEBUG exits of KVM_SET_GUEST_DEBUG (see debug.h).
#include "cpu/events/debug.h"

#include "cpu/core.h"
#include "cpu/mmu/mmu_impl.h"

namespace skvm::cpu {

Breakpoints effective_breakpoints(const Cpu& cpu) {
  const GuestDebug& g = cpu.guest_debug();
  Breakpoints b;
  if (g.enable && g.hw_bp) {
    b.addr = g.db;
    b.dr7 = g.dr7;
  } else {
    b.addr = cpu.state().dr;
    b.dr7 = cpu.state().dr7;
  }
  return b;
}

namespace {

bool enabled(uint64_t dr7, unsigned k) { return ((dr7 >> (2 * k)) & 3) != 0; }
unsigned rw_bits(uint64_t dr7, unsigned k) { return (dr7 >> (16 + 4 * k)) & 3; }
// SDM Vol. 3B 17.2.5, table 17-1 (LEN): 00 1 byte, 01 2, 10 8, 11 4.
unsigned len_bytes(uint64_t dr7, unsigned k) {
  static constexpr unsigned kLen[4] = {1, 2, 8, 4};
  return kLen[(dr7 >> (18 + 4 * k)) & 3];
}

}  // namespace

uint64_t linear_rip(const CpuState& s) {
  const bool long64 = (s.efer & kEferLMA) && s.seg[kCs].l;
  const uint64_t la = s.seg[kCs].base + s.rip;
  return long64 ? la : (la & 0xffffffffull);
}

uint64_t code_breakpoint_hits(const Cpu& cpu, uint64_t la) {
  const Breakpoints b = effective_breakpoints(cpu);
  uint64_t hits = 0;
  for (unsigned k = 0; k < 4; ++k) {
    if (enabled(b.dr7, k) && rw_bits(b.dr7, k) == 0 && b.addr[k] == la) hits |= 1u << k;
  }
  return hits;
}

void update_data_breakpoints(Cpu& cpu) {
  const Breakpoints b = effective_breakpoints(cpu);
  std::array<MmuImpl::Watch, 4> w{};
  unsigned n = 0;
  for (unsigned k = 0; k < 4; ++k) {
    const unsigned rw = rw_bits(b.dr7, k);
    // RW = 10 is an I/O breakpoint with CR4.DE (not implemented: the
    // engine's CPUID leaves DE to the table, and I/O breakpoints never fire).
    if (!enabled(b.dr7, k) || (rw != 1 && rw != 3)) continue;
    const uint64_t len = len_bytes(b.dr7, k);
    const uint64_t first = b.addr[k] & ~(len - 1);
    w[n++] = MmuImpl::Watch{first, first + len - 1, static_cast<uint8_t>(1u << k), rw == 3};
  }
  if (cpu.mmu().set_watches(w, n)) tlb_flush_all(cpu);
}

void apply_db_payload(CpuState& s, uint64_t bits) {
  // x86.c kvm_deliver_exception_payload: DR_TRAP_BITS cleared, the payload
  // ORed in (none of our bits is active-low), bit 12 cleared.
  s.dr6 = ((s.dr6 & ~0xfull) | kDr6ActiveLow | bits) & ~(1ull << 12);
  s.dr7 &= ~kDr7Gd;
}

Stop db_exit(Cpu& cpu, uint64_t bits) {
  DebugExit& d = cpu.exit().debug;
  d = DebugExit{};
  d.exception = kDB;
  d.pc = linear_rip(cpu.state());
  d.dr6 = bits | kDr6ActiveLow;
  d.dr7 = effective_breakpoints(cpu).dr7;
  d.has_dr = true;
  cpu.exit().reason = Stop::kDebug;
  return Stop::kDebug;
}

Stop bp_exit(Cpu& cpu) {
  DebugExit& d = cpu.exit().debug;
  d = DebugExit{};
  d.exception = kBP;
  d.pc = linear_rip(cpu.state());
  d.has_dr = false;
  cpu.exit().reason = Stop::kDebug;
  return Stop::kDebug;
}

}  // namespace skvm::cpu
