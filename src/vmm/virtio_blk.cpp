// VIRTIO 1.1: 4.2.2 MMIO Device Register Layout, 2.6 Split Virtqueues
// (2.6.5 descriptor table, 2.6.6 available ring, 2.6.8 used ring), 5.2.6
// block device operation.
#include "vmm/virtio_blk.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace skvm::vmm {
namespace {
constexpr uint32_t kMagic = 0x74726976;  // "virt"
constexpr uint32_t kVersion = 2;         // modern
constexpr uint32_t kDeviceIdBlock = 2;
constexpr uint32_t kVendorId = 0x4d56534b;  // "KSVM"
constexpr uint64_t kFeatureBlkFlush = 1ull << 9;
constexpr uint64_t kFeatureBlkRo = 1ull << 5;
constexpr uint64_t kFeatureVersion1 = 1ull << 32;
constexpr uint16_t kDescNext = 1, kDescWrite = 2;
constexpr uint32_t kTypeIn = 0, kTypeOut = 1, kTypeFlush = 4, kTypeGetId = 8;
constexpr uint8_t kStatusOk = 0, kStatusIoErr = 1, kStatusUnsupported = 2;
constexpr uint64_t kSector = 512;

struct Desc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};
}  // namespace

VirtioMmioBlock::VirtioMmioBlock(GuestMemory mem, int fd, uint64_t size, bool read_only, std::string id)
    : mem_(mem), fd_(fd), sectors_(size / kSector), read_only_(read_only), id_(std::move(id)) {}

void VirtioMmioBlock::reset() {
  const bool was = irq_level();
  status_ = 0;
  driver_features_ = 0;
  queue_sel_ = 0;
  interrupt_status_ = 0;
  queue_num_ = kQueueSize;
  queue_ready_ = false;
  desc_ = avail_ = used_ = 0;
  last_avail_ = 0;
  update_irq(was);
}

void VirtioMmioBlock::update_irq(bool was) {
  if (irq_level() != was && irq_cb_) irq_cb_(irq_level());
}

uint32_t VirtioMmioBlock::read32(uint64_t offset) const {
  const uint64_t features = kFeatureVersion1 | kFeatureBlkFlush | (read_only_ ? kFeatureBlkRo : 0);
  switch (offset) {
    case 0x000: return kMagic;
    case 0x004: return kVersion;
    case 0x008: return kDeviceIdBlock;
    case 0x00c: return kVendorId;
    case 0x010: return device_features_sel_ == 0 ? static_cast<uint32_t>(features)
                       : device_features_sel_ == 1 ? static_cast<uint32_t>(features >> 32) : 0;
    case 0x034: return queue_sel_ == 0 ? kQueueSize : 0;  // QueueNumMax
    case 0x044: return queue_sel_ == 0 && queue_ready_ ? 1 : 0;
    case 0x060: return interrupt_status_;
    case 0x070: return status_;
    case 0x0fc: return 0;  // ConfigGeneration: the config never changes
    default: return 0;
  }
}

void VirtioMmioBlock::read(uint64_t offset, uint8_t* data, uint32_t len) {
  std::memset(data, 0, len);
  if (offset >= 0x100) {
    // 5.2.4: config space; capacity (le64) first, the rest reads as zero.
    uint8_t config[0x40] = {};
    std::memcpy(config, &sectors_, 8);
    const uint64_t at = offset - 0x100;
    for (uint32_t i = 0; i < len && at + i < sizeof config; ++i) data[i] = config[at + i];
    return;
  }
  const uint32_t v = read32(offset & ~3ull);
  const uint32_t shift = 8 * (offset & 3);
  for (uint32_t i = 0; i < len && i < 4; ++i) data[i] = static_cast<uint8_t>(v >> (shift + 8 * i));
}

void VirtioMmioBlock::write(uint64_t offset, const uint8_t* data, uint32_t len) {
  if (offset >= 0x100) return;  // 5.2.4: the block config is read-only here
  uint32_t v = 0;
  for (uint32_t i = 0; i < len && i < 4; ++i) v |= static_cast<uint32_t>(data[i]) << (8 * i);
  write32(offset, v);
}

