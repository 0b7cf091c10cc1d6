// A KVM vCPU (the fd KVM_CREATE_VCPU returns): the kvm_run pages (a memfd
// the client mmaps), the CPU engine, the CPUID table, the signal mask, and
// KVM_RUN. Implements cpu::Bus for its engine. Every vCPU ioctl runs with
// mutex() held (the ABI layer takes it), as KVM's vcpu->mutex.
#pragma once

#include <linux/kvm.h>
#include <signal.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "base/fault.h"
#include "base/fd.h"
#include "base/mutex.h"
#include "cpu/cpu.h"
#include "kvm/cpuid.h"
#include "kvm/irqchip/lapic.h"
#include "kvm/tsc.h"

namespace skvm::kvm {

class Vm;

class Vcpu final : public cpu::Bus, private irq::LapicWaker, private irq::TscDeadlineClock {
 public:
  // Creates the vCPU and its memfd (sized KVM_GET_VCPU_MMAP_SIZE). *fd is
  // the client's handle; the Vcpu keeps only its own mapping of it.
  static int create(Vm& vm, uint32_t id, std::unique_ptr<Vcpu>* out, int* fd);
  ~Vcpu() override;

  uint32_t id() const { return id_; }
  Vm& vm() { return vm_; }
  base::Mutex& mutex() { return mu_; }
  kvm_run* run_page() { return run_; }
  cpu::Cpu& cpu() { return *cpu_; }

  // api.rst: KVM_RUN. Returns 0 (exit described in kvm_run) or -errno:
  // -EINTR with KVM_EXIT_INTR when kicked (a signal), -EINTR with exit_reason
  // untouched for immediate_exit (after completing a pending I/O or MMIO
  // instruction, as KVM), -EINVAL for a bad kvm_run.cr8 or sync-regs
  // request, -EFAULT for guest memory gone bad: the client unmapped or
  // protected memory of a slot and the guest touched it (the fault is
  // claimed by base/fault.h's handler; see run() for the state left).
  // Caller holds mutex().
  int run();

  void get_regs(kvm_regs* r) const;
  void set_regs(const kvm_regs& r);
  void get_sregs(kvm_sregs* r) const;
  int set_sregs(const kvm_sregs& r);
  void get_fpu(kvm_fpu* f) const;
  void set_fpu(const kvm_fpu& f);
  // One MSR of KVM_GET_MSRS / KVM_SET_MSRS (false stops the batch).
  bool get_msr(uint32_t index, uint64_t* value);
  bool set_msr(uint32_t index, uint64_t value);
  // api.rst: KVM_SET_CPUID2 (-EBUSY for a different table after KVM_RUN).
  int set_cpuid(std::vector<kvm_cpuid_entry2> entries);
  const std::vector<kvm_cpuid_entry2>& cpuid_entries() const { return cpuid_.entries(); }
  // api.rst: KVM_GET_TSC_KHZ / KVM_SET_TSC_KHZ (kvm/tsc.h).
  uint32_t tsc_khz() const { return tsc_.khz(); }
  int set_tsc_khz(uint32_t khz) { return tsc_.set_khz(khz); }
  // api.rst: KVM_TRANSLATE.
  void translate(kvm_translation* tr);
  // api.rst: KVM_GET_MP_STATE / KVM_SET_MP_STATE (no in-kernel irqchip:
  // only KVM_MP_STATE_RUNNABLE; with it: x86.c semantics, INIT/SIPI
  // accepted first on GET).
  void get_mp_state(kvm_mp_state* mp);
  int set_mp_state(const kvm_mp_state& mp);
  // api.rst: KVM_GET_VCPU_EVENTS / KVM_SET_VCPU_EVENTS (see kvm/events.h).
  void get_events(kvm_vcpu_events* e) const;
  int set_events(const kvm_vcpu_events& e);
  // api.rst: KVM_INTERRUPT (no in-kernel irqchip: the vector is queued for
  // the next instruction boundary where interrupts are allowed; -EINVAL for
  // irq >= 256) and KVM_NMI (always 0). See cpu::Cpu::queue_external_interrupt.
  int interrupt(uint32_t irq);
  int nmi();
  // api.rst: KVM_SET_SIGNAL_MASK, the kernel's 64-bit sigset (nullptr: none).
  void set_signal_mask(const uint64_t* mask);
  // api.rst: KVM_GET_LAPIC / KVM_SET_LAPIC (-EINVAL without an in-kernel
  // irqchip, as x86.c).
  int get_lapic(kvm_lapic_state* s);
  int set_lapic(const kvm_lapic_state& s);
  // The vCPU's local APIC (nullptr without KVM_CREATE_IRQCHIP before
  // KVM_CREATE_VCPU). Shared with the APIC bus.
  irq::Lapic* lapic() { return lapic_.get(); }
  // Any thread: something for this vCPU happened (interrupt, INIT/SIPI,
  // timer): stop its engine at the next block boundary or end its HLT
  // wait. KVM: kvm_vcpu_kick.
  void wake() override;

