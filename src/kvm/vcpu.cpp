#include "kvm/vcpu.h"

#include <pthread.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/clock.h"
#include "base/kick.h"
#include "kvm/events.h"
#include "kvm/limits.h"
#include "kvm/regs.h"
#include "kvm/vm.h"

namespace skvm::kvm {

// x86.c: kvm_arch_vcpu_create: kvm_set_tsc_khz(vcpu, kvm->arch.default_tsc_khz).
Vcpu::Vcpu(Vm& vm, uint32_t id)
    : vm_(vm), id_(id), tsc_(vm.system().clock(), vm.kvmclock().default_tsc_khz()) {}

Vcpu::~Vcpu() { detach_lapic(); }

int Vcpu::create(Vm& vm, uint32_t id, std::unique_ptr<Vcpu>* out, int* fd) {
  // kvm_main.c: create_vcpu_fd -> anon_inode_getfd(..., O_RDWR | O_CLOEXEC).
  int memfd = base::make_memfd("kvm-vcpu", kVcpuMmapSize);
  if (memfd < 0) return memfd;
  // KVM_RUN's EFAULT for client memory gone bad needs the fault handler.
  base::install_fault_handler();
  std::unique_ptr<Vcpu> v(new Vcpu(vm, id));
  int r = v->pages_.map(memfd, kVcpuMmapSize);
  if (r < 0) {
    ::close(memfd);
    return r;
  }
  // SAFETY: page 0 of a fresh zero-filled shared mapping of kVcpuMmapSize
  // bytes, page aligned: room and alignment for struct kvm_run (< 4096).
  static_assert(sizeof(kvm_run) <= kPageSize);
  v->run_ = reinterpret_cast<kvm_run*>(v->pages_.data());
  v->cpu_ = std::make_unique<cpu::Cpu>(*v);
  reset_state(v->cpu_->state(), id == 0);
  v->cpu_->state_changed();
  if (vm.irqchip_in_kernel()) v->attach_lapic();
  *out = std::move(v);
  *fd = memfd;
  return 0;
}

// ---- cpu::Bus ---------------------------------------------------------------

cpu::PhysPage Vcpu::lookup(uint64_t gpa) { return vm_.memslots().lookup(gpa); }
cpu::PhysRange Vcpu::lookup_range(uint64_t gpa) { return vm_.memslots().lookup_range(gpa); }
cpu::SharedCode* Vcpu::shared_code() { return &vm_.shared_code(); }
void Vcpu::mark_dirty(uint64_t gpa) { vm_.memslots().mark_dirty(gpa); }
const std::atomic<uint64_t>& Vcpu::generation() const { return vm_.memslots().generation(); }
// The PIO data page is page KVM_PIO_PAGE_OFFSET of the vCPU mapping.
uint8_t* Vcpu::pio_page() { return pages_.data() + KVM_PIO_PAGE_OFFSET * kPageSize; }
void Vcpu::cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4]) { cpuid_.lookup(leaf, subleaf, out); }
uint64_t Vcpu::tsc() { return tsc_.now(); }

// Cpu::state_changed() outside guest execution. In PAE paging mode it
// reloads the PDPTEs from guest memory (as KVM_SET_SREGS does), which the
// client may have unmapped: KVM's load_pdptrs() then fails and keeps the
// old PDPTRs, and the ioctl still succeeds (x86.c: __set_sregs ignores it).
// Here the fault is claimed, and the rest of state_changed() is redone
// with CR4.PAE masked for the call, so the PDPTEs stay as they were.
void Vcpu::apply_state_change() {
  recovery_.covers = covers_guest_memory;
  recovery_.ctx = &vm_.memslots();
  if (sigsetjmp(recovery_.env, 0) == 0) {
    base::arm_fault_recovery(&recovery_);
    cpu_->state_changed();
  } else {
    cpu::CpuState& s = cpu_->state();
    const uint64_t cr4 = s.cr4;
    s.cr4 &= ~cpu::kCr4PAE;
    cpu_->state_changed();
    s.cr4 = cr4;
  }
  base::arm_fault_recovery(nullptr);
}

// ---- State ioctls -------------------------------------------------------------

void Vcpu::get_regs(kvm_regs* r) const { kvm::get_regs(cpu_->state(), r); }

void Vcpu::set_regs(const kvm_regs& r) {
  kvm::set_regs(cpu_->state(), r);
  apply_state_change();
}

