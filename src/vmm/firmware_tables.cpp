// ACPI Specification 6.4: 5.2.5 RSDP, 5.2.7 RSDT, 5.2.8 XSDT, 5.2.9 FADT,
// 5.2.10 FACS, 5.2.11.1 DSDT, 5.2.12 MADT; 20.2 AML grammar (DefName,
// DefPackage). Intel MultiProcessor Specification 1.4: 4.1 floating pointer,
// 4.2 configuration table header, 4.3 base entries.
#include "vmm/firmware_tables.h"

#include <cstring>
#include <initializer_list>
#include <iterator>
#include <string>

#include "vmm/boot.h"

namespace skvm::vmm {
namespace {

constexpr char kOemId[] = "SFTKVM";        // 6 bytes
constexpr char kOemTableId[] = "SOFTKVM ";  // 8 bytes

// Byte-wise table writer with little-endian fields.
class TableWriter {
 public:
  TableWriter(const GuestMemory& mem, uint64_t base) : mem_(mem), base_(base) {}
  void u8(uint64_t off, uint8_t v) const { mem_.put<uint8_t>(base_ + off, v); }
  void u16(uint64_t off, uint16_t v) const { mem_.put<uint16_t>(base_ + off, v); }
  void u32(uint64_t off, uint32_t v) const { mem_.put<uint32_t>(base_ + off, v); }
  void u64(uint64_t off, uint64_t v) const { mem_.put<uint64_t>(base_ + off, v); }
  void bytes(uint64_t off, const char* s, uint64_t n) const { mem_.write(base_ + off, s, n); }
  // Sets the byte at `off` so that `len` bytes from the start sum to 0.
  void checksum(uint64_t off, uint64_t len) const {
    u8(off, 0);
    u8(off, static_cast<uint8_t>(-byte_sum(mem_, base_, len)));
  }
  // ACPI 5.2.6 System Description Table Header.
  void acpi_header(const char* sig, uint32_t length, uint8_t revision) const {
    mem_.fill(base_, 0, length);
    bytes(0, sig, 4);
    u32(4, length);
    u8(8, revision);
    bytes(10, kOemId, 6);
    bytes(16, kOemTableId, 8);
    u32(24, 1);
    bytes(28, "SKVM", 4);
    u32(32, 1);
  }
  void acpi_checksum(uint32_t length) const { checksum(9, length); }

