// Guest-physical memory slots (KVM_SET_USER_MEMORY_REGION) and dirty
// logging (KVM_GET_DIRTY_LOG).
//
// Read-mostly: running vCPUs look slots up on soft-TLB misses without any
// lock. Writers (VM ioctls) build a new immutable sorted snapshot under a
// mutex and publish it with one atomic store, and bump the generation so
// that engines flush their soft TLBs. Old snapshots are retired and freed by
// a later writer that sees no reader inside lookup()/mark_dirty() (a
// seq_cst reader count: a reader that enters after that check can only see
// the current snapshot).
#pragma once

#include <linux/kvm.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "base/mutex.h"
#include "cpu/bus.h"

namespace skvm::kvm {

// One bit per page of a slot, set by vCPUs (atomically), harvested by
// KVM_GET_DIRTY_LOG.
class DirtyBitmap {
 public:
  explicit DirtyBitmap(uint64_t npages) : words_((npages + 63) / 64) {}
  void set(uint64_t page) {
    words_[page / 64].fetch_or(1ull << (page % 64), std::memory_order_relaxed);
  }
  // Bytes KVM copies out: ALIGN(npages, BITS_PER_LONG) / 8.
  size_t bytes() const { return words_.size() * 8; }
  // Moves the bits into `out` (bytes() bytes) and clears them.
  void harvest(uint64_t* out) {
    for (size_t i = 0; i < words_.size(); ++i) out[i] = words_[i].exchange(0, std::memory_order_relaxed);
  }

 private:
  std::vector<std::atomic<uint64_t>> words_;
};

struct Memslot {
  uint32_t slot = 0;  // (as_id << 16) | id
  uint32_t flags = 0;
  uint64_t base_gfn = 0;
  uint64_t npages = 0;
  uint64_t userspace_addr = 0;
  std::shared_ptr<DirtyBitmap> dirty;  // non-null iff KVM_MEM_LOG_DIRTY_PAGES

  uint64_t end_gfn() const { return base_gfn + npages; }
};

class Memslots {
 public:
  Memslots();
  ~Memslots();
  Memslots(const Memslots&) = delete;
  Memslots& operator=(const Memslots&) = delete;

  // api.rst: KVM_SET_USER_MEMORY_REGION. Returns 0 or -errno exactly as
  // kvm_vm_ioctl_set_memory_region() / __kvm_set_memory_region().
  int set(const kvm_userspace_memory_region& mem);

  // api.rst: KVM_GET_DIRTY_LOG. On success *out holds the slot's bitmap
  // (cleared in the slot) and 0 is returned; otherwise -errno.
  int get_dirty_log(uint32_t slot, std::vector<uint64_t>* out);

  // Hot path (any thread, no lock). The client's memory behind the page is
  // not touched: if it is unmapped or lacks the permission an access needs,
  // the engine's access faults and KVM_RUN returns EFAULT (base/fault.h).
  cpu::PhysPage lookup(uint64_t gpa) const;
  // The whole slot holding gpa, or the hole between slots around it
  // (cpu::Bus::lookup_range).
  cpu::PhysRange lookup_range(uint64_t gpa) const;
  void mark_dirty(uint64_t gpa) const;
  // Async-signal-safe (no lock, no allocation): does host address `addr`
  // lie in the client memory of a current slot? Used by the fault handler
  // to claim faults on guest memory.
  bool contains_host(uintptr_t addr) const;
  const std::atomic<uint64_t>& generation() const { return generation_; }

  // A copy of the current slots, sorted by base_gfn (tests, diagnostics).
  std::vector<Memslot> slots() const;
  // Snapshots still allocated, the current one included (tests).
  size_t retained_snapshots();

 private:
  struct Snapshot {
    std::vector<Memslot> by_gfn;  // sorted by base_gfn, non-overlapping
  };
  const Memslot* find(const Snapshot& s, uint64_t gfn) const;
  void publish(std::vector<Memslot> slots) SKVM_REQUIRES(mu_);
  // Readers announce themselves for the duration of one lookup.
  class ReadScope {
   public:
    explicit ReadScope(const Memslots& m) : m_(m) { m_.readers_.fetch_add(1, std::memory_order_seq_cst); }
    ~ReadScope() { m_.readers_.fetch_sub(1, std::memory_order_seq_cst); }
    ReadScope(const ReadScope&) = delete;
    ReadScope& operator=(const ReadScope&) = delete;

   private:
    const Memslots& m_;
  };

  base::Mutex mu_;  // writers only; readers load current_
  std::atomic<const Snapshot*> current_;
  std::unique_ptr<const Snapshot> owned_current_ SKVM_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<const Snapshot>> retired_ SKVM_GUARDED_BY(mu_);
  mutable std::atomic<uint64_t> readers_{0};
  std::atomic<uint64_t> generation_{0};
};

}  // namespace skvm::kvm