// x86.c: __get_sregs reports an injected, non-soft interrupt (the
// KVM_INTERRUPT vector still queued) as its bit in interrupt_bitmap.
void Vcpu::get_sregs(kvm_sregs* r) const {
  kvm::get_sregs(cpu_->state(), r);
  uint8_t vector = 0;
  if (cpu_->interrupt_queued(&vector)) r->interrupt_bitmap[vector / 64] |= 1ull << (vector % 64);
}

// x86.c: __set_sregs queues the lowest vector set in interrupt_bitmap as an
// injected interrupt (kvm_queue_interrupt); an empty bitmap leaves the queue.
int Vcpu::set_sregs(const kvm_sregs& r) {
  uint32_t leaf1[4];
  cpuid_.lookup(1, 0, leaf1);
  const bool x2apic = (leaf1[2] & (1u << 21)) != 0;  // CPUID.1:ECX.x2APIC
  int e = check_sregs(r, cpuid_.max_phys_addr_bits(), x2apic);
  if (e < 0) return e;
  kvm::set_sregs(cpu_->state(), r);
  for (unsigned word = 0; word < KVM_NR_INTERRUPTS / 64; ++word) {
    if (r.interrupt_bitmap[word] != 0) {
      cpu_->queue_external_interrupt(
          static_cast<uint8_t>(word * 64 + __builtin_ctzll(r.interrupt_bitmap[word])));
      break;
    }
  }
  apply_state_change();
  return 0;
}

void Vcpu::get_fpu(kvm_fpu* f) const { kvm::get_fpu(cpu_->state(), f); }

void Vcpu::set_fpu(const kvm_fpu& f) {
  kvm::set_fpu(cpu_->state(), f);
  apply_state_change();
}

bool Vcpu::get_msr(uint32_t index, uint64_t* value) {
  return cpu_->get_msr(index, value) || timer_msr_get(index, value, /*host=*/true);
}

bool Vcpu::set_msr(uint32_t index, uint64_t value) {
  bool ok = cpu_->set_msr(index, value, /*host_initiated=*/true);
  if (ok) apply_state_change();
  else ok = timer_msr_set(index, value, /*host=*/true);
  return ok;
}

// cpuid.c: kvm_set_cpuid: after the first KVM_RUN only an identical table
// is accepted (-EBUSY otherwise).
int Vcpu::set_cpuid(std::vector<kvm_cpuid_entry2> entries) {
  if (has_run_) {
    const auto& cur = cpuid_.entries();
    bool same = cur.size() == entries.size();
    for (size_t i = 0; same && i < cur.size(); ++i) {
      const kvm_cpuid_entry2& a = cur[i];
      const kvm_cpuid_entry2& b = entries[i];
      same = a.function == b.function && a.index == b.index && a.flags == b.flags && a.eax == b.eax &&
             a.ebx == b.ebx && a.ecx == b.ecx && a.edx == b.edx;
    }
    return same ? 0 : -EBUSY;
  }
  cpuid_.set(std::move(entries));
  cpu_->set_cpuid_features(cpuid_.features());
  if (lapic_) lapic_->set_tsc_deadline_mode_allowed(guest_has_tsc_deadline(cpuid_));
  apply_state_change();
  return 0;
}

// x86.c: kvm_arch_vcpu_ioctl_translate: writeable is always 1, usermode 0,
// physical_address is INVALID_GPA (all ones) when not mapped.
// The walk reads guest page tables in client memory: a fault there (memory
// unmapped by the client) is a failed walk, as kvm_vcpu_read_guest_page
// failing in KVM's walker.
void Vcpu::translate(kvm_translation* tr) {
  cpu::Translation t;
  recovery_.covers = covers_guest_memory;
  recovery_.ctx = &vm_.memslots();
  if (sigsetjmp(recovery_.env, 0) == 0) {
    base::arm_fault_recovery(&recovery_);
    t = cpu_->translate(tr->linear_address);
  } else {
    t = cpu::Translation{};  // not valid
    apply_state_change();  // the walk was cut short: drop what it cached
  }
  base::arm_fault_recovery(nullptr);
  tr->physical_address = t.valid ? t.gpa : ~0ull;
  tr->valid = t.valid ? 1 : 0;
  tr->writeable = 1;
  tr->usermode = 0;
}

