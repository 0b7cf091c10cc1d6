// A virtio block device (Virtual I/O Device (VIRTIO) Version 1.1, 5.2
// "Block Device") on the virtio-mmio transport (virtio_mmio.h), backed by a
// host file descriptor. One request queue; VIRTIO_F_VERSION_1,
// VIRTIO_BLK_F_FLUSH (and VIRTIO_BLK_F_RO for a read-only image); requests
// IN, OUT, FLUSH and GET_ID.
#pragma once

#include <cstdint>
#include <string>

#include "vmm/virtio_mmio.h"

namespace skvm::vmm {

class VirtioMmioBlock : public VirtioMmioDevice {
 public:
  static constexpr uint32_t kDeviceId = 2;
  static constexpr uint16_t kQueueSize = 128;

  // `fd`: the disk image (not owned), `size` its length in bytes (rounded
  // down to 512-byte sectors). `mem`: guest RAM for the virtqueue.
  VirtioMmioBlock(GuestMemory mem, int fd, uint64_t size, bool read_only, std::string id);

  uint64_t requests() const { return requests_; }

 protected:
  void read_config(uint64_t offset, uint8_t* data, uint32_t len) override;
  void queue_notify(uint16_t index) override;

 private:
  // Handles one descriptor chain; returns the bytes written into the guest.
  uint32_t handle_request(const VirtqChain& chain);

  int fd_;
  uint64_t sectors_;
  bool read_only_;
  std::string id_;
  uint64_t requests_ = 0;
  VirtqChain chain_;  // reused: no allocation per request once warm
};

}  // namespace skvm::vmm
