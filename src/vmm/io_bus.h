// Port I/O of the VMM's guest devices: turns one KVM_EXIT_IO into device
// reads and writes.
//   0x3f8-0x3ff  COM1 (Uart8250)
//   0xf4         isa-debug-exit (QEMU's convention, see exit_status.h)
// Any other port: reads return all ones, writes are ignored (traced when
// `trace` is non-null).
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>

#include "vmm/uart8250.h"

namespace skvm::vmm {

class IoBus {
 public:
  static constexpr uint16_t kDebugExitPort = 0xf4;

  // `console` receives the UART output; `trace` (nullable) the --verbose log.
  IoBus(std::FILE* console, std::FILE* trace) : uart_(console), trace_(trace) {}

  // api.rst: KVM_EXIT_IO. `data` holds count * size bytes (count > 1 for
  // REP INS/OUTS); for an IN this fills it. Returns the VMM exit status when
  // the guest asked to stop (isa-debug-exit).
  std::optional<int> handle(bool in, uint16_t port, uint8_t size, uint32_t count,
                            uint8_t* data);

  const Uart8250& uart() const { return uart_; }

 private:
  uint8_t read_byte(uint16_t port);
  void write_byte(uint16_t port, uint8_t value);

  Uart8250 uart_;
  std::FILE* trace_;
};

}  // namespace skvm::vmm