// x86.c: kvm_vcpu_ioctl_x86_get/set_vcpu_events (kvm/events.cpp).
void Vcpu::get_events(kvm_vcpu_events* e) const { kvm::get_events(*cpu_, e); }

int Vcpu::set_events(const kvm_vcpu_events& e) {
  int r = kvm::set_events(*cpu_, e);
  if (r != 0) return r;
  apply_state_change();
  return 0;
}

// x86.c: kvm_vcpu_ioctl_interrupt (KVM_NR_INTERRUPTS = 256). With an
// in-kernel irqchip the PIC is in kernel too (no KVM_CAP_SPLIT_IRQCHIP):
// -ENXIO.
int Vcpu::interrupt(uint32_t irq) {
  if (irq >= 256) return -EINVAL;
  if (lapic_) return -ENXIO;
  cpu_->queue_external_interrupt(static_cast<uint8_t>(irq));
  return 0;
}

// x86.c: kvm_vcpu_ioctl_nmi -> kvm_inject_nmi (a HALTED vCPU wakes up).
int Vcpu::nmi() {
  cpu_->queue_nmi();
  if (lapic_ && mp_state_ == KVM_MP_STATE_HALTED) mp_state_ = KVM_MP_STATE_RUNNABLE;
  return 0;
}

// kvm_main.c: kvm_vcpu_ioctl_set_sigmask (SIGKILL and SIGSTOP are never
// blocked).
void Vcpu::set_signal_mask(const uint64_t* mask) {
  if (mask == nullptr) {
    has_sigmask_ = false;
    return;
  }
  sigemptyset(&sigmask_);
  for (int sig = 1; sig <= 64; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    if (*mask & (1ull << (sig - 1))) sigaddset(&sigmask_, sig);
  }
  has_sigmask_ = true;
}

// ---- KVM_RUN -------------------------------------------------------------------

// x86.c: post_kvm_run_save.
void Vcpu::post_run_save() {
  const cpu::CpuState& s = cpu_->state();
  const bool if_flag = (s.rflags & cpu::kFlagIF) != 0;
  run_->if_flag = if_flag ? 1 : 0;
  run_->cr8 = lapic_ ? lapic_->cr8() : s.cr8;
  run_->apic_base = s.apic_base;
  // kvm_vcpu_ready_for_interrupt_injection: IF = 1, no shadow, no
  // KVM_INTERRUPT vector still waiting; always 1 with an in-kernel PIC.
  run_->ready_for_interrupt_injection = lapic_ || cpu_->interrupt_window_open() ? 1 : 0;
  run_->flags = 0;
}

// Both MMIO data buffers are 8 bytes: the memcpys below copy exactly that.
static_assert(sizeof(kvm_run{}.mmio.data) == sizeof(cpu::MmioExit{}.data));

void Vcpu::fill_exit(cpu::Stop stop) {
  cpu::Exit& e = cpu_->exit();
  switch (stop) {
    case cpu::Stop::kIo:
      run_->exit_reason = KVM_EXIT_IO;
      run_->io.direction = e.io.in ? KVM_EXIT_IO_IN : KVM_EXIT_IO_OUT;
      run_->io.size = e.io.size;
      run_->io.port = e.io.port;
      run_->io.count = e.io.count;
      run_->io.data_offset = KVM_PIO_PAGE_OFFSET * kPageSize;
      break;
    case cpu::Stop::kMmio:
      run_->exit_reason = KVM_EXIT_MMIO;
      run_->mmio.phys_addr = e.mmio.gpa;
      // SAFETY: 8 bytes to 8 bytes (static_assert above).
      std::memcpy(run_->mmio.data, e.mmio.data, sizeof run_->mmio.data);
      run_->mmio.len = e.mmio.len;
      run_->mmio.is_write = e.mmio.is_write ? 1 : 0;
      mmio_read_pending_ = !e.mmio.is_write;
      break;
    case cpu::Stop::kHlt:
      run_->exit_reason = KVM_EXIT_HLT;
      break;
    case cpu::Stop::kIrqWindowOpen:
      run_->exit_reason = KVM_EXIT_IRQ_WINDOW_OPEN;
      break;
    case cpu::Stop::kShutdown:
      run_->exit_reason = KVM_EXIT_SHUTDOWN;
      break;
    case cpu::Stop::kInternal: {
      run_->exit_reason = KVM_EXIT_INTERNAL_ERROR;
      run_->internal.suberror = e.internal.suberror;
      const uint32_t n = e.internal.ndata < 16 ? e.internal.ndata : 16;
      run_->internal.ndata = n;
      for (uint32_t i = 0; i < n; ++i) run_->internal.data[i] = e.internal.data[i];
      break;
    }
    case cpu::Stop::kDebug:
      // vmx.c: handle_exception_nmi (DB_VECTOR / BP_VECTOR): a #BP exit
      // leaves debug.arch.dr6/dr7 as they were.
      run_->exit_reason = KVM_EXIT_DEBUG;
      run_->debug.arch.exception = e.debug.exception;
      run_->debug.arch.pc = e.debug.pc;
      if (e.debug.has_dr) {
        run_->debug.arch.dr6 = e.debug.dr6;
        run_->debug.arch.dr7 = e.debug.dr7;
      }
      break;
    case cpu::Stop::kKick:
    case cpu::Stop::kMemoryFault:
      break;
  }
}

