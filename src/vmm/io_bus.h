// Port I/O of the VMM's guest devices: turns one KVM_EXIT_IO into device
// reads and writes.
//   0x3f8-0x3ff  COM1 (Uart8250, IRQ 4)
//   0xf4         isa-debug-exit (QEMU's convention, see exit_status.h)
// With enable_pc_devices() (kernel boots, -k), also:
//   0x60, 0x64   i8042 (reset)           0x70, 0x71   CMOS RTC
//   0xcf8-0xcff  PCI host bridge         0xcf9        reset control register
//   0x600-0x605  ACPI PM1a event/control (power-off)
// Any other port: reads return all ones, writes are ignored (traced when
// `trace` is non-null). handle() and receive_console() are serialised by an
// internal mutex, so vCPU threads and the console thread may call them.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>

#include "vmm/pc_devices.h"
#include "vmm/uart8250.h"
#include <vector>

#include "vmm/virtio_blk.h"
#include "vmm/virtio_console.h"

namespace skvm::vmm {

class IoBus {
 public:
  static constexpr uint16_t kDebugExitPort = 0xf4;

  // `console` receives the UART output; `trace` (nullable) the --verbose log.
  IoBus(std::FILE* console, std::FILE* trace) : uart_(console), trace_(trace) {}

  // Adds the PC platform devices (see above). `reset_status` is the exit
  // status returned when the guest resets the machine.
  void enable_pc_devices(CmosRtc::Clock clock, uint64_t mem_size, int reset_status);

  // api.rst: KVM_EXIT_IO. `data` holds count * size bytes (count > 1 for
  // REP INS/OUTS); for an IN this fills it. Returns the VMM exit status when
  // the guest asked to stop (isa-debug-exit, power-off, reset).
  std::optional<int> handle(bool in, uint16_t port, uint8_t size, uint32_t count,
                            uint8_t* data);

  // MMIO devices (virtio-mmio), each at [base, base + VirtioMmioDevice::kWindowSize).
  void add_virtio(uint64_t base, std::unique_ptr<VirtioMmioDevice> device);
  void add_virtio_block(uint64_t base, std::unique_ptr<VirtioMmioBlock> device) {
    add_virtio(base, std::move(device));
  }
  // The virtio console also takes the console input (receive_console)
  // instead of the UART.
  void add_virtio_console(uint64_t base, std::unique_ptr<VirtioMmioConsole> device);
  // api.rst: KVM_EXIT_MMIO. Returns false when no device claims `addr`.
  bool handle_mmio(uint64_t addr, uint8_t* data, uint32_t len, bool is_write);

  // Console input for the UART, or the virtio console when there is one;
  // returns the bytes taken.
  size_t receive_console(const uint8_t* data, size_t n);
  // Pushes out console output still buffered (the UART flushes at newlines).
  void flush_console_output();

  // --stats counters.
  struct Stats {
    uint64_t uart_accesses, uart_bytes_out, hvc_bytes_out, hvc_bytes_in, blk_requests, mmio_accesses;
  };
  Stats stats() const;

  int reset_status() const { return reset_status_; }
  Uart8250& uart() { return uart_; }
  const Uart8250& uart() const { return uart_; }

 private:
  std::optional<uint32_t> read_wide(uint16_t port, uint8_t size);
  std::optional<int> write_wide(uint16_t port, uint8_t size, uint32_t value);
  uint8_t read_byte(uint16_t port);
  std::optional<int> write_byte(uint16_t port, uint8_t value);
  std::optional<int> event_status(PlatformEvent event, uint16_t port);

  mutable std::mutex mutex_;
  uint64_t uart_accesses_ = 0;
  uint64_t mmio_accesses_ = 0;
  Uart8250 uart_;
  std::FILE* trace_;
  bool pc_devices_ = false;
  int reset_status_ = 0;
  std::unique_ptr<CmosRtc> cmos_;
  I8042 i8042_;
  PciHost pci_;
  AcpiPm acpi_;
  struct MmioSlot {
    uint64_t base;
    std::unique_ptr<VirtioMmioDevice> device;
  };
  std::vector<MmioSlot> mmio_;
  VirtioMmioConsole* virtio_console_ = nullptr;  // owned by mmio_
};

}  // namespace skvm::vmm
