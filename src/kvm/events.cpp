#include "kvm/events.h"

#include <cerrno>

#include "cpu/events/debug.h"

namespace skvm::kvm {

namespace {

// The engine keeps the shadow in its own encoding (cpu/events/debug.h).
uint8_t shadow_to_kvm(uint8_t engine) {
  uint8_t k = 0;
  if (engine & cpu::kShadowMovSs) k |= KVM_X86_SHADOW_INT_MOV_SS;
  if (engine & cpu::kShadowSti) k |= KVM_X86_SHADOW_INT_STI;
  return k;
}
uint8_t shadow_from_kvm(uint8_t kvm) {
  uint8_t e = 0;
  if (kvm & KVM_X86_SHADOW_INT_MOV_SS) e |= cpu::kShadowMovSs;
  if (kvm & KVM_X86_SHADOW_INT_STI) e |= cpu::kShadowSti;
  return e;
}

// x86.c kvm_exception_is_soft.
bool is_soft(uint8_t vector) { return vector == cpu::kBP || vector == cpu::kOF; }

}  // namespace

void get_events(const cpu::Cpu& cpu, kvm_vcpu_events* e) {
  *e = kvm_vcpu_events{};
  const cpu::CpuState& s = cpu.state();
  const cpu::Cpu::QueuedException& ex = cpu.queued_exception();
  e->exception.injected = ex.queued && !is_soft(ex.vector) ? 1 : 0;
  e->exception.nr = ex.vector;
  e->exception.has_error_code = ex.has_error ? 1 : 0;
  e->exception.error_code = ex.error_code;
  uint8_t vector = 0;
  if (cpu.interrupt_queued(&vector)) {
    e->interrupt.injected = 1;
    e->interrupt.nr = vector;
  }
  e->interrupt.shadow = shadow_to_kvm(s.interrupt_shadow);
  e->nmi.pending = cpu.nmi_pending() != 0 ? 1 : 0;
  e->nmi.masked = s.nmi_masked ? 1 : 0;
  e->flags = KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM;
}

int set_events(cpu::Cpu& cpu, kvm_vcpu_events e) {
  constexpr uint32_t kKnown = KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR |
                              KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM |
                              KVM_VCPUEVENT_VALID_PAYLOAD | KVM_VCPUEVENT_VALID_TRIPLE_FAULT;
  if (e.flags & ~kKnown) return -EINVAL;
  // KVM_CAP_EXCEPTION_PAYLOAD is never enabled: VALID_PAYLOAD is EINVAL and
  // exception.pending is ignored.
  if (e.flags & KVM_VCPUEVENT_VALID_PAYLOAD) return -EINVAL;
  e.exception.pending = 0;
  if (e.exception.injected && (e.exception.nr > 31 || e.exception.nr == cpu::kNMI)) return -EINVAL;
  if ((e.flags & KVM_VCPUEVENT_VALID_SMM) && (e.smi.smm || e.smi.pending)) return -EINVAL;
  // KVM_CAP_X86_TRIPLE_FAULT_EVENT is never enabled.
  if (e.flags & KVM_VCPUEVENT_VALID_TRIPLE_FAULT) return -EINVAL;
  if (e.interrupt.injected && e.interrupt.soft) return -EINVAL;  // see the DEVIATIONS in events.h

  if (e.exception.injected) {
    cpu.queue_exception(e.exception.nr, e.exception.has_error_code != 0, e.exception.error_code);
  } else {
    cpu.clear_queued_exception();
  }
  if (e.interrupt.injected) cpu.queue_external_interrupt(e.interrupt.nr);
  else cpu.clear_queued_interrupt();
  cpu::CpuState& s = cpu.state();
  if (e.flags & KVM_VCPUEVENT_VALID_SHADOW) s.interrupt_shadow = shadow_from_kvm(e.interrupt.shadow);
  unsigned nmis = (e.flags & KVM_VCPUEVENT_VALID_NMI_PENDING) ? (e.nmi.pending ? 1u : 0u) : cpu.nmi_pending();
  if (e.nmi.injected) ++nmis;
  s.nmi_masked = e.nmi.masked != 0;
  cpu.set_nmi_pending(nmis);
  // sipi_vector is only kept with an in-kernel LAPIC (lapic_in_kernel).
  return 0;
}

}  // namespace skvm::kvm
