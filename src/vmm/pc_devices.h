// The PC platform devices a kernel expects besides the UART: CMOS RTC
// (0x70/0x71), i8042 keyboard controller (0x60/0x64, for reset), a PCI host
// bridge with an empty bus (0xcf8/0xcfc), the ACPI power-management ports
// and the reset control register 0xcf9 (firmware_tables.h).
#pragma once

#include <ctime>
#include <cstdint>
#include <deque>
#include <functional>

namespace skvm::vmm {

// What the guest asked the platform to do.
enum class PlatformEvent { kNone, kReset, kPowerOff };

// MC146818A-compatible RTC + 128 bytes of CMOS RAM, reading the time from an
// injected clock (UTC seconds since the epoch).
class CmosRtc {
 public:
  static constexpr uint16_t kIndexPort = 0x70;
  static constexpr uint16_t kDataPort = 0x71;
  using Clock = std::function<std::time_t()>;

  // `mem_size`: guest RAM, reported in the memory-size registers.
  CmosRtc(Clock clock, uint64_t mem_size);

  uint8_t read(uint16_t port);
  void write(uint16_t port, uint8_t value);

 private:
  uint8_t read_register(uint8_t index);
  uint8_t encode(int value) const;  // BCD or binary per status B
  Clock clock_;
  uint8_t index_ = 0;
  uint8_t ram_[128] = {};
};

// 8042: status/command at 0x64, data at 0x60. Models the controller
// commands a kernel uses (read/write CTR, self-tests, enable/disable,
// write output port, pulse reset 0xFE); no keyboard or mouse is attached.
class I8042 {
 public:
  static constexpr uint16_t kDataPort = 0x60;
  static constexpr uint16_t kCommandPort = 0x64;

  uint8_t read(uint16_t port);
  // Returns kReset when the guest pulsed the CPU reset line.
  PlatformEvent write(uint16_t port, uint8_t value);

 private:
  std::deque<uint8_t> out_;
  uint8_t ctr_ = 0x45;  // KBD interrupt, SYS flag, translate
  uint8_t pending_command_ = 0;
};

// PCI configuration mechanism #1 (PCI Local Bus Spec 3.0, 3.2.2.3.2): a
// host bridge (8086:1237) at 00:00.0, nothing else on bus 0.
class PciHost {
 public:
  static constexpr uint16_t kAddressPort = 0xcf8;
  static constexpr uint16_t kDataPort = 0xcfc;

  uint32_t read(uint16_t port, uint8_t size);
  void write(uint16_t port, uint8_t size, uint32_t value);

 private:
  uint32_t config_read(uint32_t address) const;
  uint32_t address_ = 0;
};

// ACPI fixed hardware: PM1a event (status/enable) and control registers;
// power-off on SLP_EN with SLP_TYP = S5; the reset register at 0xcf9.
class AcpiPm {
 public:
  uint32_t read(uint16_t port, uint8_t size);
  PlatformEvent write(uint16_t port, uint8_t size, uint32_t value);
  static bool handles(uint16_t port);

 private:
  uint16_t pm1_enable_ = 0;
  uint16_t pm1_control_ = 1;  // SCI_EN: always in ACPI mode (FADT SMI_CMD = 0)
  uint8_t reset_control_ = 0;
};

}  // namespace skvm::vmm
