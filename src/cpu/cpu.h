// The CPU engine's public face: one Cpu per vCPU. The kvm layer drives it:
//   set state -> run() -> read exit() -> (client handles exit) -> run() ...
// run() first completes the instruction left pending by the previous exit
// (IN data from Bus::pio_page(), MMIO read data from exit().mmio.data), then
// executes until the next stop.
//
// Ownership inside src/cpu (see src/cpu/README.md):
//   isa/, decode/, exec/, cache/  — decoding, the instruction handlers, the
//                                   run loop and the decoded-block cache
//   mmu/, events/, state/         — paging, soft TLB, segmentation, memory
//                                   access, exceptions/interrupts, control
//                                   registers, modes, MSRs, CPUID
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>

#include "cpu/bus.h"
#include "cpu/state.h"

namespace skvm::cpu {

enum class Stop : uint8_t {
  kIo,            // exit().io describes a port access to hand to the client
  kMmio,          // exit().mmio describes an access to unbacked memory
  kHlt,           // HLT executed (state().halted is set)
  kShutdown,      // triple fault
  kInternal,      // exit().internal: instruction not implemented / emulation failure
  kKick,          // *kick flag was raised (signal, immediate_exit)
  kMemoryFault,   // host memory behind a memslot went bad (EFAULT for KVM_RUN)
  kIrqWindowOpen, // an interrupt window was requested and is open (no instruction pending)
  kDebug,         // exit().debug: a KVM_SET_GUEST_DEBUG event (KVM_EXIT_DEBUG)
};

struct IoExit {
  bool in = false;
  uint16_t port = 0;
  uint8_t size = 0;    // 1, 2 or 4
  uint32_t count = 0;  // > 1 for REP INS/OUTS; data at Bus::pio_page()
};

struct MmioExit {
  uint64_t gpa = 0;
  uint8_t data[8] = {};
  uint32_t len = 0;
  bool is_write = false;
};

struct InternalExit {
  uint32_t suberror = 1;  // KVM_INTERNAL_ERROR_EMULATION
  uint32_t ndata = 0;
  uint64_t data[16] = {};
  // The instruction bytes that could not be executed (for diagnostics).
  uint8_t insn[15] = {};
  uint8_t insn_len = 0;
};

// kvm_run.debug.arch (vmx.c handle_exception_nmi). has_dr: dr6/dr7 are
// written (a #DB); an INT3 (exception 3) leaves them as they were.
struct DebugExit {
  uint32_t exception = 0;
  uint64_t pc = 0;  // linear address (CS base + RIP)
  uint64_t dr6 = 0, dr7 = 0;
  bool has_dr = false;
};

struct Exit {
  Stop reason = Stop::kHlt;
  IoExit io;
  MmioExit mmio;
  InternalExit internal;
  DebugExit debug;
};

// api.rst: KVM_SET_GUEST_DEBUG as the engine sees it (events/debug.h).
// enable = KVM_GUESTDBG_ENABLE; the others only count when it is set.
struct GuestDebug {
  bool enable = false;
  bool singlestep = false;  // KVM_GUESTDBG_SINGLESTEP: KVM_EXIT_DEBUG after each instruction
  bool sw_bp = false;       // KVM_GUESTDBG_USE_SW_BP: INT3 exits instead of #BP
  bool hw_bp = false;       // KVM_GUESTDBG_USE_HW_BP: db/dr7 replace the guest's DR0-3/DR7
  std::array<uint64_t, 4> db{};
  uint64_t dr7 = 0;
};

// Result of a linear -> physical walk (KVM_TRANSLATE, diagnostics).
struct Translation {
  uint64_t gpa = 0;
  bool valid = false;
  bool writeable = false;
  bool usermode = false;
};

// How the instruction being executed ended, when it did not simply retire.
// Set by memory access / exception code (mmu/, events/), consumed by the run
// loop (exec/) after each handler.
struct Signals {
  bool exception = false;  // vector/error below: deliver, do not retire
  uint8_t vector = 0;
  bool has_error = false;
  uint32_t error_code = 0;
  uint64_t fault_cr2 = 0;  // for #PF: written to CR2 at delivery
  bool exit_now = false;    // exit_ filled: stop without retiring (MMIO read)
  bool exit_after = false;  // exit_ filled: retire, then stop (MMIO write)
  bool memory_fault = false;  // host memory of a slot is gone (Stop::kMemoryFault)
};

class EngineImpl;  // exec/ owns it: decoder, block cache, run loop
class MmuImpl;     // mmu/ owns it: soft TLB, walker

class Cpu {
 public:
  explicit Cpu(Bus& bus);
  ~Cpu();
  Cpu(const Cpu&) = delete;
  Cpu& operator=(const Cpu&) = delete;

