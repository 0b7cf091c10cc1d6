// VIRTIO 1.1, 2.6 Split Virtqueues: 2.6.5 descriptor table, 2.6.6
// available ring (flags, idx, ring[]), 2.6.8 used ring (flags, idx,
// ring[] of {id, len}). All fields little-endian (the host is x86-64).
#include "vmm/virtqueue.h"

#include <atomic>

namespace skvm::vmm {

void Virtqueue::reset() {
  num_ = max_size_;
  ready_ = false;
  desc_ = avail_ = used_ = 0;
  last_avail_ = 0;
  next_used_ = 0;
}

bool Virtqueue::has_available(const GuestMemory& mem) const {
  if (!ready_ || num_ == 0) return false;
  return mem.get<uint16_t>(avail_ + 2) != last_avail_;
}

bool Virtqueue::pop(const GuestMemory& mem, VirtqChain& chain) {
  if (!has_available(mem)) return false;
  // 2.6.6: read the ring entry only after seeing the index that covers it.
  std::atomic_thread_fence(std::memory_order_acquire);
  const uint16_t head = mem.get<uint16_t>(avail_ + 4 + 2 * (last_avail_ % num_));
  chain.head = head;
  chain.descs.clear();
  uint16_t i = head;
  for (uint32_t n = 0;; ++n) {
    // 2.6.5.3.1: a chain longer than the queue is a loop.
    if (i >= num_ || n >= num_) throw VmmError("virtqueue: descriptor index out of range or chain loop");
    const uint64_t d = desc_ + 16 * static_cast<uint64_t>(i);
    const VirtqDesc desc{mem.get<uint64_t>(d), mem.get<uint32_t>(d + 8), mem.get<uint16_t>(d + 12),
                         mem.get<uint16_t>(d + 14)};
    if (desc.flags & kVirtqDescIndirect) throw VmmError("virtqueue: indirect descriptor (not negotiated)");
    chain.descs.push_back(desc);
    if (!(desc.flags & kVirtqDescNext)) break;
    i = desc.next;
  }
  ++last_avail_;
  return true;
}

void Virtqueue::push_used(const GuestMemory& mem, uint16_t head, uint32_t written) {
  // The device keeps its own used index: the driver never writes it (2.6.8).
  const uint16_t used_idx = next_used_;
  const uint64_t elem = used_ + 4 + 8 * static_cast<uint64_t>(used_idx % num_);
  mem.put<uint32_t>(elem, head);
  mem.put<uint32_t>(elem + 4, written);
  // 2.6.8.2: the element must be visible before the index that covers it.
  std::atomic_thread_fence(std::memory_order_release);
  next_used_ = static_cast<uint16_t>(used_idx + 1);
  mem.put<uint16_t>(used_ + 2, next_used_);
}

bool Virtqueue::interrupt_suppressed(const GuestMemory& mem) const {
  std::atomic_thread_fence(std::memory_order_seq_cst);  // the used index before the flag (2.6.7.2)
  return (mem.get<uint16_t>(avail_) & 1) != 0;  // VIRTQ_AVAIL_F_NO_INTERRUPT
}

}  // namespace skvm::vmm
