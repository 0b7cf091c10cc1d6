// Per-CPU memory state of the engine: the soft TLB, the cached PAE PDPTEs,
// the paging parameters derived from CPUID, the pending MMIO read
// completions, and the few MSRs that have no field in CpuState.
//
// ---- Soft TLB ---------------------------------------------------------------
// Direct mapped, kTlbSize (4096) entries indexed by linear page number, so a
// working set of 16 MiB of 4 KiB pages fits. The entries live in a lazily
// zero-filled anonymous mapping (constructing a Cpu touches none of it): a
// never-filled entry is all zero, and an all-zero tag can only match linear
// page 0 with key 0, whose slot (index 0) is invalidated explicitly. Flushes
// cost what was filled since the last flush: every slot filled is recorded
// once in a fill list, and tlb_flush_all / tlb_flush_nonglobal /
// tlb_protect_code visit that list only (each fill paid a page walk, so a
// flush stays within a constant factor of the work that filled it). An entry maps
// one linear page to host memory: host = la + addend. It carries one tag per
// access kind (read / write / exec); a tag is `page | key` where key is 1 for
// user accesses (CPL 3, not an implicit supervisor access) and 0 otherwise,
// or kInvalidTag when that access must take the slow path. The fast path
// (mmu/access.h) is a compare and an add.
//   - A write tag is only set when the guest PTE is already dirty, the slot is
//     writable RAM, the page holds no decoded code (is_code_page) and, for a
//     dirty-logged slot, mark_dirty was called for it in this generation.
//   - MMIO pages never get a tag: every access goes to the slow path.
//   - The walker's A/D updates are guest writes to page-table pages: in a
//     dirty-logged slot they call Bus::mark_dirty for the table page (only
//     when a bit actually changes).
//   - Flushes: tlb_flush_all (CR0.PG/WP/PE, CR4.PGE/PAE/PSE, EFER.NXE,
//     generation change, state_changed), tlb_flush_nonglobal (MOV CR3),
//     tlb_flush_page (INVLPG), tlb_protect_code (turn the write tags of one
//     gpa into notify tags: writes then go through code_page_written()).
//
// ---- MMIO read protocol (for exec/) --------------------------------------------
// A guest read that reaches unbacked memory and that Bus::mmio_read does not
// serve fills cpu.exit().mmio {gpa, len, is_write = false}, sets
// exit().reason = Stop::kMmio and signals().exit_now, and fails (the
// instruction does not retire). Reads wider than 8 bytes or crossing pages are
// split in fragments of at most 8 bytes; each fragment may exit once.
//   1. At every run() entry whose previous stop was Stop::kMmio with
//      is_write == false, exec/ calls mmu_complete_mmio_read(cpu): the
//      client's data in exit().mmio.data is recorded as a completed fragment.
//   2. exec/ re-executes the instruction from its start. Each MMIO read whose
//      (gpa, len) equals a recorded fragment is served from it instead of
//      exiting; the record is cleared once every fragment has been served,
//      so the next execution of the instruction exits again.
//   3. A read split in several fragments (wider than 8 bytes or crossing a
//      page) exits once per fragment: when a later fragment exits, the
//      fragments the same access was just served are recorded again, so the
//      next re-execution finds them all.
//   4. mmu_state_changed(cpu) (call it from Cpu::state_changed) drops the
//      record, as does a fragment list that overflows (kMaxMmioFragments).
// A guest write to unbacked memory (or to a KVM_MEM_READONLY page) not taken
// by Bus::mmio_write fills exit().mmio with is_write = true and the data, sets
// exit().reason = Stop::kMmio and signals().exit_after, and succeeds: the
// instruction retires, then the engine stops. Further exiting fragments of
// the same instruction (a write crossing into a second unbacked page, a
// store wider than 8 bytes) are queued with queue_mmio_write; each later
// run() entry first calls mmu_next_mmio_write(cpu), which moves the next
// queued fragment into exit().mmio and makes run() return Stop::kMmio
// without executing anything (x86.c: emulator_read_write splits at the page
// boundary into mmio_fragments, complete_emulated_mmio exits once per
// 8-byte piece; the instruction has already retired). A queue overflow
// (more than kMaxMmioWrites pieces) is an internal-error exit
// (Stop::kInternal, KVM_INTERNAL_ERROR_EMULATION, signals().exit_now).
//
// ---- Cross-vCPU code (cache/shared_code.h) ----------------------------------
// With a Bus::shared_code() registry and more than one participant: TLB
// fills treat registered pages as code pages too (no write tag); a new code
// page is registered by tlb_protect_code (kProtect event when new VM-wide);
// a guest write to a code page posts a kWritten event. exec/ calls
// mmu_code_enter / mmu_code_leave at run() entry and exit, mmu_code_sync at
// every slow block boundary, and leaves the fast chained path when
// mmu_code_stale() says events are waiting. So after the writer's store, a
// vCPU's next block boundary through the slow path (any serializing event:
// interrupt or exception delivery, IRET, CPUID, which ends its block) runs
// the new bytes (SDM Vol. 3A 8.1.3).
//
// ---- Internal-error exits ---------------------------------------------------
// Features outside this slice (task gates, call gates, task switches, fetch
// from MMIO, MMIO during event delivery) fill exit().internal, set
// exit().reason = Stop::kInternal and signals().exit_now, and fail.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "cpu/cache/shared_code.h"
#include "cpu/core.h"
#include "cpu/state/msrs.h"

