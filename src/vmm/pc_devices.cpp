// CMOS: MC146818A data sheet (registers 0x00-0x0D) and the IBM PC/AT CMOS
// map (0x15-0x18, 0x30-0x35 memory size, 0x32 century). i8042: IBM PS/2
// Hardware Technical Reference, keyboard controller commands. PCI: PCI Local
// Bus 3.0, 3.2.2.3.2 configuration mechanism #1. ACPI 6.4, 4.8.3.1/4.8.3.2
// PM1 registers, 4.8.3.6 reset register, 7.4.2 \_Sx.
#include "vmm/pc_devices.h"

#include <algorithm>

#include "vmm/firmware_tables.h"

namespace skvm::vmm {
namespace {
constexpr uint8_t kRegSeconds = 0x00, kRegMinutes = 0x02, kRegHours = 0x04, kRegWeekday = 0x06;
constexpr uint8_t kRegDay = 0x07, kRegMonth = 0x08, kRegYear = 0x09;
constexpr uint8_t kRegA = 0x0a, kRegB = 0x0b, kRegC = 0x0c, kRegD = 0x0d, kRegCentury = 0x32;
constexpr uint8_t kBBinary = 0x04, kB24Hour = 0x02;
}  // namespace

CmosRtc::CmosRtc(Clock clock, uint64_t mem_size) : clock_(std::move(clock)) {
  ram_[kRegA] = 0x26;            // 32.768 kHz time base, 1024 Hz rate; UIP clear
  ram_[kRegB] = kB24Hour;        // BCD, 24-hour, no interrupts
  ram_[kRegD] = 0x80;            // VRT: RAM and time valid
  ram_[0x15] = 0x80;             // base memory 640 KiB (0x280)
  ram_[0x16] = 0x02;
  const uint64_t ext_kib = std::min<uint64_t>(mem_size > (1u << 20) ? (mem_size - (1u << 20)) >> 10 : 0, 0xffff);
  ram_[0x17] = ram_[0x30] = static_cast<uint8_t>(ext_kib);
  ram_[0x18] = ram_[0x31] = static_cast<uint8_t>(ext_kib >> 8);
  const uint64_t above16 = std::min<uint64_t>(mem_size > (16u << 20) ? (mem_size - (16u << 20)) >> 16 : 0, 0xffff);
  ram_[0x34] = static_cast<uint8_t>(above16);
  ram_[0x35] = static_cast<uint8_t>(above16 >> 8);
}

uint8_t CmosRtc::encode(int value) const {
  if (ram_[kRegB] & kBBinary) return static_cast<uint8_t>(value);
  return static_cast<uint8_t>(((value / 10) << 4) | (value % 10));
}

uint8_t CmosRtc::read_register(uint8_t index) {
  if (index > kRegD && index != kRegCentury) return ram_[index];
  const std::time_t now = clock_();
  std::tm tm{};
  gmtime_r(&now, &tm);
  switch (index) {
    case kRegSeconds: return encode(tm.tm_sec);
    case kRegMinutes: return encode(tm.tm_min);
    case kRegHours: {
      if (ram_[kRegB] & kB24Hour) return encode(tm.tm_hour);
      const int h12 = tm.tm_hour % 12 == 0 ? 12 : tm.tm_hour % 12;
      return static_cast<uint8_t>(encode(h12) | (tm.tm_hour >= 12 ? 0x80 : 0));
    }
    case kRegWeekday: return encode(tm.tm_wday + 1);
    case kRegDay: return encode(tm.tm_mday);
    case kRegMonth: return encode(tm.tm_mon + 1);
    case kRegYear: return encode((tm.tm_year + 1900) % 100);
    case kRegCentury: return encode((tm.tm_year + 1900) / 100);
    case kRegC: {
      const uint8_t v = ram_[kRegC];
      ram_[kRegC] = 0;  // reading C clears the interrupt flags
      return v;
    }
    default: return ram_[index];  // alarms, A, B, D
  }
}

uint8_t CmosRtc::read(uint16_t port) {
  if (port == kIndexPort) return 0xff;  // the index register is write-only
  return read_register(index_);
}

void CmosRtc::write(uint16_t port, uint8_t value) {
  if (port == kIndexPort) {
    index_ = value & 0x7f;  // bit 7 is the NMI mask
    return;
  }
  switch (index_) {
    case kRegA: ram_[kRegA] = value & 0x7f; break;  // UIP is read-only
    case kRegC:
    case kRegD: break;  // read-only
    // DEVIATION: writes to the time and date registers are ignored: the
    // clock always shows the host's time (tested: CmosRtc.TimeWritesAreIgnored).
    case kRegSeconds:
    case kRegMinutes:
    case kRegHours:
    case kRegWeekday:
    case kRegDay:
    case kRegMonth:
    case kRegYear:
    case kRegCentury: break;
    default: ram_[index_] = value; break;
  }
}

uint8_t I8042::read(uint16_t port) {
  if (port == kCommandPort) {
    // Status: OBF when a byte waits, SYS flag (bit 2) after POST.
    return static_cast<uint8_t>((out_.empty() ? 0 : 0x01) | 0x04);
  }
  if (out_.empty()) return 0;
  const uint8_t v = out_.front();
  out_.pop_front();
  return v;
}

PlatformEvent I8042::write(uint16_t port, uint8_t value) {
  if (port == kCommandPort) {
    pending_command_ = 0;
    switch (value) {
      case 0x20: out_.push_back(ctr_); break;                   // read CTR
      case 0x60: case 0xd1: pending_command_ = value; break;    // next data byte: CTR / output port
      case 0xaa: out_.push_back(0x55); break;                   // controller self-test passed
      case 0xab: case 0xa9: out_.push_back(0x00); break;        // interface tests passed
      case 0xad: ctr_ |= 0x10; break;                           // disable keyboard
      case 0xae: ctr_ &= static_cast<uint8_t>(~0x10); break;    // enable keyboard
      case 0xa7: ctr_ |= 0x20; break;                           // disable aux
      case 0xa8: ctr_ &= static_cast<uint8_t>(~0x20); break;    // enable aux
      case 0xfe: return PlatformEvent::kReset;                  // pulse output line 0: CPU reset
      default: break;
    }
    return PlatformEvent::kNone;
  }
  // Data port: the argument of a pending command; keyboard commands go to
  // a keyboard that is not there (no reply, as with nothing plugged in).
  const uint8_t command = pending_command_;
  pending_command_ = 0;
  if (command == 0x60) ctr_ = value;
  if (command == 0xd1 && !(value & 0x01)) return PlatformEvent::kReset;  // output port bit 0 = reset line
  return PlatformEvent::kNone;
}

uint32_t PciHost::config_read(uint32_t address) const {
  if (!(address & 0x80000000u)) return 0xffffffffu;
  const uint32_t bus = (address >> 16) & 0xff, dev = (address >> 11) & 0x1f, fn = (address >> 8) & 7;
  if (bus != 0 || dev != 0 || fn != 0) return 0xffffffffu;  // no device: master abort
  switch (address & 0xfc) {
    case 0x00: return 0x12378086u;  // device 1237 (i440FX host bridge), vendor 8086
    case 0x04: return 0x00000006u;  // command: memory + bus master; status 0
    case 0x08: return 0x06000002u;  // class 06 (bridge) / 00 (host), revision 2
    case 0x0c: return 0x00000000u;  // header type 0
    default: return 0;
  }
}

uint32_t PciHost::read(uint16_t port, uint8_t size) {
  const uint32_t mask = size >= 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
  if (port == kAddressPort && size == 4) return address_;
  if (port >= kDataPort && port < kDataPort + 4) {
    const uint32_t shift = 8 * (port - kDataPort);
    return (config_read(address_) >> shift) & mask;
  }
  return mask;
}

void PciHost::write(uint16_t port, uint8_t size, uint32_t value) {
  if (port == kAddressPort && size == 4) address_ = value & 0x80fffffcu;
  // Configuration writes: the host bridge has nothing writable we model.
}

bool AcpiPm::handles(uint16_t port) {
  return (port >= kAcpiPm1aEvtPort && port < kAcpiPm1aEvtPort + 4) ||
         (port >= kAcpiPm1aCntPort && port < kAcpiPm1aCntPort + 2) || port == kAcpiResetPort;
}

uint32_t AcpiPm::read(uint16_t port, uint8_t size) {
  uint32_t regs = 0;  // the 4 bytes at PM1a_EVT: status (0) then enable
  if (port >= kAcpiPm1aEvtPort && port < kAcpiPm1aEvtPort + 4) {
    regs = static_cast<uint32_t>(pm1_enable_) << 16;
    return (regs >> (8 * (port - kAcpiPm1aEvtPort))) & (size >= 4 ? 0xffffffffu : (1u << (8 * size)) - 1);
  }
  if (port >= kAcpiPm1aCntPort && port < kAcpiPm1aCntPort + 2) {
    return (pm1_control_ >> (8 * (port - kAcpiPm1aCntPort))) & (size >= 2 ? 0xffffu : 0xffu);
  }
  return reset_control_;
}

PlatformEvent AcpiPm::write(uint16_t port, uint8_t size, uint32_t value) {
  if (port == kAcpiPm1aEvtPort + 2 && size >= 2) {
    pm1_enable_ = static_cast<uint16_t>(value);
  } else if (port == kAcpiPm1aCntPort && size >= 2) {
    // 4.8.3.2.1: SLP_TYP bits 12:10, SLP_EN bit 13 (write-only).
    pm1_control_ = static_cast<uint16_t>((value & ~0x2000u) | 1u);
    if ((value & 0x2000u) && ((value >> 10) & 7u) == kAcpiS5SlpTyp) return PlatformEvent::kPowerOff;
  } else if (port == kAcpiResetPort && size == 1) {
    reset_control_ = static_cast<uint8_t>(value);
    if (value & 0x04) return PlatformEvent::kReset;  // RCR bit 2: reset CPU
  }
  return PlatformEvent::kNone;
}

}  // namespace skvm::vmm
