// VIRTIO 1.1: 4.2.2 MMIO Device Register Layout, 4.2.3.1 device
// initialization, 3.1.1 driver requirements (feature negotiation,
// FEATURES_OK), 2.1.2 DEVICE_NEEDS_RESET, 2.6.7 used buffer notification
// suppression.
#include "vmm/virtio_mmio.h"

#include <cstring>

namespace skvm::vmm {
namespace {
constexpr uint32_t kMagic = 0x74726976;     // "virt"
constexpr uint32_t kVersion = 2;            // modern
constexpr uint32_t kVendorId = 0x4d56534b;  // "KSVM"
constexpr uint32_t kIntUsedBuffer = 1;      // VIRTIO_MMIO_INT_VRING
constexpr uint32_t kIntConfigChange = 2;    // VIRTIO_MMIO_INT_CONFIG
}  // namespace

VirtioMmioDevice::VirtioMmioDevice(GuestMemory mem, uint32_t device_id, uint64_t device_features,
                                   uint16_t num_queues, uint16_t queue_size)
    : mem_(mem), device_id_(device_id), device_features_(device_features | kFeatureVersion1),
      queues_(num_queues, Virtqueue(queue_size)) {}

void VirtioMmioDevice::reset() {
  const bool was = irq_level();
  status_ = 0;
  driver_features_ = 0;
  queue_sel_ = 0;
  interrupt_status_ = 0;
  for (auto& q : queues_) q.reset();
  device_reset();
  update_irq(was);
}

void VirtioMmioDevice::update_irq(bool was) {
  if (irq_level() != was && irq_cb_) irq_cb_(irq_level());
}

void VirtioMmioDevice::set_interrupt(uint32_t bits) {
  const bool was = irq_level();
  interrupt_status_ |= bits;
  update_irq(was);
}

void VirtioMmioDevice::notify_used(uint16_t index) {
  if (queues_.at(index).interrupt_suppressed(mem_)) return;
  set_interrupt(kIntUsedBuffer);
}

void VirtioMmioDevice::set_needs_reset() {
  status_ |= kStatusNeedsReset;
  set_interrupt(kIntConfigChange);
}

uint32_t VirtioMmioDevice::read32(uint64_t offset) const {
  const bool q_ok = queue_sel_ < queues_.size();
  switch (offset) {
    case 0x000: return kMagic;
    case 0x004: return kVersion;
    case 0x008: return device_id_;
    case 0x00c: return kVendorId;
    case 0x010:  // DeviceFeatures, 32 bits selected by DeviceFeaturesSel
      return device_features_sel_ == 0   ? static_cast<uint32_t>(device_features_)
             : device_features_sel_ == 1 ? static_cast<uint32_t>(device_features_ >> 32)
                                         : 0;
    case 0x034: return q_ok ? queues_[queue_sel_].max_size() : 0;  // QueueNumMax: 0 = no such queue
    case 0x044: return q_ok && queues_[queue_sel_].ready() ? 1 : 0;
    case 0x060: return interrupt_status_;
    case 0x070: return status_;
    case 0x0fc: return config_generation_;
    default: return 0;  // write-only and reserved registers
  }
}

void VirtioMmioDevice::read(uint64_t offset, uint8_t* data, uint32_t len) {
  std::memset(data, 0, len);
  if (offset >= kRegConfig) {
    read_config(offset - kRegConfig, data, len);
    return;
  }
  // 4.2.2.2: the driver uses 32-bit accesses; narrower ones read the bytes.
  const uint32_t v = read32(offset & ~3ull);
  const uint32_t shift = 8 * (offset & 3);
  for (uint32_t i = 0; i < len && i + (offset & 3) < 4; ++i) data[i] = static_cast<uint8_t>(v >> (shift + 8 * i));
}

void VirtioMmioDevice::write(uint64_t offset, const uint8_t* data, uint32_t len) {
  if (offset >= kRegConfig) {
    write_config(offset - kRegConfig, data, len);
    return;
  }
  uint32_t v = 0;
  for (uint32_t i = 0; i < len && i < 4; ++i) v |= static_cast<uint32_t>(data[i]) << (8 * i);
  write32(offset, v);
}

void VirtioMmioDevice::write32(uint64_t offset, uint32_t value) {
  auto low = [](uint64_t r, uint32_t v) { return (r & ~0xffffffffull) | v; };
  auto high = [](uint64_t r, uint32_t v) { return (r & 0xffffffffull) | (static_cast<uint64_t>(v) << 32); };
  Virtqueue* q = queue_sel_ < queues_.size() ? &queues_[queue_sel_] : nullptr;
  switch (offset) {
    case 0x014: device_features_sel_ = value; break;
    case 0x020:  // DriverFeatures
      if (driver_features_sel_ == 0) driver_features_ = low(driver_features_, value);
      if (driver_features_sel_ == 1) driver_features_ = high(driver_features_, value);
      break;
    case 0x024: driver_features_sel_ = value; break;
    case 0x030: queue_sel_ = value; break;
    case 0x038: if (q) q->set_num(value); break;
    case 0x044: if (q) q->set_ready(value & 1); break;
    case kRegQueueNotify:
      if (value < queues_.size() && queues_[value].ready() && !(status_ & kStatusNeedsReset)) {
        try {
          queue_notify(static_cast<uint16_t>(value));
        } catch (const VmmError&) {
          set_needs_reset();  // a ring outside RAM or a malformed chain
        }
      }
      break;
    case 0x064: {  // InterruptACK
      const bool was = irq_level();
      interrupt_status_ &= ~value;
      update_irq(was);
      break;
    }
    case 0x070:
      if (value == 0) {
        reset();
        break;
      }
      // 3.1.1 step 5: FEATURES_OK only when the driver accepted a subset of
      // what the device offers, VIRTIO_F_VERSION_1 included (no legacy).
      if ((value & kStatusFeaturesOk) && !(status_ & kStatusFeaturesOk) &&
          ((driver_features_ & ~device_features_) != 0 || !(driver_features_ & kFeatureVersion1))) {
        value &= ~kStatusFeaturesOk;
      }
      status_ = value | (status_ & kStatusNeedsReset);
      break;
    case 0x080: if (q) q->set_desc(low(q->desc(), value)); break;
    case 0x084: if (q) q->set_desc(high(q->desc(), value)); break;
    case 0x090: if (q) q->set_avail(low(q->avail(), value)); break;
    case 0x094: if (q) q->set_avail(high(q->avail(), value)); break;
    case 0x0a0: if (q) q->set_used(low(q->used(), value)); break;
    case 0x0a4: if (q) q->set_used(high(q->used(), value)); break;
    default: break;  // read-only and reserved registers
  }
}

}  // namespace skvm::vmm