namespace skvm::cpu {

class MmuImpl {
 public:
  static constexpr unsigned kTlbBits = 12;
  static constexpr unsigned kTlbSize = 1u << kTlbBits;
  static constexpr uint64_t kInvalidTag = ~0ull;
  static constexpr unsigned kMaxMmioFragments = 4;
  static constexpr unsigned kMaxMmioWrites = 4;

  struct TlbEntry {
    uint64_t read_tag = kInvalidTag;
    uint64_t write_tag = kInvalidTag;
    uint64_t exec_tag = kInvalidTag;
    // Writable, but the page holds decoded code: the slow path writes
    // directly and calls code_page_written() without a page walk.
    uint64_t notify_tag = kInvalidTag;
    uintptr_t addend = 0;  // host address = linear address + addend
    uint64_t gpa_page = 0;
    bool global = false;
    bool dirty_marked = false;  // mark_dirty already called this generation
  };

  struct MmioFragment {
    uint64_t gpa = 0;
    uint32_t len = 0;
    bool served = false;
    uint8_t data[8] = {};
  };

  explicit MmuImpl(Cpu& cpu);
  ~MmuImpl();
  MmuImpl(const MmuImpl&) = delete;
  MmuImpl& operator=(const MmuImpl&) = delete;

  TlbEntry& entry(uint64_t la) { return tlb_->entries[(la >> 12) & (kTlbSize - 1)]; }
  // Called by the TLB fill for the entry of `la` before it sets any tag.
  void note_fill(uint64_t la) {
    const unsigned idx = static_cast<unsigned>((la >> 12) & (kTlbSize - 1));
    if (!tlb_->listed[idx]) {
      tlb_->listed[idx] = 1;
      tlb_->filled[n_filled_++] = static_cast<uint16_t>(idx);
    }
  }
  // Every entry filled since the last flush_all (some may be empty again).
  template <typename F>
  void for_each_filled(F&& f) {
    for (unsigned k = 0; k < n_filled_; ++k) f(tlb_->entries[tlb_->filled[k]]);
  }
  // MOV CR3 without PCID: drop every entry but the global ones.
  void flush_nonglobal();

  // Guest-physical page lookup through a cache of the last few
  // Bus::lookup_range results (valid until the bus generation moves: every
  // flush_all drops them). gpa_page is page aligned.
  PhysPage phys(uint64_t gpa_page) {
    for (const PhysRange& r : ranges_) {
      if (gpa_page >= r.first && gpa_page <= r.last) [[likely]] {
        PhysPage p = r.page;
        if (p.host != nullptr) p.host += gpa_page - r.first;
        return p;
      }
    }
    return phys_miss(gpa_page);
  }

  // Cross-vCPU code (see above). shared(): nullptr for a lone CPU.
  SharedCode* shared() const { return shared_; }
  unsigned shared_id() const { return shared_id_; }
  bool smp() const { return shared_ != nullptr && shared_->participants() > 1; }
  bool code_stale() const { return code_epoch_->load(std::memory_order_relaxed) != code_seen_; }
  void code_sync();
  void code_enter();
  void code_leave();

