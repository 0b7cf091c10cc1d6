// ACPI tables and the MP table: signatures, lengths, checksums, and that
// they describe every CPU, the IOAPIC and the IRQ0 -> GSI 2 override.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "vmm/boot.h"
#include "vmm/firmware_tables.h"

namespace skvm::vmm {
namespace {

struct Ram {
  Ram() : bytes(2u << 20) {}
  GuestMemory mem() { return GuestMemory{bytes.data(), bytes.size()}; }
  uint32_t u32(uint64_t a) const { uint32_t v; std::memcpy(&v, &bytes[a], 4); return v; }
  uint64_t u64(uint64_t a) const { uint64_t v; std::memcpy(&v, &bytes[a], 8); return v; }
  std::string str(uint64_t a, size_t n) const { return std::string(reinterpret_cast<const char*>(&bytes[a]), n); }
  std::vector<uint8_t> bytes;
};

TEST(Acpi, RsdpHasSignatureRevision2AndBothChecksumsValid) {
  Ram ram;
  const AcpiLayout l = write_acpi_tables(ram.mem(), {2, 0, {}});
  EXPECT_EQ(l.rsdp, kBiosAddr);
  EXPECT_EQ(ram.str(l.rsdp, 8), "RSD PTR ");
  EXPECT_EQ(ram.bytes[l.rsdp + 15], 2);
  EXPECT_EQ(byte_sum(ram.mem(), l.rsdp, 20), 0);
  EXPECT_EQ(byte_sum(ram.mem(), l.rsdp, 36), 0);
  EXPECT_EQ(ram.u32(l.rsdp + 16), l.rsdt);
  EXPECT_EQ(ram.u64(l.rsdp + 24), l.xsdt);
}

TEST(Acpi, EveryTableChecksumsToZeroOverItsLength) {
  Ram ram;
  const AcpiLayout l = write_acpi_tables(ram.mem(), {4, 0, {}});
  for (uint64_t t : {l.rsdt, l.xsdt, l.fadt, l.dsdt, l.madt}) {
    EXPECT_EQ(byte_sum(ram.mem(), t, ram.u32(t + 4)), 0) << ram.str(t, 4);
  }
  EXPECT_EQ(ram.str(l.facs, 4), "FACS");
}

TEST(Acpi, XsdtPointsAtFadtAndMadt) {
  Ram ram;
  const AcpiLayout l = write_acpi_tables(ram.mem(), {1, 0, {}});
  EXPECT_EQ(ram.u32(l.xsdt + 4), 36u + 16);
  EXPECT_EQ(ram.str(ram.u64(l.xsdt + 36), 4), "FACP");
  EXPECT_EQ(ram.str(ram.u64(l.xsdt + 44), 4), "APIC");
}

TEST(Acpi, FadtNamesDsdtFacsPm1PortsAndResetRegister) {
  Ram ram;
  const AcpiLayout l = write_acpi_tables(ram.mem(), {1, 0, {}});
  EXPECT_EQ(ram.u32(l.fadt + 4), 276u);
  EXPECT_EQ(ram.u32(l.fadt + 36), l.facs);
  EXPECT_EQ(ram.u32(l.fadt + 40), l.dsdt);
  EXPECT_EQ(ram.u64(l.fadt + 140), l.dsdt);
  EXPECT_EQ(ram.u32(l.fadt + 64), kAcpiPm1aCntPort);
  EXPECT_EQ(ram.bytes[l.fadt + 116], 1);  // RESET_REG in system I/O space
  EXPECT_EQ(ram.u64(l.fadt + 120), kAcpiResetPort);
  EXPECT_EQ(ram.bytes[l.fadt + 128], kAcpiResetValue);
  EXPECT_TRUE(ram.u32(l.fadt + 112) & (1u << 10));  // RESET_REG_SUP
}

TEST(Acpi, DsdtDefinesS5PackageForPowerOff) {
  Ram ram;
  const AcpiLayout l = write_acpi_tables(ram.mem(), {1, 0, {}});
  const std::string aml = ram.str(l.dsdt + 36, ram.u32(l.dsdt + 4) - 36);
  EXPECT_EQ(aml.substr(0, 5), std::string("\x08_S5_", 5));
  EXPECT_EQ(static_cast<uint8_t>(aml[9]), kAcpiS5SlpTyp);
}

TEST(Acpi, MadtHasOneEnabledLapicPerCpuTheIoapicAndIrq0ToGsi2) {
  Ram ram;
  const AcpiLayout l = write_acpi_tables(ram.mem(), {3, 0, {}});
  const uint32_t len = ram.u32(l.madt + 4);
  EXPECT_EQ(ram.u32(l.madt + 36), 0xfee00000u);
  int lapics = 0, ioapics = 0;
  bool irq0_to_gsi2 = false;
  for (uint64_t off = 44; off < len; off += ram.bytes[l.madt + off + 1]) {
    const uint64_t e = l.madt + off;
    ASSERT_GT(ram.bytes[e + 1], 0);
    if (ram.bytes[e] == 0) {
      EXPECT_EQ(ram.bytes[e + 3], lapics);  // APIC IDs 0..n-1
      EXPECT_EQ(ram.u32(e + 4), 1u);
      ++lapics;
    } else if (ram.bytes[e] == 1) {
      EXPECT_EQ(ram.u32(e + 4), 0xfec00000u);
      ++ioapics;
    } else if (ram.bytes[e] == 2 && ram.bytes[e + 3] == 0) {
      irq0_to_gsi2 = ram.u32(e + 4) == 2;
    }
  }
  EXPECT_EQ(lapics, 3);
  EXPECT_EQ(ioapics, 1);
  EXPECT_TRUE(irq0_to_gsi2);
}

TEST(MpTable, FloatingPointerAndConfigTableChecksumAndListEveryCpu) {
  Ram ram;
  const uint64_t fp = write_mp_table(ram.mem(), {2, 0, {}});
  EXPECT_EQ(fp, kEbdaAddr);
  EXPECT_EQ(ram.str(fp, 4), "_MP_");
  EXPECT_EQ(byte_sum(ram.mem(), fp, 16), 0);
  const uint64_t ct = ram.u32(fp + 4);
  EXPECT_EQ(ram.str(ct, 4), "PCMP");
  const uint16_t len = static_cast<uint16_t>(ram.bytes[ct + 4] | (ram.bytes[ct + 5] << 8));
  EXPECT_EQ(byte_sum(ram.mem(), ct, len), 0);
  // Processor entries come first: CPU 0 is the bootstrap processor.
  EXPECT_EQ(ram.bytes[ct + 44], 0);
  EXPECT_EQ(ram.bytes[ct + 44 + 3], 0x3);
  EXPECT_EQ(ram.bytes[ct + 64], 0);
  EXPECT_EQ(ram.bytes[ct + 64 + 1], 1);
  EXPECT_EQ(ram.bytes[ct + 64 + 3], 0x1);
  EXPECT_EQ(ram.bytes[ct + 84], 1);  // then the ISA bus
}

TEST(MpTable, TooManyCpusForTheEbdaAreRefused) {
  Ram ram;
  EXPECT_THROW(write_mp_table(ram.mem(), {200, 0, {}}), VmmError);
}

}  // namespace
}  // namespace skvm::vmm