// DEVIATION: only the host ranges of the VM's CURRENT slots are claimed. A
// slot deleted by another thread and unmapped while this vCPU still runs
// with the old page in its soft TLB (flushed at the next block boundary)
// faults outside them and takes the client's/default SIGSEGV action; KVM's
// MMU notifiers make that access an MMIO exit or EFAULT instead.
bool Vcpu::covers_guest_memory(const void* vm_memslots, uintptr_t addr) {
  // SAFETY: ctx is &vm_.memslots(), set by run(), translate() and
  // apply_state_change() before they arm the recovery point.
  return static_cast<const Memslots*>(vm_memslots)->contains_host(addr);
}

// api.rst: KVM_RUN. x86.c: kvm_arch_vcpu_ioctl_run. Hot path: no allocation
// and no syscall unless a KVM_SET_SIGNAL_MASK mask is set; the recovery
// point is a sigsetjmp without the signal mask (register saves only).
int Vcpu::run() {
  std::atomic<int>& kick = base::thread_kick();
  kick.store(0, std::memory_order_relaxed);
  run_->flags = 0;
  recovery_.covers = covers_guest_memory;
  recovery_.ctx = &vm_.memslots();
  int result;
  if (sigsetjmp(recovery_.env, 0) == 0) {
    base::arm_fault_recovery(&recovery_);
    update_kvmclock();  // x86.c: KVM_REQ_CLOCK_UPDATE on entry
    result = run_locked(kick);
  } else {
    result = recover_from_fault();
  }
  base::arm_fault_recovery(nullptr);
  post_run_save();
  return result;
}

// The engine touched client memory of a slot that the client has unmapped
// or protected (SIGSEGV/SIGBUS claimed by base/fault.h). mmu.c:
// kvm_handle_bad_page: hva_to_pfn() finds no VMA, or one without the
// permission the access needs -> KVM_PFN_ERR_FAULT -> -EFAULT out of
// KVM_RUN; kvm_run->exit_reason is left as it was (this <linux/kvm.h> has
// no KVM_EXIT_MEMORY_FAULT).
// DEVIATION: KVM faults before the instruction executes, so its registers
// are those at the faulting instruction. The engine was cut short inside
// the instruction: RIP may already point past it, registers it wrote before
// the faulting access keep their new values, and arithmetic flags still
// held lazily by the engine are lost (rflags as last materialized). The
// engine's transient state (soft TLB, pending I/O/MMIO completion, decoded
// blocks being built) is dropped with Cpu::state_changed(). Clients treat
// EFAULT from KVM_RUN as fatal for the VM, so only the errno is relied on.
int Vcpu::recover_from_fault() {
  cpu::Cpu::abandon_bus_lock();
  if (sigmask_applied_) {
    pthread_sigmask(SIG_SETMASK, &saved_sigmask_, nullptr);
    sigmask_applied_ = false;
  }
  base::thread_kick().store(0, std::memory_order_relaxed);
  exit_pending_ = false;
  mmio_read_pending_ = false;
  apply_state_change();
  return -EFAULT;
}

// With a KVM_SET_SIGNAL_MASK mask: is a signal pending that the mask lets
// through? KVM (kvm_sigset_activate + signal_pending) then returns EINTR and
// the signal stays pending for the caller's own mask.
bool Vcpu::unblocked_signal_pending() const {
  if (!has_sigmask_) return false;
  sigset_t pending;
  if (sigpending(&pending) != 0) return false;
  for (int sig = 1; sig < NSIG; ++sig)
    if (sigismember(&pending, sig) == 1 && sigismember(&sigmask_, sig) == 0) return true;
  return false;
}

