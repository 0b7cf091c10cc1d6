// SDM Vol. 3B chapter 17 (Debug, Branch Profile, TSC and Intel RTM): the
// debug registers as the engine applies them, and the KVM_SET_GUEST_DEBUG
// overrides (x86.c kvm_arch_vcpu_ioctl_set_guest_debug, vmx.c
// handle_exception_nmi).
//
// The run loop (exec/engine.cpp) takes its one-instruction-at-a-time debug
// path only while debug_armed(): RFLAGS.TF, an enabled DR7 breakpoint, or a
// KVM_GUESTDBG_ENABLE setting. Data breakpoints are watched by mmu/ (pages
// holding one never get read/write TLB tags, so every access to them takes
// the slow path, which records the hits).
#pragma once

#include <array>
#include <cstdint>

#include "cpu/cpu.h"

namespace skvm::cpu {

inline constexpr uint64_t kDr6Bs = 1u << 14;  // single step
inline constexpr uint64_t kDr6Bd = 1u << 13;  // general detect
inline constexpr uint64_t kDr6ActiveLow = 0xffff0ff0;  // x86.c DR6_ACTIVE_LOW
inline constexpr uint64_t kDr6Volatile = 0x0001e80f;   // x86.c DR6_VOLATILE
inline constexpr uint64_t kDr7Gd = 1u << 13;
inline constexpr uint64_t kDr7Volatile = 0xffff2bff;   // kvm_host.h DR7_VOLATILE
inline constexpr uint64_t kDr7Fixed1 = 0x400;

// Engine encoding of CpuState::interrupt_shadow (exec/ sets these).
inline constexpr uint8_t kShadowSti = 1, kShadowMovSs = 2;

// The breakpoints in force: KVM_GUESTDBG_USE_HW_BP's set when the client
// enabled it (x86.c: eff_db, guest_debug_dr7), the guest's DR0-3/DR7
// otherwise.
struct Breakpoints {
  std::array<uint64_t, 4> addr{};
  uint64_t dr7 = 0;
};
Breakpoints effective_breakpoints(const Cpu& cpu);

// Whether the run loop must take the debug path (checked once per block).
inline bool debug_armed(const Cpu& cpu) {
  const CpuState& s = cpu.state();
  return (s.rflags & kFlagTF) != 0 || (s.dr7 & 0xff) != 0 || cpu.guest_debug().enable;
}

// #DB goes to the client (KVM_EXIT_DEBUG) rather than the guest: vmx.c
// handle_exception_nmi, DB_VECTOR with KVM_GUESTDBG_SINGLESTEP or _USE_HW_BP.
inline bool db_exits_to_host(const Cpu& cpu) {
  const GuestDebug& g = cpu.guest_debug();
  return g.enable && (g.singlestep || g.hw_bp);
}

// DR6 bits B0-B3 of the enabled instruction breakpoints at linear address la
// (SDM 17.2.4: RW = 00; the length field is ignored for them).
uint64_t code_breakpoint_hits(const Cpu& cpu, uint64_t la);

// Program mmu/'s data-breakpoint watches from the effective breakpoints
// (RW = 01 writes, RW = 11 reads and writes; LEN 1, 2, 8, 4 bytes, the
// address aligned down to the length). Flushes the soft TLB when the set
// changed. Called at run() entry and after MOV DRn.
void update_data_breakpoints(Cpu& cpu);

// x86.c kvm_deliver_exception_payload (DB_VECTOR) and inject_pending_event:
// B0-B3 replaced by `bits`, the other DR6 bits kept; DR7.GD cleared.
void apply_db_payload(CpuState& s, uint64_t bits);

// Fill exit().debug for a #DB going to the client (pc = CS base + RIP).
// Returns Stop::kDebug.
Stop db_exit(Cpu& cpu, uint64_t bits);
// Fill exit().debug for an INT3 under KVM_GUESTDBG_USE_SW_BP (RIP on the
// INT3 instruction; DR6/DR7 in kvm_run untouched).
Stop bp_exit(Cpu& cpu);

// Linear address of CS:RIP in the current mode.
uint64_t linear_rip(const CpuState& s);

}  // namespace skvm::cpu
