#include "kvm/debug.h"

#include <cerrno>

namespace skvm::kvm {

int set_guest_debug(cpu::Cpu& cpu, const kvm_guest_debug& dbg) {
  if (dbg.control & (KVM_GUESTDBG_INJECT_DB | KVM_GUESTDBG_INJECT_BP)) {
    if (cpu.queued_exception().queued) return -EBUSY;  // kvm_is_exception_pending
    if (dbg.control & KVM_GUESTDBG_INJECT_DB) {
      cpu.queue_exception(cpu::kDB, false, 0);
    } else {
      // DEVIATION: KVM re-injects #BP with the length of the instruction of
      // the last exception exit; softkvm assumes the one-byte INT3 of a
      // KVM_GUESTDBG_USE_SW_BP exit.
      cpu.queue_exception(cpu::kBP, false, 0, 1);
    }
  }
  cpu::GuestDebug g;
  g.enable = (dbg.control & KVM_GUESTDBG_ENABLE) != 0;
  if (g.enable) {
    g.singlestep = (dbg.control & KVM_GUESTDBG_SINGLESTEP) != 0;
    g.sw_bp = (dbg.control & KVM_GUESTDBG_USE_SW_BP) != 0;
    g.hw_bp = (dbg.control & KVM_GUESTDBG_USE_HW_BP) != 0;
    if (g.hw_bp) {
      for (unsigned i = 0; i < 4; ++i) g.db[i] = dbg.arch.debugreg[i];
      g.dr7 = dbg.arch.debugreg[7];
    }
  }
  cpu.set_guest_debug(g);
  return 0;
}

void get_debugregs(const cpu::CpuState& s, kvm_debugregs* out) {
  *out = kvm_debugregs{};
  for (unsigned i = 0; i < 4; ++i) out->db[i] = s.dr[i];
  out->dr6 = s.dr6;
  out->dr7 = s.dr7;
}

int set_debugregs(cpu::CpuState& s, const kvm_debugregs& in) {
  if (in.flags != 0) return -EINVAL;
  if ((in.dr6 >> 32) != 0 || (in.dr7 >> 32) != 0) return -EINVAL;
  for (unsigned i = 0; i < 4; ++i) s.dr[i] = in.db[i];
  s.dr6 = in.dr6;
  s.dr7 = in.dr7;
  return 0;
}

}  // namespace skvm::kvm
