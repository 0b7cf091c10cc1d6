// Vcpu with the in-kernel irqchip: its local APIC, the KVM_RUN loop that
// injects LAPIC/PIC interrupts and blocks in HLT, INIT/SIPI and MP state,
// KVM_GET/SET_LAPIC, and the LAPIC timer thread (x86.c: vcpu_run,
// vcpu_block, inject_pending_event, kvm_apic_accept_events).
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "kvm/irqchip/lapic_bus.h"
#include "kvm/regs.h"
#include "kvm/vcpu.h"
#include "kvm/vm.h"

namespace skvm::kvm {

namespace {

// Bit 0 of the kick flag: a signal or immediate_exit (base/kick.h). Bit 1:
// an internal wake-up (interrupt, timer, INIT/SIPI), which never leaves
// KVM_RUN.
constexpr int kKickSignal = 1, kKickEvent = 2;

// SKVM_TRACE_VCPU=1: every 2 s each vCPU's timer thread prints its state
// (a stuck SMP guest shows which vCPU waits for what).
bool trace_vcpu() {
  static const bool on = std::getenv("SKVM_TRACE_VCPU") != nullptr;
  return on;
}

int highest_bit(const irq::Lapic& l, uint32_t base) {
  for (int i = 7; i >= 0; --i) {
    const uint32_t w = l.reg(base + static_cast<uint32_t>(i) * 0x10);
    if (w != 0) return i * 32 + 31 - __builtin_clz(w);
  }
  return -1;
}

}  // namespace

void Vcpu::trace_dump() {
  const uint32_t st = trace_state_.load(std::memory_order_relaxed);
  const uint64_t deadline = lapic_->next_deadline_ns();
  const uint64_t now = vm_.system().clock().now_ns();
  std::fprintf(stderr,
               "vcpu %u: mp_state %u IF %u in_run %u rip %#llx | IRR %d ISR %d TPR %#x LVTT %#x "
               "TMICT %#x LVT0 %#x SVR %#x | timer in %lld us\n",
               id_, st & 0xff, (st >> 8) & 1, (st >> 9) & 1,
               static_cast<unsigned long long>(trace_rip_.load(std::memory_order_relaxed)),
               highest_bit(*lapic_, irq::kApicIrr), highest_bit(*lapic_, irq::kApicIsr),
               lapic_->reg(irq::kApicTaskPri), lapic_->reg(irq::kApicLvtt), lapic_->reg(irq::kApicTmict),
               lapic_->reg(irq::kApicLvt0), lapic_->reg(irq::kApicSpiv),
               deadline == UINT64_MAX ? -1LL : static_cast<long long>((deadline - now) / 1000));
}

// Called from Vcpu::create when the VM has an in-kernel irqchip (x86.c:
// kvm_arch_vcpu_create: kvm_create_lapic; APs start UNINITIALIZED).
void Vcpu::attach_lapic() {
  irq::ApicBus* bus = vm_.apic_bus();
  if (bus == nullptr) return;
  lapic_ = std::make_shared<irq::Lapic>(id_, vm_.system().clock(), bus, vm_.irqchip_port());
  lapic_->reset(false, cpu_->state().apic_base);
  lapic_->set_waker(this);
  lapic_->set_tsc_clock(this);  // IA32_TSC_DEADLINE (vcpu_timer_msrs.cpp)
  irq::LapicBus::of(*bus).attach(lapic_);
  mp_state_ = id_ == 0 ? KVM_MP_STATE_RUNNABLE : KVM_MP_STATE_UNINITIALIZED;
  timer_thread_ = std::thread([this] { timer_thread_main(); });
}

void Vcpu::detach_lapic() {
  if (!lapic_) return;
  {
    std::lock_guard lock(timer_mu_);
    timer_stop_ = true;
  }
  timer_cv_.notify_all();
  if (timer_thread_.joinable()) timer_thread_.join();
  lapic_->set_waker(nullptr);
}

// kvm_vcpu_kick: raise the event bit of the running thread's kick flag and
// wake it if it waits in block(); poke the timer thread (a new deadline).
void Vcpu::wake() {
  {
    std::lock_guard lock(kick_mu_);
    if (running_kick_ != nullptr) {
      running_kick_->fetch_or(kKickEvent);
      // SAFETY: std::atomic<int> is a lock-free int (base/kick.h
      // static_assert): the futex word is its storage.
      syscall(SYS_futex, reinterpret_cast<int*>(running_kick_), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
    }
  }
  std::lock_guard lock(timer_mu_);
  timer_cv_.notify_all();
}

void Vcpu::timer_thread_main() {
  const base::Clock& clock = vm_.system().clock();
  std::unique_lock lock(timer_mu_);
  uint64_t next_trace = clock.now_ns();
  while (!timer_stop_) {
    const uint64_t deadline = lapic_->next_deadline_ns();
    if (trace_vcpu()) {
      const uint64_t now = clock.now_ns();
      if (now >= next_trace) {
        trace_dump();
        next_trace = now + 2'000'000'000;
      }
      if (deadline > next_trace) {
        timer_cv_.wait_for(lock, std::chrono::nanoseconds(next_trace - now));
        continue;
      }
    }
    if (deadline == UINT64_MAX) {
      timer_cv_.wait(lock);
      continue;
    }
    const uint64_t now = clock.now_ns();
    if (now >= deadline) {
      lock.unlock();
      lapic_->poll_timer();  // fires and wakes the vCPU
      lock.lock();
      continue;
    }
    timer_cv_.wait_for(lock, std::chrono::nanoseconds(deadline - now));
  }
}

// The engine's IA32_APIC_BASE (WRMSR, KVM_SET_SREGS, KVM_SET_MSRS) is the
// architectural value; the LAPIC follows it (lapic.c: kvm_lapic_set_base).
void Vcpu::sync_apic_base() {
  const uint64_t base = cpu_->state().apic_base;
  if (lapic_->base() != base) lapic_->set_base(base);
}

// x86.c: kvm_vcpu_reset(vcpu, init_event = true): registers as at RESET,
// except IA32_APIC_BASE, the MSRs, x87/SSE state, XCR0 and CR0.CD/NW; the
// LAPIC keeps its ID and base; queued events are dropped.
void Vcpu::init_reset() {
  cpu::CpuState& s = cpu_->state();
  const cpu::CpuState old = s;
  reset_state(s, (old.apic_base & irq::kApicBaseBsp) != 0);
  s.apic_base = old.apic_base;
  s.msr = old.msr;
  s.fxsave = old.fxsave;
  s.xcr0 = old.xcr0;
  s.cr0 = cpu::kCr0ET | (old.cr0 & (cpu::kCr0CD | cpu::kCr0NW));
  uint32_t leaf1[4] = {};
  cpuid_.lookup(1, 0, leaf1);
  s.gpr[cpu::kRdx] = leaf1[0] != 0 ? leaf1[0] : 0x600;
  cpu_->clear_queued_interrupt();
  cpu_->set_nmi_pending(0);
  cpu_->set_interrupt_window_request(false);
  lapic_->reset(true, s.apic_base);
}

// lapic.c: kvm_apic_accept_events. Returns true when the register state
// changed (the caller tells the engine).
bool Vcpu::accept_events() {
  uint8_t sipi_vector = 0;
  const bool init = lapic_->init_pending();
  const bool sipi = lapic_->sipi_pending(&sipi_vector);
  if (!init && !sipi) return false;
  bool changed = false;
  if (init) {
    lapic_->clear_init();
    init_reset();
    // lapic.c: kvm_vcpu_is_bsp (IA32_APIC_BASE.BSP).
    const bool bsp = (cpu_->state().apic_base & irq::kApicBaseBsp) != 0;
    mp_state_ = bsp ? KVM_MP_STATE_RUNNABLE : KVM_MP_STATE_INIT_RECEIVED;
    changed = true;
  }
  if (sipi) {
    lapic_->clear_sipi();
    if (mp_state_ == KVM_MP_STATE_INIT_RECEIVED) {
      // x86.c: kvm_vcpu_deliver_sipi_vector.
      cpu::CpuState& s = cpu_->state();
      s.seg[cpu::kCs].selector = static_cast<uint16_t>(sipi_vector << 8);
      s.seg[cpu::kCs].base = static_cast<uint64_t>(sipi_vector) << 12;
      s.rip = 0;
      mp_state_ = KVM_MP_STATE_RUNNABLE;
      changed = true;
    }
  }
  return changed;
}

// x86.c: kvm_vcpu_has_events (what ends a HLT): NMI, INIT/SIPI, or with
// interrupts allowed an interrupt from the LAPIC or the PIC (ExtINT).
bool Vcpu::has_wake_event() {
  if (cpu_->nmi_pending() != 0 || lapic_->nmi_pending()) return true;
  if (lapic_->init_pending() || lapic_->sipi_pending(nullptr)) return true;
  if (!(cpu_->state().rflags & cpu::kFlagIF)) return false;
  if (cpu_->interrupt_queued(nullptr)) return true;
  if (lapic_->has_interrupt() >= 0) return true;
  irq::IrqchipPort* port = vm_.irqchip_port();
  return port != nullptr && lapic_->accepts_pic_interrupt() && port->pic_has_interrupt();
}

// x86.c: inject_pending_event / kvm_cpu_get_interrupt: NMIs go to the
// engine's NMI queue; the PIC (LINT0 ExtINT) before the LAPIC; acknowledged
// only when the guest can take it now, else an internal interrupt window is
// requested (never reported to the client).
void Vcpu::inject_events() {
  for (unsigned n = lapic_->take_nmis(); n > 0; --n) cpu_->queue_nmi();
  if (cpu_->interrupt_queued(nullptr)) {
    cpu_->set_interrupt_window_request(false);
    return;
  }
  irq::IrqchipPort* port = vm_.irqchip_port();
  const bool extint = port != nullptr && lapic_->accepts_pic_interrupt() && port->pic_has_interrupt();
  if (!extint && lapic_->has_interrupt() < 0) {
    cpu_->set_interrupt_window_request(false);
    return;
  }
  const cpu::CpuState& s = cpu_->state();
  if (!(s.rflags & cpu::kFlagIF) || s.interrupt_shadow != 0) {
    cpu_->set_interrupt_window_request(true);
    return;
  }
  cpu_->set_interrupt_window_request(false);
  const int vector = extint ? port->pic_acknowledge() : lapic_->acknowledge();
  if (vector >= 0) cpu_->queue_external_interrupt(static_cast<uint8_t>(vector));
}

// x86.c: kvm_vcpu_block: sleep on the kick flag until wake() or a signal
// (whose handler raises bit 0 and interrupts the futex wait). The timer
// thread fires LAPIC timers; the timeout is a second line.
void Vcpu::block(std::atomic<int>& kick) {
  if (kick.load() != 0) return;
  const uint64_t deadline = lapic_->next_deadline_ns();
  timespec ts{};
  timespec* timeout = nullptr;
  if (deadline != UINT64_MAX) {
    const uint64_t now = vm_.system().clock().now_ns();
    const uint64_t rel = deadline > now ? deadline - now : 0;
    ts.tv_sec = static_cast<time_t>(rel / 1'000'000'000u);
    ts.tv_nsec = static_cast<long>(rel % 1'000'000'000u);
    timeout = &ts;
  }
  // SAFETY: see wake().
  syscall(SYS_futex, reinterpret_cast<int*>(&kick), FUTEX_WAIT_PRIVATE, 0, timeout, nullptr, 0);
}

// The KVM_RUN loop with an in-kernel irqchip (x86.c: vcpu_run): exits to
// the client only for I/O and MMIO no in-kernel device claims, shutdown,
// internal errors, debug, and signals (-EINTR, KVM_EXIT_INTR).
int Vcpu::run_irqchip(std::atomic<int>& kick) {
  {
    std::lock_guard lock(kick_mu_);
    running_kick_ = &kick;
  }
  int result = 0;
  cpu::CpuState& s = cpu_->state();
  for (;;) {
    if (kick.load() & kKickSignal) {
      run_->exit_reason = KVM_EXIT_INTR;
      result = -EINTR;
      break;
    }
    kick.fetch_and(~kKickEvent);
    sync_apic_base();
    lapic_->poll_timer();
    update_kvmclock();  // a guest IA32_TSC write (vcpu_timer_msrs.cpp)
    if (accept_events()) cpu_->state_changed();
    if (mp_state_ != KVM_MP_STATE_RUNNABLE) {
      if (mp_state_ == KVM_MP_STATE_HALTED && has_wake_event()) {
        mp_state_ = KVM_MP_STATE_RUNNABLE;
        // The HLT retired: an STI / MOV SS shadow on it is over (SDM Vol.
        // 3A, 6.8.3), so `sti; hlt` takes the interrupt right after the HLT.
      } else {
        block(kick);
        continue;
      }
    }
    inject_events();
    s.cr8 = lapic_->cr8();
    const cpu::Stop stop = cpu_->run(&kick);
    if (trace_vcpu()) {
      trace_rip_.store(s.rip, std::memory_order_relaxed);
      trace_state_.store(mp_state_ | ((s.rflags & cpu::kFlagIF) ? 0x100u : 0u) | 0x200u,
                         std::memory_order_relaxed);
    }
    // MOV CR8 (x86.c: kvm_set_cr8); an xAPIC TPR write already updated both.
    if (s.cr8 != lapic_->cr8()) lapic_->set_cr8(s.cr8);
    if (stop == cpu::Stop::kKick || stop == cpu::Stop::kIrqWindowOpen) continue;
    if (stop == cpu::Stop::kHlt) {
      // x86.c: kvm_emulate_halt -> KVM_MP_STATE_HALTED; the vCPU blocks in
      // the kernel instead of exiting.
      mp_state_ = KVM_MP_STATE_HALTED;
      if (trace_vcpu())
        trace_state_.store(mp_state_ | ((s.rflags & cpu::kFlagIF) ? 0x100u : 0u) | 0x200u,
                           std::memory_order_relaxed);
      continue;
    }
    result = finish(stop, /*intr_sets_reason=*/true);
    break;
  }
  {
    std::lock_guard lock(kick_mu_);
    running_kick_ = nullptr;
  }
  if (trace_vcpu()) trace_state_.fetch_and(~0x200u, std::memory_order_relaxed);
  return result;
}

// x86.c: kvm_arch_vcpu_ioctl_run, an UNINITIALIZED AP: block until an event
// (INIT/SIPI) or a signal, accept the events, then -EAGAIN (or -EINTR with
// KVM_EXIT_INTR for a signal). The client calls KVM_RUN again.
int Vcpu::run_uninitialized(std::atomic<int>& kick) {
  {
    std::lock_guard lock(kick_mu_);
    running_kick_ = &kick;
  }
  while (!(kick.load() & kKickSignal) && !lapic_->init_pending() && !lapic_->sipi_pending(nullptr)) {
    kick.fetch_and(~kKickEvent);
    if (lapic_->init_pending() || lapic_->sipi_pending(nullptr)) break;
    block(kick);
  }
  {
    std::lock_guard lock(kick_mu_);
    running_kick_ = nullptr;
  }
  if (accept_events()) cpu_->state_changed();
  if (kick.load() & kKickSignal) {
    run_->exit_reason = KVM_EXIT_INTR;
    return -EINTR;
  }
  return -EAGAIN;
}

// ---- State ioctls ---------------------------------------------------------------

// x86.c: kvm_arch_vcpu_ioctl_get_mpstate (events are accepted first).
void Vcpu::get_mp_state(kvm_mp_state* mp) {
  if (!lapic_) {
    mp->mp_state = KVM_MP_STATE_RUNNABLE;
    return;
  }
  if (accept_events()) apply_state_change();
  mp->mp_state = mp_state_;
}

// x86.c: kvm_arch_vcpu_ioctl_set_mpstate.
int Vcpu::set_mp_state(const kvm_mp_state& mp) {
  switch (mp.mp_state) {
    case KVM_MP_STATE_RUNNABLE:
      break;
    case KVM_MP_STATE_UNINITIALIZED:
    case KVM_MP_STATE_HALTED:
    case KVM_MP_STATE_AP_RESET_HOLD:
    case KVM_MP_STATE_INIT_RECEIVED:
    case KVM_MP_STATE_SIPI_RECEIVED:
      if (!lapic_) return -EINVAL;
      break;
    default:
      return -EINVAL;
  }
  if (!lapic_) {
    cpu_->state().halted = false;
    return 0;
  }
  if (mp.mp_state == KVM_MP_STATE_SIPI_RECEIVED) {
    mp_state_ = KVM_MP_STATE_INIT_RECEIVED;
    lapic_->force_sipi_pending();
  } else {
    mp_state_ = mp.mp_state;
  }
  return 0;
}

int Vcpu::get_lapic(kvm_lapic_state* s) {
  if (!lapic_) return -EINVAL;
  sync_apic_base();
  lapic_->get_state(s);
  return 0;
}

int Vcpu::set_lapic(const kvm_lapic_state& s) {
  if (!lapic_) return -EINVAL;
  sync_apic_base();
  lapic_->set_state(s);
  return 0;
}

// ---- cpu::Bus: in-kernel devices ----------------------------------------------

bool Vcpu::pio_in(uint16_t port, unsigned size, void* data) { return vm_.pio(port, false, size, data); }

bool Vcpu::pio_out(uint16_t port, unsigned size, const void* data) {
  // SAFETY: Vm::pio does not write through `data` for a write access.
  return vm_.pio(port, true, size, const_cast<void*>(data));
}

// lapic.c: apic_mmio_read/write claim the APIC page first, then the other
// in-kernel MMIO devices (IOAPIC, ioeventfds).
bool Vcpu::mmio_read(uint64_t gpa, unsigned size, void* data) {
  if (lapic_) {
    sync_apic_base();
    if (lapic_->in_mmio_range(gpa)) {
      lapic_->mmio_read(static_cast<uint32_t>(gpa & 0xfff), size, data);
      return true;
    }
  }
  return vm_.mmio(gpa, false, size, data);
}

bool Vcpu::mmio_write(uint64_t gpa, unsigned size, const void* data) {
  if (lapic_) {
    sync_apic_base();
    if (lapic_->in_mmio_range(gpa)) {
      lapic_->mmio_write(static_cast<uint32_t>(gpa & 0xfff), size, data);
      cpu_->state().cr8 = lapic_->cr8();  // a TPR write is visible as CR8 at once
      return true;
    }
  }
  // SAFETY: as pio_out.
  return vm_.mmio(gpa, true, size, const_cast<void*>(data));
}

}  // namespace skvm::kvm
