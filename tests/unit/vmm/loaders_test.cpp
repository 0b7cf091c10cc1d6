// The Linux boot protocol loader (zero page, e820, cmdline, initrd) and the
// Multiboot v1 loader, on a plain buffer standing for guest RAM.
#include <asm/bootparam.h>
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "vmm/boot.h"
#include "vmm/linux_loader.h"
#include "vmm/multiboot.h"
#include "vmm/x86_setup.h"

namespace skvm::vmm {
namespace {

constexpr uint64_t kMiB = 1ull << 20;

struct Ram {
  explicit Ram(uint64_t size) : bytes(size) {}
  GuestMemory mem() { return GuestMemory{bytes.data(), bytes.size()}; }
  std::vector<uint8_t> bytes;
};

// A minimal bzImage: 4 setup sectors + boot sector, header v2.15 with
// XLF_KERNEL_64, then `payload` as the protected-mode kernel.
std::vector<uint8_t> fake_bzimage(const std::vector<uint8_t>& payload, uint16_t version = 0x020f,
                                  uint16_t xloadflags = 1) {
  std::vector<uint8_t> image(5 * 512 + payload.size(), 0);
  image[0x1f1] = 4;  // setup_sects
  image[0x1fe] = 0x55;
  image[0x1ff] = 0xaa;
  image[0x201] = 0x6a;  // header ends at 0x26c
  std::memcpy(&image[0x202], "HdrS", 4);
  std::memcpy(&image[0x206], &version, 2);
  const uint32_t initrd_max = 0x7fffffff, align = 0x200000, cmdline_size = 2047, init_size = 0x100000;
  std::memcpy(&image[0x22c], &initrd_max, 4);
  std::memcpy(&image[0x230], &align, 4);
  std::memcpy(&image[0x236], &xloadflags, 2);
  std::memcpy(&image[0x238], &cmdline_size, 4);
  std::memcpy(&image[0x260], &init_size, 4);
  for (size_t i = 0; i < payload.size(); ++i) image[5 * 512 + i] = payload[i];
  return image;
}

boot_params zero_page(Ram& ram) {
  boot_params zp;
  std::memcpy(&zp, ram.bytes.data() + kZeroPageAddr, sizeof zp);
  return zp;
}

TEST(LinuxLoader, BzImageIsDetectedByItsHdrSHeader) {
  EXPECT_EQ(detect_kernel_format(fake_bzimage({1, 2, 3})), KernelFormat::kBzImage);
  EXPECT_EQ(detect_kernel_format(std::vector<uint8_t>(4096, 0)), KernelFormat::kUnknown);
}

TEST(LinuxLoader, BzImageProtectedModeKernelLandsAt1MiBAndEntryIs64BitOffset0x200) {
  Ram ram(64 * kMiB);
  const EntryState e = load_linux(ram.mem(), fake_bzimage({0xde, 0xad, 0xbe, 0xef}), {"console=ttyS0", nullptr, "", 0, false});
  EXPECT_EQ(e.mode, EntryMode::kLong64);
  EXPECT_EQ(e.rip, 0x100200u);
  EXPECT_EQ(e.rsi, kZeroPageAddr);
  EXPECT_EQ(e.code_selector, 0x10);  // boot.rst: __BOOT_CS
  EXPECT_EQ(e.data_selector, 0x18);  // __BOOT_DS
  EXPECT_EQ(ram.bytes[0x100000], 0xde);
  EXPECT_EQ(ram.bytes[0x100003], 0xef);
}

TEST(LinuxLoader, ZeroPageHoldsLoaderTypeCmdlineAndSetupHeader) {
  Ram ram(64 * kMiB);
  load_linux(ram.mem(), fake_bzimage({0x90}), {"console=ttyS0 quiet", nullptr, "", 0xe0000, false});
  const boot_params zp = zero_page(ram);
  EXPECT_EQ(+zp.hdr.header, 0x53726448u);
  EXPECT_EQ(+zp.hdr.type_of_loader, 0xff);
  EXPECT_EQ(+zp.hdr.version, 0x020f);
  EXPECT_TRUE(zp.hdr.loadflags & 0x01);  // LOADED_HIGH
  EXPECT_EQ(+zp.hdr.cmd_line_ptr, kCmdlineAddr);
  EXPECT_STREQ(reinterpret_cast<const char*>(&ram.bytes[kCmdlineAddr]), "console=ttyS0 quiet");
  EXPECT_EQ(zp.acpi_rsdp_addr, 0xe0000u);
  EXPECT_EQ(+zp.hdr.ramdisk_image, 0u);
}

TEST(LinuxLoader, E820MapReservesEbdaAndBiosAndCoversRam) {
  Ram ram(64 * kMiB);
  load_linux(ram.mem(), fake_bzimage({0x90}), {"", nullptr, "", 0, false});
  const boot_params zp = zero_page(ram);
  ASSERT_EQ(+zp.e820_entries, 4);
  EXPECT_EQ(+zp.e820_table[0].addr, 0u);
  EXPECT_EQ(+zp.e820_table[0].size, 0x9fc00u);
  EXPECT_EQ(+zp.e820_table[0].type, 1u);
  EXPECT_EQ(+zp.e820_table[1].type, 2u);
  EXPECT_EQ(+zp.e820_table[2].addr, 0xe0000u);
  EXPECT_EQ(+zp.e820_table[2].type, 2u);
  EXPECT_EQ(+zp.e820_table[3].addr, 0x100000u);
  EXPECT_EQ(zp.e820_table[3].addr + zp.e820_table[3].size, 64 * kMiB);
  EXPECT_EQ(+zp.e820_table[3].type, 1u);
}

TEST(LinuxLoader, InitrdGoesPageAlignedAtTopOfRamAndIsRecorded) {
  Ram ram(64 * kMiB);
  const std::vector<uint8_t> initrd(5000, 0x42);
  load_linux(ram.mem(), fake_bzimage({0x90}), {"", &initrd, "initrd.img", 0, false});
  const boot_params zp = zero_page(ram);
  EXPECT_EQ(+zp.hdr.ramdisk_size, 5000u);
  EXPECT_EQ(zp.hdr.ramdisk_image % 4096, 0u);
  EXPECT_EQ(+zp.hdr.ramdisk_image, 64 * kMiB - 8192);
  EXPECT_EQ(ram.bytes[zp.hdr.ramdisk_image], 0x42);
  EXPECT_EQ(ram.bytes[zp.hdr.ramdisk_image + 4999], 0x42);
}

TEST(LinuxLoader, InitrdTooBigForRamIsRefusedNamingTheFile) {
  Ram ram(4 * kMiB);
  const std::vector<uint8_t> initrd(3 * kMiB, 0);
  try {
    load_linux(ram.mem(), fake_bzimage({0x90}), {"", &initrd, "big.img", 0, false});
    FAIL() << "expected VmmError";
  } catch (const VmmError& e) {
    EXPECT_NE(std::string(e.what()).find("-i big.img"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("raise -m"), std::string::npos) << e.what();
  }
}

TEST(LinuxLoader, OldBootProtocolWithout64BitEntryIsRefused) {
  Ram ram(64 * kMiB);
  EXPECT_THROW(load_linux(ram.mem(), fake_bzimage({0x90}, 0x020a, 0), {"", nullptr, "", 0, false}), VmmError);
}

TEST(LinuxLoader, CommandLineLongerThanCmdlineSizeIsRefused) {
  Ram ram(64 * kMiB);
  EXPECT_THROW(load_linux(ram.mem(), fake_bzimage({0x90}), {std::string(3000, 'x'), nullptr, "", 0, false}), VmmError);
}

TEST(LinuxLoader, GdtHasFlat64BitCodeAt0x10AndDataAt0x18) {
  Ram ram(64 * kMiB);
  load_linux(ram.mem(), fake_bzimage({0x90}), {"", nullptr, "", 0, false});
  uint64_t code, data;
  std::memcpy(&code, &ram.bytes[kGdtAddr + 0x10], 8);
  std::memcpy(&data, &ram.bytes[kGdtAddr + 0x18], 8);
  EXPECT_EQ(code, 0x00af9b000000ffffull);
  EXPECT_EQ(data, 0x00cf93000000ffffull);
}

// A Multiboot a.out-kludge image loaded at 1 MiB: header at file offset 0.
std::vector<uint8_t> fake_multiboot(uint32_t extra_flags = 0) {
  const uint32_t magic = 0x1BADB002, flags = (1u << 16) | extra_flags, sum = 0u - magic - flags;
  const uint32_t fields[] = {magic, flags, sum, 0x100000, 0x100000, 0x100040, 0x100100, 0x100020};
  std::vector<uint8_t> image(0x40, 0xcc);
  std::memcpy(image.data(), fields, sizeof fields);
  return image;
}

uint32_t u32_at(const Ram& ram, uint64_t gpa) {
  uint32_t v;
  std::memcpy(&v, &ram.bytes[gpa], 4);
  return v;
}

TEST(Multiboot, HeaderIsDetectedAndEntryIsProtectedModeWithMagicInEax) {
  Ram ram(16 * kMiB);
  const auto image = fake_multiboot();
  ASSERT_EQ(detect_kernel_format(image), KernelFormat::kMultiboot);
  const EntryState e = load_multiboot(ram.mem(), image, {"hello", {}});
  EXPECT_EQ(e.mode, EntryMode::kProtected32);
  EXPECT_EQ(e.rip, 0x100020u);
  EXPECT_EQ(e.rax, 0x2BADB002u);
  EXPECT_EQ(e.rbx, kMultibootInfoAddr);
  EXPECT_EQ(ram.bytes[0x100030], 0xcc);  // loaded
  EXPECT_EQ(ram.bytes[0x100040], 0x00);  // bss zeroed
}

TEST(Multiboot, InfoHasMemoryCmdlineAndMemoryMap) {
  Ram ram(16 * kMiB);
  load_multiboot(ram.mem(), fake_multiboot(), {"root=x", {}});
  const uint32_t flags = u32_at(ram, kMultibootInfoAddr);
  EXPECT_TRUE(flags & (1u << 0));
  EXPECT_TRUE(flags & (1u << 2));
  EXPECT_TRUE(flags & (1u << 6));
  EXPECT_FALSE(flags & (1u << 3));
  EXPECT_EQ(u32_at(ram, kMultibootInfoAddr + 4), 639u);
  EXPECT_EQ(u32_at(ram, kMultibootInfoAddr + 8), 15u * 1024);
  EXPECT_STREQ(reinterpret_cast<const char*>(&ram.bytes[u32_at(ram, kMultibootInfoAddr + 16)]), "root=x");
  EXPECT_EQ(u32_at(ram, kMultibootInfoAddr + 44), 4u * 24);
  const uint32_t mmap = u32_at(ram, kMultibootInfoAddr + 48);
  EXPECT_EQ(u32_at(ram, mmap), 20u);                   // size of the rest
  EXPECT_EQ(u32_at(ram, mmap + 3 * 24 + 4), 0x100000u);  // 4th entry base
  EXPECT_EQ(u32_at(ram, mmap + 3 * 24 + 20), 1u);        // RAM
}

TEST(Multiboot, ModuleIsPageAlignedAfterTheKernelWithItsString) {
  Ram ram(16 * kMiB);
  const std::vector<uint8_t> module = {'m', 'o', 'd'};
  load_multiboot(ram.mem(), fake_multiboot(), {"", {{&module, "mod.txt"}}});
  EXPECT_TRUE(u32_at(ram, kMultibootInfoAddr) & (1u << 3));
  EXPECT_EQ(u32_at(ram, kMultibootInfoAddr + 20), 1u);
  const uint32_t mods = u32_at(ram, kMultibootInfoAddr + 24);
  const uint32_t start = u32_at(ram, mods), end = u32_at(ram, mods + 4);
  EXPECT_EQ(start, 0x101000u);
  EXPECT_EQ(end, start + 3);
  EXPECT_EQ(ram.bytes[start], 'm');
  EXPECT_STREQ(reinterpret_cast<const char*>(&ram.bytes[u32_at(ram, mods + 8)]), "mod.txt");
}

TEST(Multiboot, UnknownRequiredFlagIsRefused) {
  Ram ram(16 * kMiB);
  EXPECT_THROW(load_multiboot(ram.mem(), fake_multiboot(1u << 5), {"", {}}), VmmError);
}

TEST(Multiboot, BadChecksumIsNotAMultibootKernel) {
  auto image = fake_multiboot();
  image[8] ^= 1;
  EXPECT_EQ(detect_kernel_format(image), KernelFormat::kUnknown);
}

}  // namespace
}  // namespace skvm::vmm