  // Flush everything and resynchronise with the bus generation.
  void flush_all();
  bool generation_changed() const {
    return generation_->load(std::memory_order_acquire) != seen_generation_;
  }

  // Paging parameters derived from the guest CPUID (refreshed by flush_all).
  void refresh_cpuid();
  uint8_t maxphyaddr() const { return maxphyaddr_; }
  bool gbpages() const { return gbpages_; }
  bool pse36() const { return pse36_; }

  // PAE page-directory-pointer table entries, loaded at MOV CR3 / CR0 / CR4
  // in PAE paging mode (SDM Vol. 3A 4.4.1). Returns false (caller raises
  // #GP(0)) when a present PDPTE has reserved bits set.
  bool load_pdptes(uint64_t cr3);
  const std::array<uint64_t, 4>& pdptes() const { return pdpte_; }
  void clear_pdptes() { pdpte_ = {}; }

  // MMIO read completions (see the protocol above).
  void add_mmio_completion(uint64_t gpa, uint32_t len, const uint8_t* data);
  bool take_mmio_completion(uint64_t gpa, uint32_t len, uint8_t* data);
  void clear_mmio_completions() { num_fragments_ = 0; }

  // MMIO write pieces still to hand to the client, oldest first (see the
  // protocol above). queue_mmio_write returns false when the queue is full.
  bool queue_mmio_write(uint64_t gpa, uint32_t len, const uint8_t* data);
  bool take_mmio_write(MmioExit* out);
  bool has_mmio_writes() const { return write_head_ != num_writes_; }
  void clear_mmio_writes() { write_head_ = num_writes_ = 0; }

  // MSRs without a CpuState field (state/msrs.h).
  ExtraMsrs extra_msrs;

  // ---- Locked instructions (exec/locked.h) ----
  // While a LOCK-prefixed instruction (or XCHG with memory) runs,
  // lock_key() is kLockKey: ORed into the fast-path tags of mem_read /
  // mem_write / write_mem it makes every operand access miss (no tag has
  // bit 1 set), so read_linear / write_linear see them. The first RAM read
  // (and reads contiguous with it, up to 16 bytes) is recorded in
  // locked_op(); writes inside that range are buffered in `next`. The
  // instruction then commits with mmu_locked_commit: a host compare-and-swap
  // of `old` -> `next`, which fails if any other store hit the bytes since
  // they were read.
  static constexpr uint64_t kLockKey = 2;
  struct LockedOp {
    uint8_t* host = nullptr;  // operand bytes in guest RAM; nullptr: none yet
    uint64_t gpa = 0;
    unsigned size = 0;
    bool written = false;    // `next` holds bytes to store
    bool code = false;       // the page holds decoded code (notify on commit)
    bool uncovered = false;  // an access outside the range: no CAS (mutex only)
    alignas(16) uint8_t old[16] = {};
    alignas(16) uint8_t next[16] = {};
  };
  uint64_t lock_key() const { return lock_key_; }
  LockedOp& locked_op() { return locked_; }
  void locked_begin() {
    locked_ = LockedOp{};
    lock_key_ = kLockKey;
  }
  void locked_end() { lock_key_ = 0; }

  // ---- Data breakpoints (events/debug.h) ----
  // Linear ranges [first, last]; `bit` is the DR6 B0-B3 bit; `reads` means
  // RW = 11 (reads and writes), otherwise writes only. Pages overlapping a
  // watch never get read/write/notify TLB tags (translate_for), so every
  // access to them reaches read_linear / write_linear, which record hits.
  struct Watch {
    uint64_t first = 0, last = 0;
    uint8_t bit = 0;
    bool reads = false;
  };
  // Returns true when the set changed (the caller flushes the TLB).
  bool set_watches(const std::array<Watch, 4>& w, unsigned n);
  bool watching() const { return num_watches_ != 0; }
  bool watched_page(uint64_t page) const;
  void check_watches(uint64_t la, unsigned size, bool write);
  uint8_t take_watch_hits() {
    uint8_t h = watch_hits_;
    watch_hits_ = 0;
    return h;
  }

