// The execution half of the CPU engine: block building (decoder front end),
// the decoded-block cache and the run loop. Constructed by Cpu as
// EngineImpl(Cpu&). See src/cpu/README.md for the exit protocols.
#pragma once

#include <atomic>
#include <cstdint>

#include "cpu/cache/block_cache.h"
#include "cpu/core.h"
#include "cpu/cpu.h"
#include "cpu/decode/insn.h"
#include "cpu/exec/exec.h"

namespace skvm::cpu {

namespace exec {
// The handler a record of a block gets (exec/dispatch.cpp, exec/specialize.h):
// its own, or a specialized one fixed by the record and by `prev`, the
// record before it in the same block (nullptr for the first).
Handler specialize(const Insn& in, const Insn* prev);
// Whether the record's row may set RFLAGS.TF, DR7 or an interrupt shadow
// (its flags column has TF or IF, a system row, MOV DR, an unknown row).
bool may_arm_checks(const Insn& in);
// A direct near JMP / CALL with a 64-bit IP (rel8 / rel32, generic
// handler): *target = next_rip + displacement, the RIP its handler leaves.
bool direct_target(const Insn& in, uint64_t next_rip, uint64_t* target);
}  // namespace exec

class EngineImpl {
 public:
  explicit EngineImpl(Cpu& cpu);

  Stop run(const std::atomic<int>* kick);
  Stop step();
  void state_changed();
  void host_may_have_written_memory() {
    ++host_epoch_;
    cache_.bump_chain_epoch();  // chained links assume the current host epoch
  }
  bool is_code_page(uint64_t gpa_page) const { return cache_.is_code_page(gpa_page); }
  // Drops every decoded block (the decoder's CPUID gates changed).
  void drop_decoded() { cache_.flush(); }
  void code_page_written(uint64_t gpa, unsigned size);

  // Statistics (tests, benchmarks).
  uint64_t blocks_built() const { return blocks_built_; }
  uint64_t revalidations() const { return revalidations_; }
  const BlockCache& cache() const { return cache_; }

 private:
  // kContinue: go on (after a block: it ran to its end); kStop: return
  // *stop; kBreak (block runners): left the block early (exception
  // delivered, SMC, event ready): look the next block up afresh.
  enum class Next : uint8_t { kContinue, kStop, kBreak };

  Stop execute(const std::atomic<int>* kick, bool single);
  // Run the records of `b` until its last one retires (kContinue) or the
  // block is left early. run_plain: nothing armed; run_checked: interrupt
  // shadow, client events or single-step (one record).
  Next run_plain(const Block* b, Stop* stop);
  Next run_checked(const Block* b, bool single, Stop* stop);
  // Completes the I/O or MMIO exit that the previous run() returned.
  bool complete_pending(Stop* stop);
  // The block at the current CS:RIP (built if needed); nullptr when the
  // fetch faulted or needs an exit (signals set).
  Block* lookup(Block* prev);
  Block* build(uint64_t la, const uint8_t* p, unsigned avail, uint64_t gpa, unsigned code_size);
  bool revalidate(Block* b, uint64_t la);
  // After a handler returned false: deliver the exception or produce the stop.
  Next after_fail(uint64_t start, const Insn& i, Stop* stop);
  Next deliver_pending_exception(Stop* stop);
  // Client events (Cpu::queue_external_interrupt, queue_nmi, the interrupt
  // window request) at an instruction boundary: deliver what is allowed, or
  // stop with Stop::kIrqWindowOpen. *delivered says whether CS:RIP moved.
  Next boundary_events(Stop* stop, bool* delivered);
  // Whether boundary_events() has something to do now.
  bool event_ready() const;
  Stop finish(Stop s);
  unsigned code_size() const;
  // The debug path (events/debug.h): one instruction with instruction /
  // data breakpoints, single-step traps and KVM_SET_GUEST_DEBUG exits.
  Next debug_insn(const Insn& i, Stop* stop);
  // A #DB trap with DR6 bits `bits`: to the guest, or KVM_EXIT_DEBUG.
  Next debug_trap(uint64_t bits, Stop* stop);

  Cpu& cpu_;
  CpuState& s_;
  Exec x_;
  BlockCache cache_;
  uint64_t host_epoch_ = 1;
  // The exit the client must complete before the next instruction.
  enum class Pending : uint8_t { kNone, kIo, kMmioRead };
  Pending pending_ = Pending::kNone;
  Insn pending_insn_{};
  uint32_t pending_count_ = 0;
  uint64_t pending_rip_ = 0;
  uint64_t blocks_built_ = 0;
  uint64_t revalidations_ = 0;
  // DR6 bits of a #DB trap held back: by a MOV SS / POP SS shadow (until
  // after the next instruction), or by an exit the instruction retired into
  // (MMIO write, I/O) until the next instruction boundary.
  uint64_t shadow_dr6_ = 0;
  uint64_t deferred_dr6_ = 0;
};

}  // namespace skvm::cpu