int Vcpu::run_locked(std::atomic<int>& kick) {
  const bool immediate_exit = run_->immediate_exit != 0;
  // x86.c: kvm_arch_vcpu_ioctl_run: an UNINITIALIZED AP waits for INIT/SIPI
  // before anything else.
  if (lapic_ && mp_state_ == KVM_MP_STATE_UNINITIALIZED) {
    if (immediate_exit) return -EINTR;
    return run_uninitialized(kick);
  }
  // softkvm has no KVM_CAP_SYNC_REGS: any sync-regs request is refused.
  // DEVIATION: KVM accepts the KVM_SYNC_X86_* bits; softkvm does not.
  if (run_->kvm_valid_regs != 0 || run_->kvm_dirty_regs != 0) return -EINVAL;
  if (!lapic_) {
    // Without an in-kernel LAPIC the TPR comes from kvm_run.cr8 (kvm_set_cr8).
    if (run_->cr8 & ~0xfull) return -EINVAL;
    cpu_->state().cr8 = run_->cr8;
    // x86.c: dm_request_for_irq_injection (no in-kernel PIC).
    cpu_->set_interrupt_window_request(run_->request_interrupt_window != 0);
  }
  const bool signal = unblocked_signal_pending();
  if (exit_pending_) {
    if (mmio_read_pending_) {
      // The client completed the MMIO read: hand its data to the engine.
      // SAFETY: 8 bytes to 8 bytes (static_assert above); the client may
      // have written anything there, which is what a device read returns.
      std::memcpy(cpu_->exit().mmio.data, run_->mmio.data, sizeof cpu_->exit().mmio.data);
      mmio_read_pending_ = false;
    }
    if (immediate_exit || signal) {
      // complete_userspace_io runs even when KVM_RUN will not enter the
      // guest: complete the pending instruction only (the engine completes
      // it, then sees the kick at its first block boundary).
      exit_pending_ = false;
      kick.store(1, std::memory_order_relaxed);
      cpu_->host_may_have_written_memory();
      const cpu::Stop stop = cpu_->run(&kick);
      kick.store(0, std::memory_order_relaxed);
      if (stop != cpu::Stop::kKick) return finish(stop, true);
    }
  }
  // x86.c: !wants_to_run -> -EINTR; exit_reason is left as it was.
  if (immediate_exit) return -EINTR;
  // x86.c: vcpu_run: a pending signal -> KVM_EXIT_INTR.
  if (signal) {
    run_->exit_reason = KVM_EXIT_INTR;
    return -EINTR;
  }
  has_run_ = true;
  // Without an in-kernel irqchip a HLT exits to user space and the next
  // KVM_RUN resumes after it.
  cpu_->state().halted = false;
  cpu_->host_may_have_written_memory();
  // The KVM_SET_SIGNAL_MASK mask is in force while the guest runs (and
  // while a vCPU with an in-kernel irqchip waits in HLT): a signal it lets
  // through runs its (wrapped) handler, which raises the kick.
  if (has_sigmask_) {
    pthread_sigmask(SIG_SETMASK, &sigmask_, &saved_sigmask_);
    sigmask_applied_ = true;
  }
  int result;
  if (lapic_) {
    // The pending I/O or MMIO instruction completes in the first run.
    exit_pending_ = false;
    result = run_irqchip(kick);
  } else {
    exit_pending_ = false;
    result = finish(cpu_->run(&kick), /*intr_sets_reason=*/true);
  }
  if (sigmask_applied_) {
    pthread_sigmask(SIG_SETMASK, &saved_sigmask_, nullptr);
    sigmask_applied_ = false;
  }
  return result;
}

int Vcpu::finish(cpu::Stop stop, bool intr_sets_reason) {
  switch (stop) {
    case cpu::Stop::kKick:
      // A signal: KVM_EXIT_INTR (x86.c: vcpu_run, signal_pending).
      if (intr_sets_reason) run_->exit_reason = KVM_EXIT_INTR;
      return -EINTR;
    case cpu::Stop::kMemoryFault:
      return -EFAULT;
    default:
      fill_exit(stop);
      exit_pending_ = stop == cpu::Stop::kIo || stop == cpu::Stop::kMmio;
      return 0;
  }
}

}  // namespace skvm::kvm
