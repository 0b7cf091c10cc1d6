// VIRTIO 1.1, 5.3 Console Device: 5.3.2 virtqueues (0 receiveq, 1
// transmitq for port 0, 2 control receiveq, 3 control transmitq), 5.3.4
// configuration layout (cols, rows, max_nr_ports, emerg_wr), 5.3.6 device
// operation, 5.3.6.2 multiport device operation (struct
// virtio_console_control and its events, <linux/virtio_console.h>).
#include "vmm/virtio_console.h"

#include <linux/virtio_console.h>

#include <algorithm>
#include <cstring>

namespace skvm::vmm {
namespace {
constexpr uint32_t kMaxPorts = 1;
constexpr uint32_t kControlSize = 8;  // struct virtio_console_control: le32 id, le16 event, le16 value
static_assert(sizeof(virtio_console_control) == kControlSize);
}  // namespace

VirtioMmioConsole::VirtioMmioConsole(GuestMemory mem, std::FILE* out)
    : VirtioMmioDevice(mem, kDeviceId, kFeatureMultiport, 4, kQueueSize), out_(out) {}

void VirtioMmioConsole::device_reset() {
  line_.clear();
  guest_open_ = false;
  pending_control_.clear();
}

void VirtioMmioConsole::read_config(uint64_t offset, uint8_t* data, uint32_t len) {
  // 5.3.4: cols, rows (le16; zero: no VIRTIO_CONSOLE_F_SIZE), max_nr_ports
  // (le32, with F_MULTIPORT), emerg_wr (le32, write-only).
  uint8_t config[12] = {};
  std::memcpy(config + 4, &kMaxPorts, 4);
  for (uint32_t i = 0; i < len && offset + i < sizeof config; ++i) data[i] = config[offset + i];
}

void VirtioMmioConsole::queue_notify(uint16_t index) {
  // Port 0's receiveq notifications only say that buffers were posted:
  // receive() uses them when input arrives.
  switch (index) {
    case kTransmitQueue: transmit(); break;
    case kControlReceiveQueue: flush_control(); break;
    case kControlTransmitQueue: control_from_guest(); break;
    default: break;
  }
}

void VirtioMmioConsole::control_from_guest() {
  Virtqueue& q = queue(kControlTransmitQueue);
  bool any = false;
  while (q.pop(mem_, chain_)) {
    virtio_console_control msg{};
    const VirtqDesc& d = chain_.descs.front();
    if (!(d.flags & kVirtqDescWrite) && d.len >= kControlSize) {
      // SAFETY: the descriptor is at least kControlSize bytes (checked) and
      // at() bounds-checks it against RAM; the struct is plain data.
      std::memcpy(&msg, mem_.at(d.addr, kControlSize), kControlSize);
    } else {
      msg.event = 0xffff;  // malformed: ignored below
    }
    q.push_used(mem_, chain_.head, 0);
    any = true;
    switch (msg.event) {
      case VIRTIO_CONSOLE_DEVICE_READY:
        // The driver is up: announce port 0 (value 1 = success).
        if (msg.value == 1) send_control(0, VIRTIO_CONSOLE_PORT_ADD, 0);
        break;
      case VIRTIO_CONSOLE_PORT_READY:
        // Port 0 exists on the guest's side: make it the console (hvc0)
        // and say that the host's end is connected.
        if (msg.id == 0 && msg.value == 1) {
          send_control(0, VIRTIO_CONSOLE_CONSOLE_PORT, 1);
          send_control(0, VIRTIO_CONSOLE_PORT_OPEN, 1);
        }
        break;
      case VIRTIO_CONSOLE_PORT_OPEN:
        if (msg.id == 0) guest_open_ = msg.value != 0;
        break;
      default:
        break;  // PORT_NAME, RESIZE, ... are host → guest only
    }
  }
  if (any) notify_used(kControlTransmitQueue);
  flush_control();
}

void VirtioMmioConsole::send_control(uint32_t id, uint16_t event, uint16_t value) {
  virtio_console_control msg{};
  msg.id = id;
  msg.event = event;
  msg.value = value;
  std::array<uint8_t, 8> bytes{};
  // SAFETY: both are kControlSize bytes of plain data (static_assert above).
  std::memcpy(bytes.data(), &msg, kControlSize);
  pending_control_.push_back(bytes);
}

void VirtioMmioConsole::flush_control() {
  if (pending_control_.empty()) return;
  Virtqueue& q = queue(kControlReceiveQueue);
  size_t sent = 0;
  while (sent < pending_control_.size() && q.pop(mem_, chain_)) {
    const VirtqDesc& d = chain_.descs.front();
    uint32_t written = 0;
    if ((d.flags & kVirtqDescWrite) && d.len >= kControlSize) {
      mem_.write(d.addr, pending_control_[sent].data(), kControlSize);
      written = kControlSize;
    }
    q.push_used(mem_, chain_.head, written);
    ++sent;
  }
  if (sent == 0) return;
  pending_control_.erase(pending_control_.begin(), pending_control_.begin() + static_cast<std::ptrdiff_t>(sent));
  notify_used(kControlReceiveQueue);
}

void VirtioMmioConsole::transmit() {
  Virtqueue& q = queue(kTransmitQueue);
  bool any = false;
  while (q.pop(mem_, chain_)) {
    for (const VirtqDesc& d : chain_.descs) {
      // 5.3.6.2: transmitq buffers are driver-written; skip any writable one.
      if (d.flags & kVirtqDescWrite) continue;
      output(mem_.at(d.addr, d.len), d.len);
    }
    q.push_used(mem_, chain_.head, 0);
    any = true;
  }
  if (!any) return;
  std::fflush(out_);
  notify_used(kTransmitQueue);
}

void VirtioMmioConsole::output(const uint8_t* data, size_t n) {
  if (n == 0) return;
  if (bytes_transmitted_ == 0 && first_byte_cb_) first_byte_cb_();
  std::fwrite(data, 1, n, out_);
  bytes_transmitted_ += n;
  if (!line_cb_) return;
  for (size_t i = 0; i < n; ++i) {
    if (data[i] == '\n') {
      line_cb_(line_);
      line_.clear();
    } else if (line_.size() < 256) {
      line_.push_back(static_cast<char>(data[i]));
    }
  }
}

size_t VirtioMmioConsole::receive(const uint8_t* data, size_t n) {
  if (!driver_ok() || (multiport() && !guest_open_)) return 0;
  Virtqueue& q = queue(kReceiveQueue);
  size_t taken = 0;
  try {
    while (taken < n && q.pop(mem_, chain_)) {
      uint32_t written = 0;
      for (const VirtqDesc& d : chain_.descs) {
        if (!(d.flags & kVirtqDescWrite) || taken == n) continue;
        const size_t k = std::min<size_t>(d.len, n - taken);
        mem_.write(d.addr, data + taken, k);
        taken += k;
        written += static_cast<uint32_t>(k);
      }
      q.push_used(mem_, chain_.head, written);
    }
  } catch (const VmmError&) {
    set_needs_reset();
    return n;  // the driver broke the ring: the input is dropped
  }
  if (taken) {
    bytes_received_ += taken;
    notify_used(kReceiveQueue);
  }
  return taken;
}

}  // namespace skvm::vmm
