// Firmware tables that let the guest find its CPUs and interrupt
// controllers: the Intel MultiProcessor table (in the EBDA) and ACPI (RSDP,
// RSDT, XSDT, FADT, FACS, DSDT, MADT in the BIOS area).
#pragma once

#include <cstdint>
#include <vector>

#include "vmm/guest_memory.h"

namespace skvm::vmm {

// The fixed-function ACPI ports of the VMM's power-management device.
inline constexpr uint16_t kAcpiPm1aEvtPort = 0x600;  // PM1a_EVT_BLK, 4 bytes
inline constexpr uint16_t kAcpiPm1aCntPort = 0x604;  // PM1a_CNT_BLK, 2 bytes
inline constexpr uint16_t kAcpiResetPort = 0xcf9;    // FADT RESET_REG
inline constexpr uint8_t kAcpiResetValue = 0x06;
inline constexpr uint8_t kAcpiS5SlpTyp = 5;  // \_S5 in the DSDT
inline constexpr uint8_t kAcpiSciIrq = 9;

// A virtio-mmio device, announced in the DSDT as an ACPI device with _HID
// "LNRO0005" (what drivers/virtio/virtio_mmio.c matches), a 32-bit fixed
// memory window and a level/high interrupt.
struct VirtioMmioSlot {
  uint64_t base;
  uint32_t size;
  uint32_t gsi;
};

struct FirmwareConfig {
  uint32_t cpus = 1;
  uint8_t ioapic_id = 0;
  std::vector<VirtioMmioSlot> virtio;
};

// The DSDT's AML body (after the header) for `config`: \_S5 and the
// virtio-mmio devices. Exposed for tests.
std::vector<uint8_t> dsdt_aml(const FirmwareConfig& config);

// Offsets of each ACPI table, for tests and --verbose.
struct AcpiLayout {
  uint64_t rsdp, rsdt, xsdt, fadt, facs, dsdt, madt;
};

// Writes the ACPI tables at kBiosAddr; returns where each is (rsdp first).
AcpiLayout write_acpi_tables(const GuestMemory& mem, const FirmwareConfig& config);

// Writes the MP floating pointer and configuration table at kEbdaAddr;
// returns the floating pointer's address.
uint64_t write_mp_table(const GuestMemory& mem, const FirmwareConfig& config);

// The 8-bit sum of `len` bytes at `gpa` (0 for a valid ACPI/MP checksum).
uint8_t byte_sum(const GuestMemory& mem, uint64_t gpa, uint64_t len);

}  // namespace skvm::vmm