  CpuState& state() { return state_; }
  const CpuState& state() const { return state_; }
  Bus& bus() { return bus_; }

  // Run until a stop. `kick` is polled at block boundaries; when it reads
  // non-zero the engine stops with Stop::kKick (state consistent, between
  // instructions). If an exit is pending it is completed first.
  Stop run(const std::atomic<int>* kick);

  // Execute at most one instruction (single-step mode, tests).
  Stop step();

  Exit& exit() { return exit_; }
  Signals& signals() { return signals_; }

  // After the client changed registers/sregs/MSRs from outside: recompute the
  // execution mode and flush cached translations.
  void state_changed();

  // Called at each KVM_RUN entry: the client may have written guest memory
  // since the last run, so cached decodes must be revalidated.
  void host_may_have_written_memory();

  // CPUID features the decoder admits (an isa::FeatureSet, isa/features.h):
  // a form whose feature column is missing decodes to #UD. The kvm layer
  // sets it from the KVM_SET_CPUID2 table; until then every feature is
  // admitted (a KVM guest without a CPUID table runs on the host CPU). A
  // change drops the decoded blocks (state/cpuid.cpp).
  void set_cpuid_features(uint64_t features);
  uint64_t cpuid_features() const { return cpuid_features_; }

  // Host-side MSR access (KVM_GET/SET_MSRS). Guest RDMSR/WRMSR use the same
  // tables. Return false for an MSR the engine does not know or a value it
  // rejects.
  bool get_msr(uint32_t index, uint64_t* value);
  bool set_msr(uint32_t index, uint64_t value, bool host_initiated);

  // Linear address translation with the current paging mode (KVM_TRANSLATE).
  Translation translate(uint64_t linear);

  // ---- Events from a client without an in-kernel irqchip ----
  // api.rst: KVM_INTERRUPT. x86.c: kvm_vcpu_ioctl_interrupt queues the vector
  // as an injected interrupt (kvm_queue_interrupt); the next run() delivers
  // it through the IVT/IDT (EventKind::kExternal) at entry, before any
  // instruction, whatever RFLAGS.IF and the interrupt shadow say: the client
  // is expected to check ready_for_interrupt_injection first (checked on
  // the host /dev/kvm: a vector queued with IF = 0 is delivered). Delivery
  // ends a HLT. A second call replaces the vector, as kvm_queue_interrupt.
  void queue_external_interrupt(uint8_t vector) {
    irq_vector_ = vector;
    irq_queued_ = true;
  }
  bool interrupt_queued(uint8_t* vector) const {
    if (irq_queued_ && vector != nullptr) *vector = irq_vector_;
    return irq_queued_;
  }
  void clear_queued_interrupt() { irq_queued_ = false; }
  // api.rst: KVM_NMI. x86.c: kvm_inject_nmi + process_nmi: at most two NMIs
  // pending (one if NMIs are masked). Delivered (vector 2, EventKind::kNmi,
  // which sets state().nmi_masked until IRET) at the first boundary where
  // NMIs are not masked and no STI / MOV SS shadow is in force
  // (vmx.c: vmx_nmi_blocked).
  void queue_nmi() {
    const unsigned limit = state_.nmi_masked ? 1 : 2;
    if (nmi_pending_ < limit) ++nmi_pending_;
  }
  unsigned nmi_pending() const { return nmi_pending_; }
  void set_nmi_pending(unsigned n) { nmi_pending_ = n > 2 ? 2 : n; }
  // x86.c: kvm_vcpu_ready_for_interrupt_injection without an irqchip:
  // interrupts allowed (IF = 1, no shadow) and no injected interrupt waiting.
  bool interrupt_window_open() const {
    return (state_.rflags & kFlagIF) && state_.interrupt_shadow == 0 && !irq_queued_;
  }
  // kvm_run.request_interrupt_window (x86.c: dm_request_for_irq_injection):
  // while set, run() stops with Stop::kIrqWindowOpen at the first
  // instruction boundary where interrupt_window_open() holds.
  void set_interrupt_window_request(bool on) { irq_window_request_ = on; }
  // Anything above for run() to look at between instructions.
  bool events_armed() const { return irq_queued_ || nmi_pending_ != 0 || irq_window_request_ || exc_.queued; }
  bool interrupt_window_requested() const { return irq_window_request_; }

