// A 16550A UART (COM1 at 0x3f8, IRQ 4): transmit to a FILE*, receive from a
// byte queue the console fills, FIFO and the THRE / received-data
// interrupts, loopback. The interrupt output is a level reported through a
// callback on every change (the machine turns it into KVM_IRQ_LINE).
#pragma once

#include <cstdint>
#include <cstdio>
#include <deque>
#include <functional>
#include <string>

namespace skvm::vmm {

class Uart8250 {
 public:
  static constexpr uint16_t kCom1Base = 0x3f8;
  static constexpr uint16_t kRegisterCount = 8;
  static constexpr uint32_t kCom1Irq = 4;
  static constexpr size_t kRxQueueLimit = 4096;

  // Bytes the guest transmits are written to `out` (not owned).
  explicit Uart8250(std::FILE* out) : out_(out) {}

  // `offset` is the register offset from the base port (0..7).
  uint8_t read(uint16_t offset);
  void write(uint16_t offset, uint8_t value);

  // Queues bytes for the guest to read (RBR); raises the RX interrupt when
  // enabled. Returns how many were taken (the queue holds kRxQueueLimit).
  size_t receive(const uint8_t* data, size_t n);
  size_t rx_pending() const { return rx_.size(); }

  // For guests known to drive the UART by interrupts (Linux): hold input
  // until the received-data interrupt is enabled even before the guest
  // first writes IER. Otherwise input that arrives before the driver's
  // probe (piped stdin is there at once) lands in the FIFO and is lost to
  // its FIFO clears.
  void hold_input_until_rx_interrupt() { ier_written_ = true; }

  // Called with the new level of the interrupt output whenever it changes.
  void set_irq_callback(std::function<void(bool)> cb) { irq_cb_ = std::move(cb); }
  bool irq_level() const { return irq_level_; }

  // Called once with the first byte the guest transmits (--verbose stages).
  void set_first_byte_callback(std::function<void()> cb) { first_byte_cb_ = std::move(cb); }

  // Called with each complete output line (without the newline); for the
  // --verbose "userspace" stage.
  void set_line_callback(std::function<void(const std::string&)> cb) { line_cb_ = std::move(cb); }

  uint64_t bytes_transmitted() const { return bytes_transmitted_; }
  // Flushes the output FILE (transmit() flushes only at newlines).
  void flush() {
    if (out_) std::fflush(out_);
  }

 private:
  bool dlab() const { return (lcr_ & 0x80) != 0; }
  bool loopback() const { return (mcr_ & 0x10) != 0; }
  uint8_t iir() const;
  void update_irq();
  void transmit(uint8_t value);

  std::FILE* out_;
  std::function<void(bool)> irq_cb_;
  std::function<void()> first_byte_cb_;
  std::function<void(const std::string&)> line_cb_;
  std::string line_;
  std::deque<uint8_t> rx_;
  uint64_t bytes_transmitted_ = 0;
  bool thre_pending_ = false;  // THR-empty interrupt not yet acknowledged
  bool irq_level_ = false;
  uint8_t ier_ = 0;
  bool ier_written_ = false;  // the guest programs IER: hold input until RDI is on
  uint8_t fcr_ = 0;
  uint8_t lcr_ = 0;
  uint8_t mcr_ = 0;
  uint8_t scr_ = 0;
  uint8_t dll_ = 0;
  uint8_t dlm_ = 0;
};

}  // namespace skvm::vmm