 private:
  const GuestMemory& mem_;
  uint64_t base_;
};

// ACPI 5.2.3.2 Generic Address Structure.
void gas_io(const TableWriter& t, uint64_t off, uint16_t port, uint8_t bit_width, uint8_t access_size) {
  t.u8(off, 1);  // System I/O space
  t.u8(off + 1, bit_width);
  t.u8(off + 2, 0);
  t.u8(off + 3, access_size);
  t.u64(off + 4, port);
}

constexpr uint32_t kFadtLength = 276;  // FADT revision 6
constexpr uint32_t kFacsLength = 64;
constexpr uint32_t kMadtHeaderLength = 44;

// Name (_S5, Package () {5, 5, 0, 0}): what acpi_enter_sleep_state(S5)
// evaluates for power-off.
constexpr uint8_t kS5Aml[] = {0x08, '_', 'S', '5', '_', 0x12, 0x08, 0x04,
                              0x0a, kAcpiS5SlpTyp, 0x0a, kAcpiS5SlpTyp, 0x00, 0x00};

// ACPI 20.2.4 PkgLength: the length of the package including the PkgLength
// bytes themselves, in 1 to 4 bytes.
std::vector<uint8_t> aml_package(const std::vector<uint8_t>& body) {
  std::vector<uint8_t> out;
  size_t len = body.size() + 1;
  if (len < 0x40) {
    out.push_back(static_cast<uint8_t>(len));
  } else {
    len = body.size() + 2;
    if (len >= 0x1000) len = body.size() + 3;
    const int extra = len >= 0x1000 ? 2 : 1;
    out.push_back(static_cast<uint8_t>((extra << 6) | (len & 0x0f)));
    out.push_back(static_cast<uint8_t>(len >> 4));
    if (extra == 2) out.push_back(static_cast<uint8_t>(len >> 12));
  }
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

void append(std::vector<uint8_t>& v, std::initializer_list<uint8_t> bytes) { v.insert(v.end(), bytes); }
void append(std::vector<uint8_t>& v, const std::vector<uint8_t>& bytes) { v.insert(v.end(), bytes.begin(), bytes.end()); }
void append_u32(std::vector<uint8_t>& v, uint32_t x) {
  for (int i = 0; i < 4; ++i) v.push_back(static_cast<uint8_t>(x >> (8 * i)));
}

// Device (VRnn) { Name (_HID, "LNRO0005"); Name (_UID, n); Name (_CRS,
// ResourceTemplate () { Memory32Fixed (ReadWrite, base, size);
// Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive) { gsi } }) }
std::vector<uint8_t> virtio_device_aml(const VirtioMmioSlot& slot, uint32_t index) {
  std::vector<uint8_t> crs;
  append(crs, {0x86, 0x09, 0x00, 0x01});  // 6.4.3.4 Memory32Fixed, read/write
  append_u32(crs, static_cast<uint32_t>(slot.base));
  append_u32(crs, slot.size);
  append(crs, {0x89, 0x06, 0x00, 0x01, 0x01});  // 6.4.3.6 Extended Interrupt: consumer, level, high, exclusive; 1 IRQ
  append_u32(crs, slot.gsi);
  append(crs, {0x79, 0x00});  // End Tag
  std::vector<uint8_t> buffer = {0x0a, static_cast<uint8_t>(crs.size())};  // BufferSize
  append(buffer, crs);
  std::vector<uint8_t> body = {'V', 'R', static_cast<uint8_t>('0' + index / 10), static_cast<uint8_t>('0' + index % 10)};
  append(body, {0x08, '_', 'H', 'I', 'D', 0x0d, 'L', 'N', 'R', 'O', '0', '0', '0', '5', 0x00});
  append(body, {0x08, '_', 'U', 'I', 'D', 0x0a, static_cast<uint8_t>(index)});
  append(body, {0x08, '_', 'C', 'R', 'S', 0x11});
  append(body, aml_package(buffer));
  std::vector<uint8_t> device = {0x5b, 0x82};  // DeviceOp
  append(device, aml_package(body));
  return device;
}

}  // namespace

std::vector<uint8_t> dsdt_aml(const FirmwareConfig& config) {
  std::vector<uint8_t> aml(std::begin(kS5Aml), std::end(kS5Aml));
  if (!config.virtio.empty()) {
    std::vector<uint8_t> scope_body = {0x5c, '_', 'S', 'B', '_'};  // \_SB_
    for (uint32_t i = 0; i < config.virtio.size(); ++i) append(scope_body, virtio_device_aml(config.virtio[i], i));
    aml.push_back(0x10);  // ScopeOp
    append(aml, aml_package(scope_body));
  }
  return aml;
}

uint8_t byte_sum(const GuestMemory& mem, uint64_t gpa, uint64_t len) {
  const uint8_t* p = mem.at(gpa, len);
  uint8_t sum = 0;
  for (uint64_t i = 0; i < len; ++i) sum = static_cast<uint8_t>(sum + p[i]);
  return sum;
}

AcpiLayout write_acpi_tables(const GuestMemory& mem, const FirmwareConfig& config) {
  AcpiLayout l{};
  l.rsdp = kBiosAddr;
  l.rsdt = kBiosAddr + 0x40;
  l.xsdt = kBiosAddr + 0x80;
  l.fadt = kBiosAddr + 0x100;
  l.facs = kBiosAddr + 0x240;  // 64-byte aligned (5.2.10)
  l.madt = kBiosAddr + 0x300;
  l.dsdt = kBiosAddr + 0x1000;  // after the MADT (at most 44 + 8 * 32 + 38 bytes)

  // DSDT (5.2.11.1): header + AML.
  const std::vector<uint8_t> aml = dsdt_aml(config);
  const auto dsdt_len = static_cast<uint32_t>(36 + aml.size());
  if (l.dsdt + dsdt_len > kBiosEnd) throw VmmError("DSDT does not fit in the BIOS area");
  TableWriter dsdt(mem, l.dsdt);
  dsdt.acpi_header("DSDT", dsdt_len, 2);
  mem.write(l.dsdt + 36, aml.data(), aml.size());
  dsdt.acpi_checksum(dsdt_len);

  // FACS (5.2.10): no checksum.
  TableWriter facs(mem, l.facs);
  mem.fill(l.facs, 0, kFacsLength);
  facs.bytes(0, "FACS", 4);
  facs.u32(4, kFacsLength);
  facs.u8(32, 2);  // version

  // FADT (5.2.9, Table 5.9).
  TableWriter fadt(mem, l.fadt);
  fadt.acpi_header("FACP", kFadtLength, 6);
  fadt.u32(36, static_cast<uint32_t>(l.facs));
  fadt.u32(40, static_cast<uint32_t>(l.dsdt));
  fadt.u16(46, kAcpiSciIrq);             // SCI_INT
  fadt.u32(48, 0);                       // SMI_CMD 0: always in ACPI mode
  fadt.u32(56, kAcpiPm1aEvtPort);        // PM1a_EVT_BLK
  fadt.u32(64, kAcpiPm1aCntPort);        // PM1a_CNT_BLK
  fadt.u8(88, 4);                        // PM1_EVT_LEN
  fadt.u8(89, 2);                        // PM1_CNT_LEN
  fadt.u16(96, 101);                     // P_LVL2_LAT > 100: C2 unsupported
  fadt.u16(98, 1001);                    // P_LVL3_LAT > 1000: C3 unsupported
  fadt.u8(108, 0x32);                    // CENTURY: CMOS register 0x32
  fadt.u16(109, (1u << 0) | (1u << 1) | (1u << 2));  // IAPC_BOOT_ARCH: LEGACY_DEVICES, 8042, VGA not present
  // Flags: WBINVD, PROC_C1, PWR_BUTTON (none), SLP_BUTTON (none), RESET_REG_SUP.
  fadt.u32(112, (1u << 0) | (1u << 2) | (1u << 4) | (1u << 5) | (1u << 10));
  gas_io(fadt, 116, kAcpiResetPort, 8, 1);  // RESET_REG
  fadt.u8(128, kAcpiResetValue);
  fadt.u8(131, 4);                          // FADT minor version
  // X_FIRMWARE_CTRL stays 0: FIRMWARE_CTRL (below 4 GiB) is enough, and
  // giving both makes ACPICA install the FACS twice.
  fadt.u64(140, l.dsdt);                    // X_DSDT
  gas_io(fadt, 148, kAcpiPm1aEvtPort, 32, 2);
  gas_io(fadt, 172, kAcpiPm1aCntPort, 16, 2);
  fadt.acpi_checksum(kFadtLength);

  // MADT (5.2.12): LAPIC per CPU, the IOAPIC, IRQ0 -> GSI 2, SCI level-high, LINT1 NMI.
  TableWriter madt(mem, l.madt);
  const uint32_t madt_len = kMadtHeaderLength + 8 * config.cpus + 12 + 2 * 10 + 6;
  madt.acpi_header("APIC", madt_len, 4);
  madt.u32(36, static_cast<uint32_t>(kLapicAddr));
  madt.u32(40, 1);  // PCAT_COMPAT: dual 8259 present
  uint64_t off = kMadtHeaderLength;
  for (uint32_t cpu = 0; cpu < config.cpus; ++cpu, off += 8) {
    madt.u8(off, 0);  // Processor Local APIC
    madt.u8(off + 1, 8);
    madt.u8(off + 2, static_cast<uint8_t>(cpu));  // ACPI processor UID
    madt.u8(off + 3, static_cast<uint8_t>(cpu));  // APIC ID
    madt.u32(off + 4, 1);                         // Enabled
  }
  madt.u8(off, 1);  // I/O APIC
  madt.u8(off + 1, 12);
  madt.u8(off + 2, config.ioapic_id);
  madt.u32(off + 4, static_cast<uint32_t>(kIoapicAddr));
  madt.u32(off + 8, 0);  // GSI base
  off += 12;
  madt.u8(off, 2);  // Interrupt Source Override: ISA IRQ 0 -> GSI 2, bus-conforming
  madt.u8(off + 1, 10);
  madt.u8(off + 2, 0);
  madt.u8(off + 3, 0);
  madt.u32(off + 4, 2);
  madt.u16(off + 8, 0);
  off += 10;
  madt.u8(off, 2);  // ISA IRQ 9 (SCI) -> GSI 9, active high, level triggered
  madt.u8(off + 1, 10);
  madt.u8(off + 2, 0);
  madt.u8(off + 3, kAcpiSciIrq);
  madt.u32(off + 4, kAcpiSciIrq);
  madt.u16(off + 8, 0x000d);
  off += 10;
  madt.u8(off, 4);  // Local APIC NMI: all processors, LINT1
  madt.u8(off + 1, 6);
  madt.u8(off + 2, 0xff);
  madt.u16(off + 3, 0);
  madt.u8(off + 5, 1);
  madt.acpi_checksum(madt_len);

  // RSDT (5.2.7) and XSDT (5.2.8): FADT and MADT.
  TableWriter rsdt(mem, l.rsdt);
  rsdt.acpi_header("RSDT", 36 + 8, 1);
  rsdt.u32(36, static_cast<uint32_t>(l.fadt));
  rsdt.u32(40, static_cast<uint32_t>(l.madt));
  rsdt.acpi_checksum(36 + 8);
  TableWriter xsdt(mem, l.xsdt);
  xsdt.acpi_header("XSDT", 36 + 16, 1);
  xsdt.u64(36, l.fadt);
  xsdt.u64(44, l.madt);
  xsdt.acpi_checksum(36 + 16);

  // RSDP (5.2.5.3), revision 2: checksum over the first 20 bytes, extended over 36.
  TableWriter rsdp(mem, l.rsdp);
  mem.fill(l.rsdp, 0, 36);
  rsdp.bytes(0, "RSD PTR ", 8);
  rsdp.bytes(9, kOemId, 6);
  rsdp.u8(15, 2);
  rsdp.u32(16, static_cast<uint32_t>(l.rsdt));
  rsdp.u32(20, 36);
  rsdp.u64(24, l.xsdt);
  rsdp.checksum(8, 20);
  rsdp.checksum(32, 36);
  return l;
}

uint64_t write_mp_table(const GuestMemory& mem, const FirmwareConfig& config) {
  const uint64_t fp = kEbdaAddr;
  const uint64_t ct = kEbdaAddr + 16;
  constexpr uint16_t kIsaIrqs = 16;
  const uint16_t entries = static_cast<uint16_t>(config.cpus + 1 + 1 + (kIsaIrqs - 1) + 2);
  const uint32_t length = 44 + 20 * config.cpus + 8 * (entries - config.cpus);
  if (ct + length > kEbdaEnd) throw VmmError("-c: too many CPUs for the MP table in the EBDA");

  TableWriter t(mem, ct);
  mem.fill(ct, 0, length);
  t.bytes(0, "PCMP", 4);
  t.u16(4, static_cast<uint16_t>(length));
  t.u8(6, 4);  // spec revision 1.4
  t.bytes(8, "SOFTKVM ", 8);
  t.bytes(16, "SOFTKVM PC  ", 12);
  t.u16(34, entries);
  t.u32(36, static_cast<uint32_t>(kLapicAddr));
  uint64_t off = 44;
  for (uint32_t cpu = 0; cpu < config.cpus; ++cpu, off += 20) {
    t.u8(off, 0);  // processor
    t.u8(off + 1, static_cast<uint8_t>(cpu));
    t.u8(off + 2, 0x14);  // LAPIC version
    t.u8(off + 3, static_cast<uint8_t>(cpu == 0 ? 0x3 : 0x1));  // EN, BP
    t.u32(off + 4, 0x600);                                      // family 6
    t.u32(off + 8, 0x201);                                      // FPU, APIC
  }
  t.u8(off, 1);  // bus 0: ISA
  t.bytes(off + 2, "ISA   ", 6);
  off += 8;
  t.u8(off, 2);  // I/O APIC
  t.u8(off + 1, config.ioapic_id);
  t.u8(off + 2, 0x11);
  t.u8(off + 3, 1);  // enabled
  t.u32(off + 4, static_cast<uint32_t>(kIoapicAddr));
  off += 8;
  for (uint8_t irq = 0; irq < kIsaIrqs; ++irq) {
    if (irq == 2) continue;  // the cascade: IRQ 0 takes pin 2
    t.u8(off, 3);            // I/O interrupt assignment, INT, conforming
    t.u8(off + 4, 0);
    t.u8(off + 5, irq);
    t.u8(off + 6, config.ioapic_id);
    t.u8(off + 7, irq == 0 ? 2 : irq);
    off += 8;
  }
  t.u8(off, 4);  // local interrupt: ExtINT -> all LAPICs, LINT0
  t.u8(off + 1, 3);
  t.u8(off + 6, 0xff);
  t.u8(off + 7, 0);
  off += 8;
  t.u8(off, 4);  // NMI -> all LAPICs, LINT1
  t.u8(off + 1, 1);
  t.u8(off + 6, 0xff);
  t.u8(off + 7, 1);
  t.checksum(7, length);

  TableWriter f(mem, fp);
  mem.fill(fp, 0, 16);
  f.bytes(0, "_MP_", 4);
  f.u32(4, static_cast<uint32_t>(ct));
  f.u8(8, 1);  // length in 16-byte units
  f.u8(9, 4);
  f.checksum(10, 16);
  return fp;
}

}  // namespace skvm::vmm
