// A transmit-only 8250/16550 UART (COM1 at 0x3f8 by default): what a guest
// needs to print. Received data never arrives (RBR reads 0, LSR.DR clear).
#pragma once

#include <cstdint>
#include <cstdio>

namespace skvm::vmm {

class Uart8250 {
 public:
  static constexpr uint16_t kCom1Base = 0x3f8;
  static constexpr uint16_t kRegisterCount = 8;

  // Bytes the guest transmits are written to `out` (not owned).
  explicit Uart8250(std::FILE* out) : out_(out) {}

  // `offset` is the register offset from the base port (0..7).
  uint8_t read(uint16_t offset);
  void write(uint16_t offset, uint8_t value);

  uint64_t bytes_transmitted() const { return bytes_transmitted_; }

 private:
  bool dlab() const { return (lcr_ & 0x80) != 0; }

  std::FILE* out_;
  uint64_t bytes_transmitted_ = 0;
  uint8_t ier_ = 0;
  uint8_t lcr_ = 0;
  uint8_t mcr_ = 0;
  uint8_t scr_ = 0;
  uint8_t dll_ = 0;
  uint8_t dlm_ = 0;
};

}  // namespace skvm::vmm