namespace skvm::vmm {
namespace {

TEST(AcpiDsdt, WithoutVirtioTheAmlIsJustS5) {
  EXPECT_EQ(dsdt_aml({}).size(), 14u);
}

TEST(AcpiDsdt, VirtioMmioDeviceIsDescribedWithHidWindowAndInterrupt) {
  FirmwareConfig config;
  config.virtio.push_back({0xd0000000, 0x200, 5});
  const std::vector<uint8_t> aml = dsdt_aml(config);
  const std::string text(aml.begin(), aml.end());
  const size_t scope = text.find(std::string("\x10", 1));
  ASSERT_NE(scope, std::string::npos);
  // ScopeOp PkgLength (2 bytes here) covers exactly the rest of the AML.
  const size_t pkg = (aml[scope + 1] & 0x0f) | (aml[scope + 2] << 4);
  EXPECT_EQ(aml[scope + 1] >> 6, 1);
  EXPECT_EQ(scope + 1 + pkg, aml.size());
  EXPECT_NE(text.find("\\_SB_"), std::string::npos);
  EXPECT_NE(text.find("LNRO0005"), std::string::npos);
  const size_t mem32 = text.find(std::string("\x86\x09\x00\x01", 4));
  ASSERT_NE(mem32, std::string::npos);
  uint32_t base, size, gsi;
  std::memcpy(&base, &aml[mem32 + 4], 4);
  std::memcpy(&size, &aml[mem32 + 8], 4);
  std::memcpy(&gsi, &aml[mem32 + 12 + 5], 4);
  EXPECT_EQ(base, 0xd0000000u);
  EXPECT_EQ(size, 0x200u);
  EXPECT_EQ(aml[mem32 + 12], 0x89);
  EXPECT_EQ(gsi, 5u);
}

TEST(AcpiDsdt, DsdtWithVirtioStillChecksums) {
  Ram ram;
  FirmwareConfig config;
  config.virtio.push_back({0xd0000000, 0x200, 5});
  const AcpiLayout l = write_acpi_tables(ram.mem(), config);
  EXPECT_EQ(byte_sum(ram.mem(), l.dsdt, ram.u32(l.dsdt + 4)), 0);
  EXPECT_EQ(ram.u32(l.fadt + 40), l.dsdt);
}

}  // namespace
}  // namespace skvm::vmm