 private:
  struct TlbStore {
    TlbEntry entries[kTlbSize];
    uint16_t filled[kTlbSize];  // slots filled since the last flush_all
    uint8_t listed[kTlbSize];   // 1: the slot is in `filled`
  };
  static_assert(kTlbSize <= 65536);
  PhysPage phys_miss(uint64_t gpa_page);

  Cpu& cpu_;
  SharedCode* shared_;
  unsigned shared_id_ = 0;
  const std::atomic<uint64_t>* code_epoch_;  // shared_->epoch(), or a constant 0
  uint64_t code_done_ = 0;  // events processed
  uint64_t code_seen_ = 0;  // compared with the epoch: ~0 while revalidating
  TlbStore* tlb_ = nullptr;  // anonymous mapping, zero-filled (see the top)
  unsigned n_filled_ = 0;
  // Most recently used first; an empty range has last < first.
  static constexpr unsigned kRanges = 2;
  std::array<PhysRange, kRanges> ranges_{};
  const std::atomic<uint64_t>* generation_;
  uint64_t seen_generation_ = 0;
  std::array<uint64_t, 4> pdpte_{};
  uint8_t maxphyaddr_ = 36;
  bool gbpages_ = false;
  bool pse36_ = false;
  std::array<MmioFragment, kMaxMmioFragments> fragments_{};
  unsigned num_fragments_ = 0;
  std::array<MmioExit, kMaxMmioWrites> writes_{};
  unsigned num_writes_ = 0;
  unsigned write_head_ = 0;
  std::array<Watch, 4> watches_{};
  unsigned num_watches_ = 0;
  uint8_t watch_hits_ = 0;
  uint64_t lock_key_ = 0;
  LockedOp locked_{};
};

// Called by exec/ at block entry (cheap): flushes the TLB when the bus
// generation moved.
inline void mmu_check_generation(Cpu& cpu) {
  if (cpu.mmu().generation_changed()) cpu.mmu().flush_all();
}

// Cross-vCPU code hooks for exec/ (see "Cross-vCPU code" above).
inline bool mmu_code_stale(Cpu& cpu) { return cpu.mmu().code_stale(); }
inline void mmu_code_sync(Cpu& cpu) {
  if (cpu.mmu().code_stale()) [[unlikely]] cpu.mmu().code_sync();
}
inline void mmu_code_enter(Cpu& cpu) {
  if (cpu.mmu().shared() != nullptr) cpu.mmu().code_enter();
}
inline void mmu_code_leave(Cpu& cpu) {
  if (cpu.mmu().shared() != nullptr) cpu.mmu().code_leave();
}

// Called by exec/ at run() entry when the previous stop was an MMIO read.
void mmu_complete_mmio_read(Cpu& cpu);

// Called by exec/ at every run() entry: when a queued MMIO write piece is
// left, it is moved to exit().mmio (exit().reason = Stop::kMmio) and true is
// returned; run() then stops with Stop::kMmio at once.
bool mmu_next_mmio_write(Cpu& cpu);

// Called from Cpu::state_changed(): tlb_flush_all (which also reloads the PAE
// PDPTEs and the CPUID-derived paging parameters) and drop MMIO completions.
void mmu_state_changed(Cpu& cpu);

// tlb_protect_code without registering the page in the shared registry
// (the registry already has it: a kProtect event from another vCPU).
// Returns true when a writable entry for the page was dropped.
bool tlb_protect_code_local(Cpu& cpu, uint64_t gpa_page);

// Ends the locked mode begun by MmuImpl::locked_begin after the instruction's
// handler succeeded: stores the buffered operand bytes with a host
// compare-and-swap against the bytes read (a plain copy when the operand is
// not a naturally aligned 1/2/4/8/16-byte RAM range) and notifies code-page
// writes. Returns false, storing nothing, when another store changed the
// bytes since they were read: the caller re-runs the instruction.
bool mmu_locked_commit(Cpu& cpu);

// Fill an internal-error exit (KVM_INTERNAL_ERROR_EMULATION) and return false.
bool internal_error_exit(Cpu& cpu, uint64_t detail);

}  // namespace skvm::cpu
