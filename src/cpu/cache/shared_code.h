// VM-wide registry of guest-physical pages holding decoded code, for
// cross-modifying code between vCPUs (SDM Vol. 3A 8.1.3): each vCPU's
// BlockCache knows only its own code pages, and a vCPU's soft TLB lets it
// write a page without a check. This registry lets every vCPU see the
// others' code pages and writes. Lock-free: a fixed open-addressing set of
// code pages (sticky: a page stays registered once some vCPU decoded it), a
// ring of events and an epoch (the number of events posted).
//
// Protocol (the mmu/ side: mmu_impl.h "Cross-vCPU code"):
//   - A page that becomes code for the first time VM-wide is posted as a
//     kProtect event: every other vCPU drops its writable TLB entries for it
//     at its next block boundary. From then on no vCPU creates a writable
//     TLB entry for it (TLB fills consult contains()).
//   - A guest write to a registered page (through the notify path) is posted
//     as a kWritten event: every vCPU invalidates its blocks of that page at
//     its next block boundary.
//   - Until every other running vCPU has acknowledged the last kProtect
//     event (ack()), one of them may still write the page through an old
//     writable TLB entry without a kWritten event; so meanwhile every vCPU
//     revalidates its blocks (memcmp of the decoded bytes, as after host
//     writes) at each block boundary. A vCPU that drops a writable entry
//     for a kProtect page posts a kWritten event for it (it may have
//     written the page through that entry). A vCPU outside run() writes
//     nothing (kIdle): it syncs when it leaves run() and again before its
//     first instruction.
// A ring slot overwritten before a vCPU read it makes that vCPU flush its
// whole block cache (correct, just slower).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

namespace skvm::cpu {

class SharedCode {
 public:
  static constexpr unsigned kPageSlots = 1u << 15;  // power of two
  static constexpr unsigned kRing = 256;            // power of two
  static constexpr unsigned kMaxParticipants = 256;
  static constexpr uint64_t kIdle = ~0ull;

  enum class Kind : uint8_t { kProtect = 0, kWritten = 1 };
  struct Event {
    uint64_t gpa_page = 0;
    Kind kind = Kind::kProtect;
    unsigned poster = 0;
  };

  SharedCode();
  SharedCode(const SharedCode&) = delete;
  SharedCode& operator=(const SharedCode&) = delete;

  // A vCPU joins once (at construction of its engine); returns its id.
  // More than kMaxParticipants: the id is shared with another (acks then
  // stay conservative, never wrong).
  unsigned join();
  unsigned participants() const { return n_participants_.load(std::memory_order_acquire); }

  // Registers gpa_page (page aligned); true when it was not registered yet.
  // When the set is full every page counts as code from then on.
  bool add(uint64_t gpa_page);
  bool contains(uint64_t gpa_page) const;

  // Posts an event; the epoch moves after the event is readable.
  void post(uint64_t gpa_page, Kind kind, unsigned poster);
  const std::atomic<uint64_t>& epoch() const { return published_; }
  // Event number `seq` (0-based). False when it was overwritten or is not
  // published yet: the reader must then assume every page changed.
  bool event(uint64_t seq, Event* out) const;
  // 1 + the number of the last kProtect event (0: none).
  uint64_t protect_end() const { return protect_end_.load(std::memory_order_acquire); }

  // Acknowledgement: participant `id` has processed every event before
  // `seq` (kIdle: it is outside run() and will sync before executing).
  void ack(unsigned id, uint64_t seq) { acks_[id % kMaxParticipants].store(seq, std::memory_order_release); }
  // Whether some running participant other than `id` has not yet processed
  // every event before `seq`.
  bool others_behind(unsigned id, uint64_t seq) const;

 private:
  struct Slot {
    std::atomic<uint64_t> seq{0};    // event number + 1 once written; 0 while being written
    std::atomic<uint64_t> value{0};  // gpa_page | kind | (poster % kMaxParticipants) << 1
  };
  std::unique_ptr<std::atomic<uint64_t>[]> pages_;  // gpa_page | 1; 0 = empty
  std::atomic<bool> full_{false};
  std::unique_ptr<Slot[]> ring_;
  std::atomic<uint64_t> reserved_{0};
  std::atomic<uint64_t> published_{0};
  std::atomic<uint64_t> protect_end_{0};
  std::atomic<unsigned> n_participants_{0};
  std::unique_ptr<std::atomic<uint64_t>[]> acks_;
};

}  // namespace skvm::cpu
