// A virtio block device on the virtio-mmio transport (Virtual I/O Device
// (VIRTIO) Version 1.1: 4.2 "Virtio Over MMIO" (modern, Version 2), 2.6
// "Split Virtqueues", 5.2 "Block Device"), backed by a host file descriptor.
// One request queue; VIRTIO_F_VERSION_1 and VIRTIO_BLK_F_FLUSH; requests
// IN, OUT, FLUSH and GET_ID. The interrupt is a level (InterruptStatus != 0)
// reported through a callback on every change.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "vmm/guest_memory.h"

namespace skvm::vmm {

class VirtioMmioBlock {
 public:
  static constexpr uint64_t kWindowSize = 0x200;
  static constexpr uint16_t kQueueSize = 128;

  // `fd`: the disk image (not owned), `size` its length in bytes (rounded
  // down to 512-byte sectors). `mem`: guest RAM for the virtqueues.
  VirtioMmioBlock(GuestMemory mem, int fd, uint64_t size, bool read_only, std::string id);

  // api.rst KVM_EXIT_MMIO: `offset` within the window, `len` 1..8 bytes.
  void read(uint64_t offset, uint8_t* data, uint32_t len);
  void write(uint64_t offset, const uint8_t* data, uint32_t len);

  void set_irq_callback(std::function<void(bool)> cb) { irq_cb_ = std::move(cb); }
  bool irq_level() const { return interrupt_status_ != 0; }
  uint64_t requests() const { return requests_; }

 private:
  uint32_t read32(uint64_t offset) const;
  void write32(uint64_t offset, uint32_t value);
  void reset();
  void process_queue();
  // Handles one descriptor chain; returns the bytes written into the guest.
  uint32_t handle_request(uint16_t head);
  void update_irq(bool was);

  GuestMemory mem_;
  int fd_;
  uint64_t sectors_;
  bool read_only_;
  std::string id_;
  std::function<void(bool)> irq_cb_;
  uint64_t requests_ = 0;

  uint32_t status_ = 0;
  uint32_t device_features_sel_ = 0;
  uint32_t driver_features_sel_ = 0;
  uint64_t driver_features_ = 0;
  uint32_t queue_sel_ = 0;
  uint32_t interrupt_status_ = 0;
  // Queue 0 (the only one).
  uint32_t queue_num_ = kQueueSize;
  bool queue_ready_ = false;
  uint64_t desc_ = 0, avail_ = 0, used_ = 0;
  uint16_t last_avail_ = 0;
};

}  // namespace skvm::vmm