  // ---- Injected exceptions (KVM_SET_VCPU_EVENTS, KVM_GUESTDBG_INJECT_*) ----
  // x86.c: kvm_queue_exception[_e]: delivered at the next run() entry before
  // anything else (RIP as it is: the instruction that faulted, or after a
  // trap). One at a time: a second call replaces it.
  struct QueuedException {
    bool queued = false;
    uint8_t vector = 0;
    bool has_error = false;
    uint32_t error_code = 0;
    // Soft exceptions re-injected after a KVM_EXIT_DEBUG (#BP): the return
    // address is RIP + insn_len (vmx.c: VM_ENTRY_INSTRUCTION_LEN).
    uint8_t insn_len = 0;
  };
  void queue_exception(uint8_t vector, bool has_error, uint32_t error_code, uint8_t insn_len = 0) {
    exc_ = QueuedException{true, vector, has_error, error_code, insn_len};
  }
  const QueuedException& queued_exception() const { return exc_; }
  // Keeps vector / error code: KVM reports the last one in
  // KVM_GET_VCPU_EVENTS after delivery (vcpu->arch.exception.vector).
  void clear_queued_exception() { exc_.queued = false; }

  // ---- Debug (events/debug.h) ----
  void set_guest_debug(const GuestDebug& g) { guest_debug_ = g; }
  const GuestDebug& guest_debug() const { return guest_debug_; }
  // Bumped by every successful deliver_event: lets the run loop tell that an
  // instruction (INT n, INT3, INTO, INT1) delivered an event itself.
  uint64_t deliveries() const { return deliveries_; }
  void count_delivery() { ++deliveries_; }

  // LOCK-prefixed instructions run under a process-wide bus lock
  // (exec/locked.h). After a fault recovery (base/fault.h siglongjmp out of
  // a handler) the kvm layer calls this: drops the lock if this thread
  // still holds it.
  static void abandon_bus_lock();

  EngineImpl& engine() { return *engine_; }
  MmuImpl& mmu() { return *mmu_; }

 private:
  CpuState state_;
  Bus& bus_;
  Exit exit_;
  Signals signals_;
  std::unique_ptr<MmuImpl> mmu_;
  std::unique_ptr<EngineImpl> engine_;
  bool irq_queued_ = false;
  uint8_t irq_vector_ = 0;
  bool irq_window_request_ = false;
  unsigned nmi_pending_ = 0;
  QueuedException exc_;
  GuestDebug guest_debug_;
  uint64_t deliveries_ = 0;
  uint64_t cpuid_features_ = ~uint64_t{0};
};

}  // namespace skvm::cpu
