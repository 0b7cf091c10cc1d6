#include "vmm/io_bus.h"

#include <cinttypes>

#include "vmm/exit_status.h"

namespace skvm::vmm {
namespace {
bool is_uart(uint16_t port) {
  return port >= Uart8250::kCom1Base && port < Uart8250::kCom1Base + Uart8250::kRegisterCount;
}
}  // namespace

std::optional<int> IoBus::handle(bool in, uint16_t port, uint8_t size, uint32_t count,
                                 uint8_t* data) {
  for (uint32_t i = 0; i < count; ++i) {
    uint8_t* item = data + static_cast<size_t>(i) * size;
    if (port == kDebugExitPort && !in) {
      // QEMU's isa-debug-exit takes the value of a 1-, 2- or 4-byte write.
      uint32_t value = 0;
      for (uint8_t b = 0; b < size; ++b) value |= static_cast<uint32_t>(item[b]) << (8 * b);
      if (trace_) std::fprintf(trace_, "softkvm: debug-exit value %#" PRIx32 "\n", value);
      return debug_exit_status(value);
    }
    // A 2- or 4-byte access to byte-wide registers reaches port, port+1, ...
    for (uint8_t b = 0; b < size; ++b) {
      const auto p = static_cast<uint16_t>(port + b);
      if (in) {
        item[b] = read_byte(p);
      } else {
        write_byte(p, item[b]);
      }
    }
  }
  return std::nullopt;
}

uint8_t IoBus::read_byte(uint16_t port) {
  if (is_uart(port)) return uart_.read(port - Uart8250::kCom1Base);
  if (trace_) std::fprintf(trace_, "softkvm: unhandled in  port %#06x -> 0xff\n", port);
  return 0xff;
}

void IoBus::write_byte(uint16_t port, uint8_t value) {
  if (is_uart(port)) {
    uart_.write(port - Uart8250::kCom1Base, value);
    return;
  }
  if (trace_) std::fprintf(trace_, "softkvm: unhandled out port %#06x <- 0x%02x (ignored)\n", port, value);
}

}  // namespace skvm::vmm
