// VIRTIO 1.1: 5.2.4 block device configuration layout, 5.2.6 device
// operation (request header | data buffers | status byte).
#include "vmm/virtio_blk.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace skvm::vmm {
namespace {
constexpr uint64_t kFeatureBlkRo = 1ull << 5;
constexpr uint64_t kFeatureBlkFlush = 1ull << 9;
constexpr uint32_t kTypeIn = 0, kTypeOut = 1, kTypeFlush = 4, kTypeGetId = 8;
constexpr uint8_t kStatusOk = 0, kStatusIoErr = 1, kStatusUnsupported = 2;
constexpr uint64_t kSector = 512;
}  // namespace

VirtioMmioBlock::VirtioMmioBlock(GuestMemory mem, int fd, uint64_t size, bool read_only, std::string id)
    : VirtioMmioDevice(mem, kDeviceId, kFeatureBlkFlush | (read_only ? kFeatureBlkRo : 0), 1, kQueueSize),
      fd_(fd), sectors_(size / kSector), read_only_(read_only), id_(std::move(id)) {}

void VirtioMmioBlock::read_config(uint64_t offset, uint8_t* data, uint32_t len) {
  // 5.2.4: capacity (le64) first; the rest (no optional feature) reads zero.
  uint8_t config[0x40] = {};
  std::memcpy(config, &sectors_, 8);
  for (uint32_t i = 0; i < len && offset + i < sizeof config; ++i) data[i] = config[offset + i];
}

void VirtioMmioBlock::queue_notify(uint16_t index) {
  Virtqueue& q = queue(index);
  bool any = false;
  while (q.pop(mem_, chain_)) {
    const uint32_t written = handle_request(chain_);
    q.push_used(mem_, chain_.head, written);
    ++requests_;
    any = true;
  }
  if (any) notify_used(index);
}

uint32_t VirtioMmioBlock::handle_request(const VirtqChain& c) {
  const auto& chain = c.descs;
  if (chain.size() < 2 || chain.front().len < 16 || chain.back().len < 1 || !(chain.back().flags & kVirtqDescWrite)) {
    throw VmmError("virtio-blk: malformed request");
  }
  const uint32_t type = mem_.get<uint32_t>(chain.front().addr);
  uint64_t sector = mem_.get<uint64_t>(chain.front().addr + 8);
  uint8_t status = kStatusOk;
  uint32_t written = 0;
  for (size_t k = 1; k + 1 < chain.size(); ++k) {
    const VirtqDesc& d = chain[k];
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
