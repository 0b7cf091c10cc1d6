// VM-wide code-page registry (protocol in shared_code.h).
#include "cpu/cache/shared_code.h"

#include <sched.h>

#include "cpu/bus.h"

namespace skvm::cpu {

static_assert(SharedCode::kMaxParticipants * 2 <= kPageSize, "poster id fits the page offset bits");

SharedCode::SharedCode()
    : pages_(new std::atomic<uint64_t>[kPageSlots]()), ring_(new Slot[kRing]()),
      acks_(new std::atomic<uint64_t>[kMaxParticipants]) {
  for (unsigned k = 0; k < kMaxParticipants; ++k) acks_[k].store(kIdle, std::memory_order_relaxed);
}

unsigned SharedCode::join() { return n_participants_.fetch_add(1, std::memory_order_acq_rel); }

bool SharedCode::add(uint64_t gpa_page) {
  const uint64_t tag = gpa_page | 1;
  unsigned h = static_cast<unsigned>((gpa_page >> 12) * 0x9E3779B1u) & (kPageSlots - 1);
  // Keep a quarter free so that probes stay short; beyond that, every page
  // counts as code (writes take the notify path: slower, still exact).
  for (unsigned probe = 0; probe < kPageSlots / 4; ++probe, h = (h + 1) & (kPageSlots - 1)) {
    uint64_t cur = pages_[h].load(std::memory_order_acquire);
    if (cur == tag) return false;
    if (cur == 0) {
      uint64_t expected = 0;
      if (pages_[h].compare_exchange_strong(expected, tag, std::memory_order_acq_rel)) return true;
      if (expected == tag) return false;
    }
  }
  full_.store(true, std::memory_order_release);
  return true;
}

bool SharedCode::contains(uint64_t gpa_page) const {
  if (full_.load(std::memory_order_acquire)) [[unlikely]] return true;
  const uint64_t tag = gpa_page | 1;
  unsigned h = static_cast<unsigned>((gpa_page >> 12) * 0x9E3779B1u) & (kPageSlots - 1);
  for (unsigned probe = 0; probe < kPageSlots / 4; ++probe, h = (h + 1) & (kPageSlots - 1)) {
    const uint64_t cur = pages_[h].load(std::memory_order_acquire);
    if (cur == tag) return true;
    if (cur == 0) return false;
  }
  return false;
}

void SharedCode::post(uint64_t gpa_page, Kind kind, unsigned poster) {
  const uint64_t seq = reserved_.fetch_add(1, std::memory_order_acq_rel);
  Slot& s = ring_[seq & (kRing - 1)];
  // A seqlock per slot: readers that see seq change under them retry-fail.
  s.seq.store(0, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  s.value.store(gpa_page | static_cast<uint64_t>(kind) | (static_cast<uint64_t>(poster % kMaxParticipants) << 1),
                std::memory_order_relaxed);
  s.seq.store(seq + 1, std::memory_order_release);
  if (kind == Kind::kProtect) {
    uint64_t cur = protect_end_.load(std::memory_order_relaxed);
    while (cur < seq + 1 && !protect_end_.compare_exchange_weak(cur, seq + 1, std::memory_order_acq_rel)) {
    }
  }
  // Publish in order: wait for the posters before us (they are between two
  // stores; yield if one was preempted).
  for (unsigned spins = 0; published_.load(std::memory_order_acquire) != seq; ++spins) {
    if (spins > 64) sched_yield();
  }
  published_.store(seq + 1, std::memory_order_release);
}

bool SharedCode::event(uint64_t seq, Event* out) const {
  const Slot& s = ring_[seq & (kRing - 1)];
  if (s.seq.load(std::memory_order_acquire) != seq + 1) return false;
  const uint64_t v = s.value.load(std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_acquire);
  if (s.seq.load(std::memory_order_relaxed) != seq + 1) return false;
  out->gpa_page = v & kPageMask;
  out->kind = static_cast<Kind>(v & 1);
  out->poster = static_cast<unsigned>((v & (kPageSize - 1)) >> 1);
  return true;
}

bool SharedCode::others_behind(unsigned id, uint64_t seq) const {
  const unsigned n = participants() < kMaxParticipants ? participants() : kMaxParticipants;
  for (unsigned k = 0; k < n; ++k) {
    if (k == id % kMaxParticipants) continue;
    const uint64_t a = acks_[k].load(std::memory_order_acquire);
    if (a != kIdle && a < seq) return true;
  }
  return false;
}

}  // namespace skvm::cpu
