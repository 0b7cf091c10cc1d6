// A virtio console (Virtual I/O Device (VIRTIO) Version 1.1, 5.3 "Console
// Device") on the virtio-mmio transport (virtio_mmio.h): one port (port 0,
// the console), no VIRTIO_CONSOLE_F_SIZE or F_EMERG_WRITE. Queues: port 0's
// receiveq (0, host → guest) and transmitq (1, guest → host), and, with
// VIRTIO_CONSOLE_F_MULTIPORT (offered, max_nr_ports = 1), the control
// receiveq (2) and transmitq (3). Multiport is offered only for its control
// messages: the guest's PORT_OPEN says when its end of port 0 takes input.
// Without it Linux discards input that arrives between posting the port's
// buffers and hooking up hvc0 (drivers/char/virtio_console.c in_intr:
// !guest_connected), which loses piped input; a driver that does not
// negotiate multiport gets input as soon as it posts buffers. Linux binds
// port 0 as hvc0. Output goes to a FILE* (one write and one flush per
// notification); input is copied by receive() into the posted buffers.
#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "vmm/virtio_mmio.h"

namespace skvm::vmm {

class VirtioMmioConsole : public VirtioMmioDevice {
 public:
  static constexpr uint32_t kDeviceId = 3;
  static constexpr uint16_t kQueueSize = 64;
  static constexpr uint16_t kReceiveQueue = 0, kTransmitQueue = 1;
  static constexpr uint16_t kControlReceiveQueue = 2, kControlTransmitQueue = 3;
  static constexpr uint64_t kFeatureMultiport = 1ull << 1;  // VIRTIO_CONSOLE_F_MULTIPORT

  // Bytes the guest transmits are written to `out` (not owned).
  VirtioMmioConsole(GuestMemory mem, std::FILE* out);

  // Console input: copies up to `n` bytes into the driver's receiveq
  // buffers, returns how many were taken (0 until the driver is ready, has
  // opened port 0 (multiport) and has posted buffers; the caller keeps the
  // rest and retries).
  size_t receive(const uint8_t* data, size_t n);

  // Called once with the first byte the guest transmits (--verbose stages).
  void set_first_byte_callback(std::function<void()> cb) { first_byte_cb_ = std::move(cb); }
  // Called with each complete output line (without the newline).
  void set_line_callback(std::function<void(const std::string&)> cb) { line_cb_ = std::move(cb); }

  uint64_t bytes_transmitted() const { return bytes_transmitted_; }
  uint64_t bytes_received() const { return bytes_received_; }
  // The guest's end of port 0 is open (VIRTIO_CONSOLE_PORT_OPEN 1).
  bool guest_open() const { return guest_open_; }

 protected:
  void read_config(uint64_t offset, uint8_t* data, uint32_t len) override;
  void queue_notify(uint16_t index) override;
  void device_reset() override;

 private:
  bool multiport() const { return (driver_features() & kFeatureMultiport) != 0; }
  void transmit();
  // 5.3.6.2: control messages from the driver, and to it (queued until the
  // driver posts control receive buffers).
  void control_from_guest();
  void send_control(uint32_t id, uint16_t event, uint16_t value);
  void flush_control();
  void output(const uint8_t* data, size_t n);

  std::FILE* out_;
  std::function<void()> first_byte_cb_;
  std::function<void(const std::string&)> line_cb_;
  std::string line_;
  uint64_t bytes_transmitted_ = 0;
  uint64_t bytes_received_ = 0;
  bool guest_open_ = false;
  std::vector<std::array<uint8_t, 8>> pending_control_;
  VirtqChain chain_;  // reused: no allocation per request once warm
};

}  // namespace skvm::vmm
