// PC16550D data sheet, section 8 "Registers" (register map at offsets 0..7;
// DLAB = LCR bit 7 selects the divisor latch at offsets 0 and 1), Table 4
// "Interrupt Control Functions" (IIR priorities and reset conditions),
// 8.6 MCR loopback.
#include "vmm/uart8250.h"

namespace skvm::vmm {
namespace {
constexpr uint16_t kRbrThrDll = 0;
constexpr uint16_t kIerDlm = 1;
constexpr uint16_t kIirFcr = 2;
constexpr uint16_t kLcr = 3;
constexpr uint16_t kMcr = 4;
constexpr uint16_t kLsr = 5;
constexpr uint16_t kMsr = 6;
constexpr uint16_t kScr = 7;

constexpr uint8_t kIerRxData = 0x01;
constexpr uint8_t kIerThre = 0x02;
constexpr uint8_t kIirNoInterrupt = 0x01;
constexpr uint8_t kIirThre = 0x02;
constexpr uint8_t kIirRxData = 0x04;
constexpr uint8_t kIirFifoEnabled = 0xc0;
constexpr uint8_t kFcrEnable = 0x01;
constexpr uint8_t kFcrClearRx = 0x02;
constexpr uint8_t kLsrDataReady = 0x01;
// LSR.THRE | LSR.TEMT: the transmitter is always empty (output is synchronous).
constexpr uint8_t kLsrTransmitterEmpty = 0x60;
// MSR with a connected peer: DCD | DSR | CTS.
constexpr uint8_t kMsrConnected = 0xb0;
}  // namespace

uint8_t Uart8250::iir() const {
  const uint8_t fifo = (fcr_ & kFcrEnable) ? kIirFifoEnabled : 0;
  if ((ier_ & kIerRxData) && !rx_.empty()) return fifo | kIirRxData;
  if ((ier_ & kIerThre) && thre_pending_) return fifo | kIirThre;
  return fifo | kIirNoInterrupt;
}

void Uart8250::update_irq() {
  const bool level = (iir() & kIirNoInterrupt) == 0;
  if (level == irq_level_) return;
  irq_level_ = level;
  if (irq_cb_) irq_cb_(level);
}

uint8_t Uart8250::read(uint16_t offset) {
  uint8_t value = 0xff;
  switch (offset) {
    case kRbrThrDll:
      if (dlab()) {
        value = dll_;
      } else {
        value = 0;
        if (!rx_.empty()) {
          value = rx_.front();
          rx_.pop_front();
        }
      }
      break;
    case kIerDlm: value = dlab() ? dlm_ : ier_; break;
    case kIirFcr:
      value = iir();
      // Table 4: reading IIR when THRE is the source resets that interrupt.
      if ((value & 0x0f) == kIirThre) thre_pending_ = false;
      break;
    case kLcr: value = lcr_; break;
    case kMcr: value = mcr_; break;
    case kLsr: value = static_cast<uint8_t>(kLsrTransmitterEmpty | (rx_.empty() ? 0 : kLsrDataReady)); break;
    case kMsr:
      if (loopback()) {
        // 8.6: CTS = RTS, DSR = DTR, RI = OUT1, DCD = OUT2.
        value = static_cast<uint8_t>(((mcr_ & 0x02) << 3) | ((mcr_ & 0x01) << 5) | ((mcr_ & 0x04) << 4) |
                                     ((mcr_ & 0x08) << 4));
      } else {
        value = kMsrConnected;
      }
      break;
    case kScr: value = scr_; break;
    default: break;
  }
  update_irq();
  return value;
}

void Uart8250::transmit(uint8_t value) {
  if (loopback()) {
    if (rx_.size() < kRxQueueLimit) rx_.push_back(value);
  } else {
    if (bytes_transmitted_ == 0 && first_byte_cb_) first_byte_cb_();
    std::fputc(value, out_);
    if (value == '\n') std::fflush(out_);
    if (line_cb_) {
      if (value == '\n') {
        line_cb_(line_);
        line_.clear();
      } else if (line_.size() < 256) {
        line_.push_back(static_cast<char>(value));
      }
    }
    ++bytes_transmitted_;
  }
  thre_pending_ = true;  // the byte left at once: THR is empty again
}

void Uart8250::write(uint16_t offset, uint8_t value) {
  switch (offset) {
    case kRbrThrDll:
      if (dlab()) {
        dll_ = value;
      } else {
        transmit(value);
      }
      break;
    case kIerDlm:
      if (dlab()) {
        dlm_ = value;
      } else {
        // Enabling ETBEI while THR is empty raises THRE at once.
        if ((value & kIerThre) && !(ier_ & kIerThre)) thre_pending_ = true;
        ier_ = value & 0x0f;
        ier_written_ = true;
      }
      break;
    case kIirFcr:
      fcr_ = value & 0xc9;
      if (value & kFcrClearRx) rx_.clear();
      break;
    case kLcr: lcr_ = value; break;
    case kMcr: mcr_ = value & 0x1f; break;
    case kScr: scr_ = value; break;
    default: break;  // LSR, MSR: read-only
  }
  update_irq();
}

size_t Uart8250::receive(const uint8_t* data, size_t n) {
  // Input waits on the host side until a reader is there: a guest that
  // programs IER (Linux) takes bytes once it enables the received-data
  // interrupt (serial8250_do_startup, when the tty is opened); earlier
  // bytes would be lost to the FIFO clears of its probe and setup. A guest
  // that never writes IER polls LSR and takes them at once.
  if (ier_written_ && !(ier_ & kIerRxData)) return 0;
  size_t taken = 0;
  while (taken < n && rx_.size() < kRxQueueLimit) rx_.push_back(data[taken++]);
  update_irq();
  return taken;
}

}  // namespace skvm::vmm
