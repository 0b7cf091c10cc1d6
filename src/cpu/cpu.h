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

struct Exit {
  Stop reason = Stop::kHlt;
  IoExit io;
  MmioExit mmio;
  InternalExit internal;
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

  // Host-side MSR access (KVM_GET/SET_MSRS). Guest RDMSR/WRMSR use the same
  // tables. Return false for an MSR the engine does not know or a value it
  // rejects.
  bool get_msr(uint32_t index, uint64_t* value);
  bool set_msr(uint32_t index, uint64_t value, bool host_initiated);

  // Linear address translation with the current paging mode (KVM_TRANSLATE).
  Translation translate(uint64_t linear);

  EngineImpl& engine() { return *engine_; }
  MmuImpl& mmu() { return *mmu_; }

 private:
  CpuState state_;
  Bus& bus_;
  Exit exit_;
  Signals signals_;
  std::unique_ptr<MmuImpl> mmu_;
  std::unique_ptr<EngineImpl> engine_;
};

}  // namespace skvm::cpu
