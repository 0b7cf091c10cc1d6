#include "vmm/io_bus.h"

#include <cinttypes>

#include "vmm/exit_status.h"
#include "vmm/firmware_tables.h"

namespace skvm::vmm {
namespace {
bool is_uart(uint16_t port) {
  return port >= Uart8250::kCom1Base && port < Uart8250::kCom1Base + Uart8250::kRegisterCount;
}
bool is_pci(uint16_t port) { return port >= PciHost::kAddressPort && port < PciHost::kDataPort + 4; }
}  // namespace

void IoBus::enable_pc_devices(CmosRtc::Clock clock, uint64_t mem_size, int reset_status) {
  std::lock_guard lock(mutex_);
  pc_devices_ = true;
  reset_status_ = reset_status;
  cmos_ = std::make_unique<CmosRtc>(std::move(clock), mem_size);
}

void IoBus::add_virtio(uint64_t base, std::unique_ptr<VirtioMmioDevice> device) {
  std::lock_guard lock(mutex_);
  mmio_.push_back({base, std::move(device)});
}

void IoBus::add_virtio_console(uint64_t base, std::unique_ptr<VirtioMmioConsole> device) {
  VirtioMmioConsole* console = device.get();
  add_virtio(base, std::move(device));
  std::lock_guard lock(mutex_);
  virtio_console_ = console;
}

void IoBus::flush_console_output() {
  std::lock_guard lock(mutex_);
  uart_.flush();
}

IoBus::Stats IoBus::stats() const {
  std::lock_guard lock(mutex_);
  Stats s{uart_accesses_, uart_.bytes_transmitted(), 0, 0, 0, mmio_accesses_};
  for (const auto& slot : mmio_) {
    // Only VirtioMmioBlock has the block device ID.
    if (slot.device->device_id() == VirtioMmioBlock::kDeviceId) {
      s.blk_requests += static_cast<const VirtioMmioBlock&>(*slot.device).requests();
    }
  }
  if (virtio_console_) {
    s.hvc_bytes_out = virtio_console_->bytes_transmitted();
    s.hvc_bytes_in = virtio_console_->bytes_received();
  }
  return s;
}

bool IoBus::handle_mmio(uint64_t addr, uint8_t* data, uint32_t len, bool is_write) {
  std::lock_guard lock(mutex_);
  ++mmio_accesses_;
  for (auto& slot : mmio_) {
    if (addr < slot.base || addr - slot.base >= VirtioMmioDevice::kWindowSize) continue;
    if (is_write) {
      slot.device->write(addr - slot.base, data, len);
    } else {
      slot.device->read(addr - slot.base, data, len);
    }
    return true;
  }
  return false;
}

size_t IoBus::receive_console(const uint8_t* data, size_t n) {
  std::lock_guard lock(mutex_);
  return virtio_console_ ? virtio_console_->receive(data, n) : uart_.receive(data, n);
}

std::optional<int> IoBus::event_status(PlatformEvent event, uint16_t port) {
  if (event == PlatformEvent::kPowerOff) {
    if (trace_) std::fprintf(trace_, "softkvm: the guest powered off (ACPI S5, port %#x)\n", port);
    return kExitGuestPowerOff;
  }
  if (event == PlatformEvent::kReset) {
    if (trace_) std::fprintf(trace_, "softkvm: the guest reset the machine (port %#x)\n", port);
    return reset_status_;
  }
  return std::nullopt;
}

std::optional<int> IoBus::handle(bool in, uint16_t port, uint8_t size, uint32_t count,
                                 uint8_t* data) {
  std::lock_guard lock(mutex_);
  for (uint32_t i = 0; i < count; ++i) {
    uint8_t* item = data + static_cast<size_t>(i) * size;
    uint32_t value = 0;
    for (uint8_t b = 0; b < size && b < 4; ++b) value |= static_cast<uint32_t>(item[b]) << (8 * b);
    if (port == kDebugExitPort && !in) {
      // QEMU's isa-debug-exit takes the value of a 1-, 2- or 4-byte write.
      if (trace_) std::fprintf(trace_, "softkvm: debug-exit value %#" PRIx32 "\n", value);
      return debug_exit_status(value);
    }
    // Devices with registers wider than a byte see the access whole.
    if (in) {
      if (const auto v = read_wide(port, size)) {
        for (uint8_t b = 0; b < size; ++b) item[b] = static_cast<uint8_t>(*v >> (8 * b));
        continue;
      }
    } else if (pc_devices_ && (is_pci(port) || AcpiPm::handles(port))) {
      if (auto status = write_wide(port, size, value)) return status;
      continue;
    }
    // A 2- or 4-byte access to byte-wide registers reaches port, port+1, ...
    for (uint8_t b = 0; b < size; ++b) {
      const auto p = static_cast<uint16_t>(port + b);
      if (in) {
        item[b] = read_byte(p);
      } else if (auto status = write_byte(p, item[b])) {
        return status;
      }
    }
  }
  return std::nullopt;
}

std::optional<uint32_t> IoBus::read_wide(uint16_t port, uint8_t size) {
  if (!pc_devices_) return std::nullopt;
  if (port == kAcpiResetPort && size == 1) return acpi_.read(port, size);
  if (is_pci(port)) return pci_.read(port, size);
  if (AcpiPm::handles(port)) return acpi_.read(port, size);
  return std::nullopt;
}

std::optional<int> IoBus::write_wide(uint16_t port, uint8_t size, uint32_t value) {
  if (port == kAcpiResetPort && size == 1) return event_status(acpi_.write(port, size, value), port);
  if (is_pci(port)) {
    pci_.write(port, size, value);
    return std::nullopt;
  }
  return event_status(acpi_.write(port, size, value), port);
}

constexpr uint16_t kPostPort = 0x80;

uint8_t IoBus::read_byte(uint16_t port) {
  if (is_uart(port)) {
    ++uart_accesses_;
    return uart_.read(port - Uart8250::kCom1Base);
  }
  if (pc_devices_) {
    if (port == CmosRtc::kIndexPort || port == CmosRtc::kDataPort) return cmos_->read(port);
    if (port == I8042::kDataPort || port == I8042::kCommandPort) return i8042_.read(port);
  }
  if (trace_) std::fprintf(trace_, "softkvm: unhandled in  port %#06x -> 0xff\n", port);
  return 0xff;
}

std::optional<int> IoBus::write_byte(uint16_t port, uint8_t value) {
  if (is_uart(port)) {
    ++uart_accesses_;
    uart_.write(port - Uart8250::kCom1Base, value);
    return std::nullopt;
  }
  if (pc_devices_) {
    if (port == CmosRtc::kIndexPort || port == CmosRtc::kDataPort) {
      cmos_->write(port, value);
      return std::nullopt;
    }
    if (port == I8042::kDataPort || port == I8042::kCommandPort) {
      return event_status(i8042_.write(port, value), port);
    }
    // The POST / I/O-delay port (Linux's outb_p, native_io_delay): a write
    // only takes time on a PC; nothing to model, nothing to report.
    if (port == kPostPort) return std::nullopt;
  }
  if (trace_) std::fprintf(trace_, "softkvm: unhandled out port %#06x <- 0x%02x (ignored)\n", port, value);
  return std::nullopt;
}

}  // namespace skvm::vmm
