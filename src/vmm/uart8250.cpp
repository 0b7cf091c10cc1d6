// PC16550D data sheet, section 8 "Registers" (register map at offsets 0..7;
// DLAB = LCR bit 7 selects the divisor latch at offsets 0 and 1).
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

constexpr uint8_t kIirNoInterrupt = 0x01;
// LSR.THRE | LSR.TEMT: the transmitter is always empty (output is synchronous).
constexpr uint8_t kLsrTransmitterEmpty = 0x60;
}  // namespace

uint8_t Uart8250::read(uint16_t offset) {
  switch (offset) {
    case kRbrThrDll: return dlab() ? dll_ : 0;  // no receive data, ever
    case kIerDlm: return dlab() ? dlm_ : ier_;
    case kIirFcr: return kIirNoInterrupt;
    case kLcr: return lcr_;
    case kMcr: return mcr_;
    case kLsr: return kLsrTransmitterEmpty;
    case kMsr: return 0;
    case kScr: return scr_;
    default: return 0xff;
  }
}

void Uart8250::write(uint16_t offset, uint8_t value) {
  switch (offset) {
    case kRbrThrDll:
      if (dlab()) {
        dll_ = value;
      } else {
        std::fputc(value, out_);
        ++bytes_transmitted_;
      }
      break;
    case kIerDlm:
      if (dlab()) {
        dlm_ = value;
      } else {
        ier_ = value & 0x0f;
      }
      break;
    case kLcr: lcr_ = value; break;
    case kMcr: mcr_ = value & 0x1f; break;
    case kScr: scr_ = value; break;
    default: break;  // FCR, LSR, MSR: nothing to model for a transmit-only port
  }
}

}  // namespace skvm::vmm