void VirtioMmioBlock::write32(uint64_t offset, uint32_t value) {
  auto set_low = [](uint64_t& r, uint32_t v) { r = (r & ~0xffffffffull) | v; };
  auto set_high = [](uint64_t& r, uint32_t v) { r = (r & 0xffffffffull) | (static_cast<uint64_t>(v) << 32); };
  const bool q0 = queue_sel_ == 0;
  switch (offset) {
    case 0x014: device_features_sel_ = value; break;
    case 0x020:
      if (driver_features_sel_ == 0) set_low(driver_features_, value);
      if (driver_features_sel_ == 1) set_high(driver_features_, value);
      break;
    case 0x024: driver_features_sel_ = value; break;
    case 0x030: queue_sel_ = value; break;
    case 0x038: if (q0) queue_num_ = std::min<uint32_t>(value, kQueueSize); break;
    case 0x044: if (q0) queue_ready_ = value & 1; break;
    case 0x050: if (value == 0 && queue_ready_) process_queue(); break;  // QueueNotify
    case 0x064: {  // InterruptACK
      const bool was = irq_level();
      interrupt_status_ &= ~value;
      update_irq(was);
      break;
    }
    case 0x070:
      if (value == 0) {
        reset();
      } else {
        status_ = value;
      }
      break;
    case 0x080: if (q0) set_low(desc_, value); break;
    case 0x084: if (q0) set_high(desc_, value); break;
    case 0x090: if (q0) set_low(avail_, value); break;
    case 0x094: if (q0) set_high(avail_, value); break;
    case 0x0a0: if (q0) set_low(used_, value); break;
    case 0x0a4: if (q0) set_high(used_, value); break;
    default: break;
  }
}

void VirtioMmioBlock::process_queue() {
  if (queue_num_ == 0) return;
  bool any = false;
  try {
    const uint16_t avail_idx = mem_.get<uint16_t>(avail_ + 2);
    while (last_avail_ != avail_idx) {
      const uint16_t head = mem_.get<uint16_t>(avail_ + 4 + 2 * (last_avail_ % queue_num_));
      const uint32_t written = handle_request(head);
      const uint16_t used_idx = mem_.get<uint16_t>(used_ + 2);
      const uint64_t elem = used_ + 4 + 8 * (used_idx % queue_num_);
      mem_.put<uint32_t>(elem, head);
      mem_.put<uint32_t>(elem + 4, written);
      mem_.put<uint16_t>(used_ + 2, static_cast<uint16_t>(used_idx + 1));
      ++last_avail_;
      ++requests_;
      any = true;
    }
  } catch (const VmmError&) {
    // 2.1.2: a driver error (ring outside RAM): DEVICE_NEEDS_RESET.
    status_ |= 0x40;
  }
  if (any) {
    const bool was = irq_level();
    interrupt_status_ |= 1;  // VIRTIO_MMIO_INT_VRING
    update_irq(was);
  }
}

uint32_t VirtioMmioBlock::handle_request(uint16_t head) {
  // 5.2.6: header (type, reserved, sector) | data buffers | status byte.
  std::vector<Desc> chain;
  uint16_t i = head;
  for (uint32_t n = 0; n < queue_num_; ++n) {
    if (i >= queue_num_) throw VmmError("virtio-blk: descriptor index out of range");
    const uint64_t d = desc_ + 16 * i;
    Desc desc{mem_.get<uint64_t>(d), mem_.get<uint32_t>(d + 8), mem_.get<uint16_t>(d + 12), mem_.get<uint16_t>(d + 14)};
    chain.push_back(desc);
    if (!(desc.flags & kDescNext)) break;
    i = desc.next;
  }
  if (chain.size() < 2 || chain.front().len < 16 || chain.back().len < 1 || !(chain.back().flags & kDescWrite)) {
    throw VmmError("virtio-blk: malformed request");
  }
  const uint32_t type = mem_.get<uint32_t>(chain.front().addr);
  uint64_t sector = mem_.get<uint64_t>(chain.front().addr + 8);
  uint8_t status = kStatusOk;
  uint32_t written = 0;
  for (size_t k = 1; k + 1 < chain.size(); ++k) {
    const Desc& d = chain[k];
    uint8_t* buf = mem_.at(d.addr, d.len);
    if (type == kTypeIn || type == kTypeOut) {
      if (sector + (d.len + kSector - 1) / kSector > sectors_) {
        status = kStatusIoErr;
        break;
      }
      const auto off = static_cast<off_t>(sector * kSector);
      const ssize_t n = type == kTypeIn ? pread(fd_, buf, d.len, off)
                                        : (read_only_ ? -1 : pwrite(fd_, buf, d.len, off));
      if (n != static_cast<ssize_t>(d.len)) {
        status = kStatusIoErr;
        break;
      }
      if (type == kTypeIn) written += d.len;
      sector += d.len / kSector;
    } else if (type == kTypeGetId) {
      // 5.2.6: up to 20 bytes, NUL padded.
      std::memset(buf, 0, d.len);
      std::memcpy(buf, id_.data(), std::min<size_t>({id_.size(), d.len, 20}));
      written += std::min<uint32_t>(d.len, 20);
    }
  }
  if (type == kTypeFlush) {
    if (fsync(fd_) != 0) status = kStatusIoErr;
  } else if (type != kTypeIn && type != kTypeOut && type != kTypeGetId) {
    status = kStatusUnsupported;
  }
  mem_.put<uint8_t>(chain.back().addr, status);
  return written + 1;
}

}  // namespace skvm::vmm