  // cpu::Bus.
  cpu::PhysPage lookup(uint64_t gpa) override;
  cpu::PhysRange lookup_range(uint64_t gpa) override;
  cpu::SharedCode* shared_code() override;
  void mark_dirty(uint64_t gpa) override;
  const std::atomic<uint64_t>& generation() const override;
  uint8_t* pio_page() override;
  void cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4]) override;
  uint64_t tsc() override;
  bool pio_in(uint16_t port, unsigned size, void* data) override;
  bool pio_out(uint16_t port, unsigned size, const void* data) override;
  bool mmio_read(uint64_t gpa, unsigned size, void* data) override;
  bool mmio_write(uint64_t gpa, unsigned size, const void* data) override;
  // Guest RDMSR/WRMSR of the MSRs outside the engine (vcpu_timer_msrs.cpp:
  // IA32_TSC_DEADLINE, MSR_KVM_SYSTEM_TIME_NEW, MSR_KVM_WALL_CLOCK_NEW).
  bool msr_read(uint32_t index, uint64_t* value) override;
  bool msr_write(uint32_t index, uint64_t value) override;

 private:
  Vcpu(Vm& vm, uint32_t id);
  int run_locked(std::atomic<int>& kick);
  bool unblocked_signal_pending() const;
  int finish(cpu::Stop stop, bool intr_sets_reason);
  void fill_exit(cpu::Stop stop);
  void post_run_save();
  int recover_from_fault();
  void apply_state_change();
  // In-kernel irqchip (vcpu_irq.cpp).
  void attach_lapic();
  void detach_lapic();
  int run_irqchip(std::atomic<int>& kick);
  int run_uninitialized(std::atomic<int>& kick);
  void sync_apic_base();
  bool accept_events();
  void inject_events();
  bool has_wake_event();
  void block(std::atomic<int>& kick);
  void init_reset();
  void timer_thread_main();
  static bool covers_guest_memory(const void* vm_memslots, uintptr_t addr);
  // vcpu_timer_msrs.cpp: the timer MSRs for the guest and for
  // KVM_GET/SET_MSRS (host = true), and irq::TscDeadlineClock.
  bool timer_msr_get(uint32_t index, uint64_t* value, bool host);
  bool timer_msr_set(uint32_t index, uint64_t value, bool host);
  uint64_t guest_tsc_to_ns(uint64_t guest_tsc) const override;
  // Rewrites the kvmclock record (MSR_KVM_SYSTEM_TIME_NEW) when the clock,
  // the TSC rate or the TSC offset changed since it was written. Touches
  // guest RAM: only with the fault recovery armed (KVM_RUN).
  void update_kvmclock();

  Vm& vm_;
  const uint32_t id_;
  base::Mutex mu_;  // held by the ABI layer around every vCPU ioctl
  base::SharedMapping pages_;
  kvm_run* run_ = nullptr;
  std::unique_ptr<cpu::Cpu> cpu_;
  CpuidTable cpuid_;
  GuestTsc tsc_;  // the guest TSC's rate and time base (kvm/tsc.h)
  // kvmclock (vcpu_timer_msrs.cpp): MSR_KVM_SYSTEM_TIME_NEW and what the
  // record in guest RAM was computed from (generation 0: rewrite).
  uint64_t system_time_msr_ = 0;
  uint64_t pvclock_generation_ = 0;
  uint64_t pvclock_tsc_offset_ = 0;
  uint32_t pvclock_tsc_khz_ = 0;
  bool has_run_ = false;
  bool exit_pending_ = false;      // the last exit was I/O or MMIO: the engine completes it
  bool mmio_read_pending_ = false;  // ... and it was an MMIO read: data comes from kvm_run
  bool has_sigmask_ = false;
  sigset_t sigmask_{};
  // The client's mask while sigmask_ is applied around guest execution.
  bool sigmask_applied_ = false;
  sigset_t saved_sigmask_{};
  // Armed around KVM_RUN and KVM_TRANSLATE (the code that touches guest RAM).
  base::FaultRecovery recovery_;

  // ---- In-kernel irqchip (vcpu_irq.cpp) ----
  std::shared_ptr<irq::Lapic> lapic_;
  uint32_t mp_state_ = KVM_MP_STATE_RUNNABLE;
  // The kick flag of the thread inside KVM_RUN (nullptr outside): wake()
  // raises bit 1 in it (bit 0 is the signal / immediate_exit kick) and
  // futex-wakes it.
  std::mutex kick_mu_;
  std::atomic<int>* running_kick_ = nullptr;
  // The LAPIC timer thread: sleeps until the next deadline, fires the timer
  // (Lapic::poll_timer), which wakes the vCPU.
  std::mutex timer_mu_;
  std::condition_variable timer_cv_;
  bool timer_stop_ = false;
  std::thread timer_thread_;
  // SKVM_TRACE_VCPU=1 (vcpu_irq.cpp): the run loop publishes where the
  // guest was at its last stop; the timer thread prints it every 2 s.
  std::atomic<uint64_t> trace_rip_{0};
  std::atomic<uint32_t> trace_state_{0};  // mp_state | IF << 8 | in KVM_RUN << 9
  void trace_dump();
};

}  // namespace skvm::kvm
