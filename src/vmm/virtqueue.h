// A split virtqueue as the device sees it (Virtual I/O Device (VIRTIO)
// Version 1.1, 2.6 "Split Virtqueues": 2.6.5 the descriptor table, 2.6.6
// the available ring, 2.6.8 the used ring), over guest RAM. Shared by every
// virtio device of the VMM; the transport (virtio_mmio.h) owns one per queue
// and fills in its registers (size, ready, ring addresses).
#pragma once

#include <cstdint>
#include <vector>

#include "vmm/guest_memory.h"

namespace skvm::vmm {

// 2.6.5: struct virtq_desc.
struct VirtqDesc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};
inline constexpr uint16_t kVirtqDescNext = 1;      // VIRTQ_DESC_F_NEXT
inline constexpr uint16_t kVirtqDescWrite = 2;     // VIRTQ_DESC_F_WRITE (device writes)
inline constexpr uint16_t kVirtqDescIndirect = 4;  // VIRTQ_DESC_F_INDIRECT (never offered)

// One descriptor chain taken from the available ring.
struct VirtqChain {
  uint16_t head = 0;
  std::vector<VirtqDesc> descs;
};

class Virtqueue {
 public:
  explicit Virtqueue(uint16_t max_size) : max_size_(max_size), num_(max_size) {}

  // Transport registers (4.2.2: QueueNumMax, QueueNum, QueueReady,
  // QueueDesc/Driver/Device).
  uint16_t max_size() const { return max_size_; }
  uint32_t num() const { return num_; }
  bool ready() const { return ready_; }
  void set_num(uint32_t n) { num_ = n <= max_size_ ? n : max_size_; }
  void set_ready(bool ready) { ready_ = ready; }
  void set_desc(uint64_t gpa) { desc_ = gpa; }
  void set_avail(uint64_t gpa) { avail_ = gpa; }
  void set_used(uint64_t gpa) { used_ = gpa; }
  uint64_t desc() const { return desc_; }
  uint64_t avail() const { return avail_; }
  uint64_t used() const { return used_; }
  void reset();

  // 2.6.6: the next available descriptor chain into `chain`; false when the
  // driver has made none available (or the queue is not ready). Throws
  // VmmError on a malformed ring (index out of range, loop, indirect
  // descriptor, ring outside RAM): the device then needs a reset (2.1.2).
  bool pop(const GuestMemory& mem, VirtqChain& chain);
  // True when pop() would return a chain (no side effect).
  bool has_available(const GuestMemory& mem) const;

  // 2.6.8: returns `head` to the driver with `written` bytes written into
  // its device-writable buffers, then publishes the new used index.
  void push_used(const GuestMemory& mem, uint16_t head, uint32_t written);

  // 2.6.7.1: the driver set VIRTQ_AVAIL_F_NO_INTERRUPT (no
  // VIRTIO_F_EVENT_IDX is offered): the device should not interrupt.
  bool interrupt_suppressed(const GuestMemory& mem) const;

 private:
  uint16_t max_size_;
  uint32_t num_;
  bool ready_ = false;
  uint64_t desc_ = 0, avail_ = 0, used_ = 0;
  uint16_t last_avail_ = 0;
  uint16_t next_used_ = 0;
};

}  // namespace skvm::vmm
