// The 16550A's interrupts and receiver, the CMOS RTC, the i8042 reset, the
// PCI host bridge and the ACPI power-management ports.
#include <gtest/gtest.h>

#include <cstdio>
#include <vector>

#include "vmm/exit_status.h"
#include "vmm/firmware_tables.h"
#include "vmm/io_bus.h"
#include "vmm/pc_devices.h"
#include "vmm/uart8250.h"

namespace skvm::vmm {
namespace {

struct NullFile {
  NullFile() : f(std::fopen("/dev/null", "w")) {}
  ~NullFile() { std::fclose(f); }
  std::FILE* f;
};

TEST(Uart16550, ReceivedByteSetsDataReadyAndIsReadFromRbr) {
  NullFile out;
  Uart8250 uart(out.f);
  const uint8_t in[] = {'a', 'b'};
  EXPECT_EQ(uart.receive(in, 2), 2u);
  EXPECT_EQ(uart.read(5) & 0x01, 0x01);
  EXPECT_EQ(uart.read(0), 'a');
  EXPECT_EQ(uart.read(0), 'b');
  EXPECT_EQ(uart.read(5) & 0x01, 0x00);
}

TEST(Uart16550, HeldInputWaitsForTheRxInterruptEvenBeforeTheFirstIerWrite) {
  NullFile out;
  Uart8250 uart(out.f);
  uart.hold_input_until_rx_interrupt();
  const uint8_t in[] = {'l', 's'};
  EXPECT_EQ(uart.receive(in, 2), 0u);  // Linux has not probed the port yet
  uart.write(2, 0x07);                 // FCR: enable and clear the FIFOs (probe)
  uart.write(1, 0x01);                 // IER: received data available (tty open)
  EXPECT_EQ(uart.receive(in, 2), 2u);
  EXPECT_EQ(uart.read(0), 'l');
}

TEST(Uart16550, RxInterruptRaisesTheLineWhenEnabledAndDropsWhenDrained) {
  NullFile out;
  Uart8250 uart(out.f);
  std::vector<bool> levels;
  uart.set_irq_callback([&](bool l) { levels.push_back(l); });
  uart.write(1, 0x01);  // IER: received data available
  const uint8_t in = 'x';
  uart.receive(&in, 1);
  EXPECT_EQ(uart.read(2) & 0x0f, 0x04);
  EXPECT_TRUE(uart.irq_level());
  uart.read(0);
  EXPECT_FALSE(uart.irq_level());
  EXPECT_EQ(levels, (std::vector<bool>{true, false}));
}

TEST(Uart16550, EnablingThreInterruptRaisesItAndReadingIirClearsIt) {
  NullFile out;
  Uart8250 uart(out.f);
  uart.write(1, 0x02);  // IER: THRE
  EXPECT_TRUE(uart.irq_level());
  EXPECT_EQ(uart.read(2) & 0x0f, 0x02);
  EXPECT_FALSE(uart.irq_level());
  EXPECT_EQ(uart.read(2) & 0x0f, 0x01);
  uart.write(0, 'z');  // transmitting empties THR again: THRE pending
  EXPECT_TRUE(uart.irq_level());
}

TEST(Uart16550, FifoEnabledShowsIn16550AIirBits) {
  NullFile out;
  Uart8250 uart(out.f);
  uart.write(2, 0x07);
  EXPECT_EQ(uart.read(2) & 0xc0, 0xc0);
}

TEST(Uart16550, LoopbackReturnsTransmittedBytesAndMirrorsModemLines) {
  NullFile out;
  Uart8250 uart(out.f);
  uart.write(4, 0x10 | 0x0a);  // LOOP | RTS | OUT2
  EXPECT_EQ(uart.read(6) & 0xf0, 0x90);
  uart.write(0, 'q');
  EXPECT_EQ(uart.read(0), 'q');
  EXPECT_EQ(uart.bytes_transmitted(), 0u);
}

TEST(CmosRtc, TimeIsTheClockInBcdByDefault) {
  // 2026-11-22 05:06:07 UTC, a Sunday.
  CmosRtc rtc([] { return std::time_t{1795323967}; }, 64u << 20);
  auto reg = [&](uint8_t i) { rtc.write(0x70, i); return rtc.read(0x71); };
  EXPECT_EQ(reg(0x00), 0x07);
  EXPECT_EQ(reg(0x02), 0x06);
  EXPECT_EQ(reg(0x04), 0x05);
  EXPECT_EQ(reg(0x06), 0x01);
  EXPECT_EQ(reg(0x07), 0x22);
  EXPECT_EQ(reg(0x08), 0x11);
  EXPECT_EQ(reg(0x09), 0x26);
  EXPECT_EQ(reg(0x32), 0x20);
  EXPECT_EQ(reg(0x0d), 0x80);
  EXPECT_EQ(reg(0x0a) & 0x80, 0);  // no update in progress
}

TEST(CmosRtc, BinaryModeAnd12HourModeFollowStatusB) {
  CmosRtc rtc([] { return std::time_t{1795323967 + 10 * 3600}; }, 64u << 20);  // 15:06:07
  rtc.write(0x70, 0x0b);
  rtc.write(0x71, 0x04);  // binary, 12-hour
  rtc.write(0x70, 0x04);
  EXPECT_EQ(rtc.read(0x71), 0x80 | 3);
  rtc.write(0x70, 0x02);
  EXPECT_EQ(rtc.read(0x71), 6);
}

TEST(CmosRtc, TimeWritesAreIgnoredAndRamBytesReadBack) {
  CmosRtc rtc([] { return std::time_t{1795323967}; }, 64u << 20);
  rtc.write(0x70, 0x00);
  rtc.write(0x71, 0x59);
  EXPECT_EQ(rtc.read(0x71), 0x07);
  rtc.write(0x70, 0x40);
  rtc.write(0x71, 0xa5);
  EXPECT_EQ(rtc.read(0x71), 0xa5);
}

TEST(CmosRtc, ExtendedMemorySizeIsReportedInKiB) {
  CmosRtc rtc([] { return std::time_t{0}; }, 64u << 20);
  rtc.write(0x70, 0x30);
  const uint8_t lo = rtc.read(0x71);
  rtc.write(0x70, 0x31);
  const uint8_t hi = rtc.read(0x71);
  EXPECT_EQ(lo | (hi << 8), 63 * 1024);
}

TEST(I8042, PulseResetCommandResetsTheMachine) {
  I8042 kbc;
  EXPECT_EQ(kbc.read(0x64) & 0x02, 0);  // input buffer empty: kb_wait() passes
  EXPECT_EQ(kbc.write(0x64, 0xfe), PlatformEvent::kReset);
}

TEST(I8042, SelfTestAndCtrReadBack) {
  I8042 kbc;
  kbc.write(0x64, 0xaa);
  EXPECT_EQ(kbc.read(0x64) & 0x01, 0x01);
  EXPECT_EQ(kbc.read(0x60), 0x55);
  kbc.write(0x64, 0x60);
  kbc.write(0x60, 0x47);
  kbc.write(0x64, 0x20);
  EXPECT_EQ(kbc.read(0x60), 0x47);
}

TEST(PciHost, HostBridgeAt0000AndNothingElse) {
  PciHost pci;
  pci.write(0xcf8, 4, 0x80000000u);
  EXPECT_EQ(pci.read(0xcfc, 4), 0x12378086u);
  EXPECT_EQ(pci.read(0xcfe, 2), 0x1237u);
  pci.write(0xcf8, 4, 0x80000008u);
  EXPECT_EQ(pci.read(0xcfc, 4) >> 8, 0x060000u);
  pci.write(0xcf8, 4, 0x80000800u);  // device 1
  EXPECT_EQ(pci.read(0xcfc, 4), 0xffffffffu);
  EXPECT_EQ(pci.read(0xcf8, 4), 0x80000800u);
}

TEST(AcpiPm, SlpEnWithS5PowersOffAndOtherSleepTypesDoNot) {
  AcpiPm pm;
  EXPECT_EQ(pm.read(kAcpiPm1aCntPort, 2) & 1, 1u);  // SCI_EN
  EXPECT_EQ(pm.write(kAcpiPm1aCntPort, 2, (1u << 10) | (1u << 13)), PlatformEvent::kNone);
  EXPECT_EQ(pm.write(kAcpiPm1aCntPort, 2, (5u << 10) | (1u << 13)), PlatformEvent::kPowerOff);
}

TEST(AcpiPm, ResetRegisterValueResets) {
  AcpiPm pm;
  EXPECT_EQ(pm.write(kAcpiResetPort, 1, kAcpiResetValue), PlatformEvent::kReset);
}

TEST(IoBusPc, PowerOffIsStatus0AndResetIsTheConfiguredStatus) {
  NullFile out;
  IoBus bus(out.f, nullptr);
  bus.enable_pc_devices([] { return std::time_t{0}; }, 64u << 20, 42);
  uint8_t reset = 0xfe;
  EXPECT_EQ(bus.handle(false, 0x64, 1, 1, &reset), std::optional<int>(42));
  uint8_t s5[2] = {0x00, 0x34};
  EXPECT_EQ(bus.handle(false, kAcpiPm1aCntPort, 2, 1, s5), std::optional<int>(kExitGuestPowerOff));
}

TEST(IoBusPc, PciDwordAccessReachesTheHostBridge) {
  NullFile out;
  IoBus bus(out.f, nullptr);
  bus.enable_pc_devices([] { return std::time_t{0}; }, 64u << 20, kExitGuestReset);
  uint8_t addr[4] = {0, 0, 0, 0x80};
  EXPECT_FALSE(bus.handle(false, 0xcf8, 4, 1, addr));
  uint8_t id[4] = {};
  EXPECT_FALSE(bus.handle(true, 0xcfc, 4, 1, id));
  EXPECT_EQ(id[0], 0x86);
  EXPECT_EQ(id[3], 0x12);
}

TEST(IoBusPc, ConsoleInputReachesTheUart) {
  NullFile out;
  IoBus bus(out.f, nullptr);
  const uint8_t in = 'k';
  EXPECT_EQ(bus.receive_console(&in, 1), 1u);
  uint8_t v = 0;
  bus.handle(true, 0x3f8, 1, 1, &v);
  EXPECT_EQ(v, 'k');
}

}  // namespace
}  // namespace skvm::vmm
