// The virtio-mmio transport (Virtual I/O Device (VIRTIO) Version 1.1, 4.2
// "Virtio Over MMIO", modern register layout, Version 2) shared by the VMM's
// virtio devices: identification, feature negotiation (3.1.1), device status
// and reset, the queues' registers, QueueNotify, InterruptStatus/ACK and the
// config space window at 0x100. A device derives from it and supplies its ID,
// features, queues, config space and what a notification does. The
// interrupt is a level (InterruptStatus != 0) reported through a callback on
// every change (the machine turns it into KVM_IRQ_LINE).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "vmm/guest_memory.h"
#include "vmm/virtqueue.h"

namespace skvm::vmm {

class VirtioMmioDevice {
 public:
  static constexpr uint64_t kWindowSize = 0x200;
  // 4.2.2 register offsets used outside the transport (tests, traces).
  static constexpr uint64_t kRegQueueNotify = 0x050;
  static constexpr uint64_t kRegConfig = 0x100;
  // 2.1: device status bits.
  static constexpr uint32_t kStatusAcknowledge = 1, kStatusDriver = 2, kStatusDriverOk = 4,
                            kStatusFeaturesOk = 8, kStatusNeedsReset = 0x40;
  static constexpr uint64_t kFeatureVersion1 = 1ull << 32;  // 6: VIRTIO_F_VERSION_1

  virtual ~VirtioMmioDevice() = default;
  VirtioMmioDevice(const VirtioMmioDevice&) = delete;
  VirtioMmioDevice& operator=(const VirtioMmioDevice&) = delete;

  // api.rst KVM_EXIT_MMIO: `offset` within the window, `len` 1..8 bytes.
  void read(uint64_t offset, uint8_t* data, uint32_t len);
  void write(uint64_t offset, const uint8_t* data, uint32_t len);

  void set_irq_callback(std::function<void(bool)> cb) { irq_cb_ = std::move(cb); }
  bool irq_level() const { return interrupt_status_ != 0; }
  uint32_t status() const { return status_; }
  bool driver_ok() const { return (status_ & kStatusDriverOk) != 0 && (status_ & kStatusNeedsReset) == 0; }
  uint32_t device_id() const { return device_id_; }

 protected:
  VirtioMmioDevice(GuestMemory mem, uint32_t device_id, uint64_t device_features, uint16_t num_queues,
                   uint16_t queue_size);

  // The device-specific configuration space (offset from 0x100).
  virtual void read_config(uint64_t offset, uint8_t* data, uint32_t len) = 0;
  virtual void write_config(uint64_t /*offset*/, const uint8_t* /*data*/, uint32_t /*len*/) {}
  // QueueNotify for a ready queue `index`.
  virtual void queue_notify(uint16_t index) = 0;
  // Status 0 (3.1.1 step 1, or the driver's reset): device state back to
  // its initial values; the transport resets the queues itself.
  virtual void device_reset() {}

  Virtqueue& queue(uint16_t index) { return queues_[index]; }
  uint16_t queue_count() const { return static_cast<uint16_t>(queues_.size()); }
  uint64_t driver_features() const { return driver_features_; }

  // Used buffers were added to `index`: InterruptStatus bit 0 (used buffer
  // notification, 4.2.2) and the interrupt, unless the driver suppressed it.
  void notify_used(uint16_t index);
  // 2.1.2: the driver broke a ring: DEVICE_NEEDS_RESET and a configuration
  // change notification (InterruptStatus bit 1).
  void set_needs_reset();

  GuestMemory mem_;

 private:
  uint32_t read32(uint64_t offset) const;
  void write32(uint64_t offset, uint32_t value);
  void reset();
  void set_interrupt(uint32_t bits);
  void update_irq(bool was);

  uint32_t device_id_;
  uint64_t device_features_;
  std::vector<Virtqueue> queues_;
  std::function<void(bool)> irq_cb_;

  uint32_t status_ = 0;
  uint32_t device_features_sel_ = 0;
  uint32_t driver_features_sel_ = 0;
  uint64_t driver_features_ = 0;
  uint32_t queue_sel_ = 0;
  uint32_t interrupt_status_ = 0;
  uint32_t config_generation_ = 0;
};

}  // namespace skvm::vmm
