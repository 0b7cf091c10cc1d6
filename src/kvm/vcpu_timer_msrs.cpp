// The vCPU's timer MSRs outside the CPU engine, for guest RDMSR/WRMSR
// (cpu::Bus::msr_read/msr_write) and KVM_GET/SET_MSRS (x86.c:
// kvm_set_msr_common / kvm_get_msr_common): IA32_TSC_DEADLINE and the
// kvmclock MSRs (Documentation/virt/kvm/x86/msr.rst), and the x2APIC MSRs
// 0x800..0x8ff (x86.c: APIC_BASE_MSR ... -> kvm_x2apic_msr_read/write,
// for guest and host accesses alike; kvm/irqchip/lapic_x2apic.cpp).
#include "kvm/irqchip/lapic.h"
#include "kvm/kvmclock.h"
#include "kvm/vcpu.h"
#include "kvm/vm.h"

namespace skvm::kvm {

namespace {

constexpr uint64_t kPageOffsetMask = 0xfff;

}  // namespace

bool Vcpu::msr_read(uint32_t index, uint64_t* value) { return timer_msr_get(index, value, /*host=*/false); }

bool Vcpu::msr_write(uint32_t index, uint64_t value) { return timer_msr_set(index, value, /*host=*/false); }

bool Vcpu::timer_msr_get(uint32_t index, uint64_t* value, bool host) {
  (void)host;
  if (index >= irq::kX2apicMsrBase && index <= irq::kX2apicMsrLast) {
    // lapic.c: kvm_x2apic_msr_read: #GP without an in-kernel LAPIC or
    // outside x2APIC mode.
    if (!lapic_) return false;
    sync_apic_base();  // an IA32_APIC_BASE write earlier in this run
    return lapic_->x2apic_msr_read(index, value);
  }
  switch (index) {
    case kMsrTscDeadline:
      // lapic.c: kvm_get_lapic_tscdeadline_msr: 0 without an in-kernel
      // LAPIC or outside TSC-deadline mode.
      *value = lapic_ ? lapic_->tsc_deadline() : 0;
      return true;
    case kMsrKvmSystemTimeNew:
      *value = system_time_msr_;
      return true;
    case kMsrKvmWallClockNew:
      *value = vm_.kvmclock().wall_clock_msr();
      return true;
    default:
      return false;
  }
}

bool Vcpu::timer_msr_set(uint32_t index, uint64_t value, bool host) {
  if (index >= irq::kX2apicMsrBase && index <= irq::kX2apicMsrLast) {
    // lapic.c: kvm_x2apic_msr_write.
    if (!lapic_) return false;
    sync_apic_base();
    if (!lapic_->x2apic_msr_write(index, value)) return false;
    cpu_->state().cr8 = lapic_->cr8();  // a TPR write is visible as CR8 at once
    return true;
  }
  switch (index) {
    case kMsrTscDeadline:
      // lapic.c: kvm_set_lapic_tscdeadline_msr: ignored without an
      // in-kernel LAPIC or outside TSC-deadline mode; never #GP.
      if (lapic_) lapic_->set_tsc_deadline(value);
      return true;
    case kMsrKvmSystemTimeNew:
      // x86.c: kvm_write_system_time: any value; bit 0 enables the record
      // at value & ~1, written before the guest runs again.
      system_time_msr_ = value;
      pvclock_generation_ = 0;
      if (!host) update_kvmclock();  // inside KVM_RUN: recovery armed
      return true;
    case kMsrKvmWallClockNew: {
      // x86.c: kvm->arch.wall_clock = data; kvm_write_wall_clock.
      // DEVIATION: a host-initiated write (KVM_SET_MSRS) only records the
      // address: client memory is touched only inside KVM_RUN here.
      vm_.kvmclock().set_wall_clock_msr(value);
      if (host) return true;
      if ((value & kPageOffsetMask) + sizeof(PvclockWallClock) > cpu::kPageSize) return true;
      const cpu::PhysPage page = vm_.memslots().lookup(value & ~kPageOffsetMask);
      if (page.host == nullptr || !page.writable) return true;  // kvm_write_guest fails: ignored
      uint32_t sec = 0, nsec = 0;
      vm_.kvmclock().wall_clock(&sec, &nsec);
      publish_wall_clock(page.host + (value & kPageOffsetMask), sec, nsec);
      if (page.dirty_log) vm_.memslots().mark_dirty(value & ~kPageOffsetMask);
      return true;
    }
    default:
      return false;
  }
}

void Vcpu::update_kvmclock() {
  if (!(system_time_msr_ & 1)) return;
  const KvmClock& clock = vm_.kvmclock();
  const uint64_t generation = clock.generation();
  const uint64_t tsc_offset = cpu_->state().msr.tsc_offset;
  if (generation == pvclock_generation_ && tsc_offset == pvclock_tsc_offset_ && tsc_.khz() == pvclock_tsc_khz_)
    return;
  pvclock_generation_ = generation;
  pvclock_tsc_offset_ = tsc_offset;
  pvclock_tsc_khz_ = tsc_.khz();
  const uint64_t gpa = system_time_msr_ & ~uint64_t{1};
  // gfn_to_pfn_cache: a record crossing a page is never activated.
  if ((gpa & kPageOffsetMask) + sizeof(PvclockVcpuTimeInfo) > cpu::kPageSize) return;
  const cpu::PhysPage page = vm_.memslots().lookup(gpa & ~kPageOffsetMask);
  if (page.host == nullptr || !page.writable) return;
  const uint64_t tsc_at_reference = tsc_.ticks_at(clock.reference_ns()) + tsc_offset;
  publish_time_info(page.host + (gpa & kPageOffsetMask), make_time_info(clock, tsc_at_reference, tsc_.khz()));
  if (page.dirty_log) vm_.memslots().mark_dirty(gpa & ~kPageOffsetMask);
}

// irq::TscDeadlineClock: the guest TSC is the counter plus the engine's
// IA32_TSC offset; a deadline at or before the current value (unsigned, as
// lapic.c: start_sw_tscdeadline compares) is due now.
uint64_t Vcpu::guest_tsc_to_ns(uint64_t guest_tsc) const {
  const uint64_t now_ns = tsc_.clock().now_ns();
  const uint64_t now_ticks = tsc_.ticks_at(now_ns);
  const uint64_t now_guest = now_ticks + cpu_->state().msr.tsc_offset;
  if (guest_tsc <= now_guest) return now_ns;
  return tsc_.ns_at(now_ticks + (guest_tsc - now_guest));
}

}  // namespace skvm::kvm
