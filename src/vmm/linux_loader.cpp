// Documentation/x86/boot.rst (Linux 6.1): "THE REAL-MODE KERNEL HEADER",
// "LOADING THE REST OF THE KERNEL", "64-bit BOOT PROTOCOL"; ELF-64 Object
// File Format (program headers, PT_LOAD).
#include "vmm/linux_loader.h"

#include <asm/bootparam.h>
#include <elf.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "vmm/x86_setup.h"

namespace skvm::vmm {
namespace {

constexpr uint32_t kHdrSMagic = 0x53726448;  // "HdrS"
constexpr uint64_t kSetupHeaderOffset = 0x1f1;
constexpr uint16_t kMinVersion64 = 0x020c;  // 2.12: xloadflags, XLF_KERNEL_64
constexpr uint16_t kXlfKernel64 = 1u << 0;
constexpr uint8_t kLoaderUndefined = 0xff;  // boot.rst: type_of_loader 0xFF
constexpr uint8_t kLoadedHigh = 1u << 0;
constexpr uint8_t kCanUseHeap = 1u << 7;
constexpr uint64_t kPageSize = 0x1000;
constexpr uint64_t kFourGiB = 1ull << 32;
constexpr uint32_t kMultibootMagic = 0x1BADB002;
constexpr uint64_t kMultibootSearch = 8192;

// boot.rst: "the CPU must be in 64-bit mode with paging enabled ... a GDT
// must be loaded with the descriptors for selectors __BOOT_CS(0x10) and
// __BOOT_DS(0x18)".
constexpr uint16_t kBootCs = 0x10;
constexpr uint16_t kBootDs = 0x18;
constexpr uint64_t kLinuxGdt[] = {0, 0, 0x00af9b000000ffffull, 0x00cf93000000ffffull};

template <typename T>
T read_le(const std::vector<uint8_t>& image, uint64_t offset) {
  T value{};
  if (offset + sizeof(T) <= image.size()) {
    // SAFETY: offset + sizeof(T) <= image.size(), checked above.
    std::memcpy(&value, image.data() + offset, sizeof(T));
  }
  return value;
}

bool has_multiboot_header(const std::vector<uint8_t>& image) {
  const uint64_t end = std::min<uint64_t>(image.size(), kMultibootSearch);
  for (uint64_t off = 0; off + 12 <= end; off += 4) {
    const auto magic = read_le<uint32_t>(image, off);
    const auto flags = read_le<uint32_t>(image, off + 4);
    const auto sum = read_le<uint32_t>(image, off + 8);
    if (magic == kMultibootMagic && static_cast<uint32_t>(magic + flags + sum) == 0) return true;
  }
  return false;
}

void write_boot_environment(const GuestMemory& mem) {
  write_long_mode_tables(mem.base, mem.size);
  for (size_t i = 0; i < std::size(kLinuxGdt); ++i) mem.put<uint64_t>(kGdtAddr + 8 * i, kLinuxGdt[i]);
  // BIOS data area: the EBDA segment and the base memory size in KiB (the
  // kernel's MP-table scan and reserve_bios_regions() read them).
  mem.put<uint16_t>(kBdaEbdaSegment, static_cast<uint16_t>(kEbdaAddr >> 4));
  mem.put<uint16_t>(kBdaBaseMemKiB, static_cast<uint16_t>(kEbdaAddr >> 10));
}

struct Loaded {
  uint64_t entry;
  uint64_t end;  // first byte above the kernel image
};

// The real-mode firmware (firmware/bios16.asm, assembled at build time).
constexpr uint8_t kBios16[] = {
#include "bios16.inc"
};

// boot.rst: the setup sectors (boot sector + setup_sects) of a bzImage.
uint64_t setup_size(const std::vector<uint8_t>& kernel) {
  uint64_t setup_sects = kernel[kSetupHeaderOffset];
  if (setup_sects == 0) setup_sects = 4;  // boot.rst: "If this field is 0, the real value is 4."
  return (setup_sects + 1) * 512;
}

// IVT (every vector -> IRET, INT 15h -> E820) and the firmware with its E820 table.
void write_bios16(const GuestMemory& mem, const std::vector<E820Entry>& map) {
  mem.write(kBios16Addr, kBios16, sizeof kBios16);
  for (uint32_t v = 0; v < 256; ++v) {
    const uint16_t offset = v == 0x15 ? static_cast<uint16_t>(kBios16Int15Offset) : 0;
    mem.put<uint16_t>(4 * v, offset);
    mem.put<uint16_t>(4 * v + 2, static_cast<uint16_t>(kBios16Addr >> 4));
  }
  mem.put<uint32_t>(kBios16Addr + kBios16E820CountOffset, static_cast<uint32_t>(map.size()));
  for (size_t i = 0; i < map.size(); ++i) {
    const uint64_t e = kBios16Addr + kBios16E820TableOffset + 20 * i;
    mem.put<uint64_t>(e, map[i].addr);
    mem.put<uint64_t>(e + 8, map[i].size);
    mem.put<uint32_t>(e + 16, map[i].type);
  }
}

Loaded load_bzimage(const GuestMemory& mem, const std::vector<uint8_t>& kernel, boot_params& zp, bool entry16) {
  const auto version = read_le<uint16_t>(kernel, 0x206);
  const auto xloadflags = read_le<uint16_t>(kernel, 0x236);
  if (entry16 && version < 0x0202) {
    throw VmmError("-k: bzImage boot protocol older than 2.02 (no cmd_line_ptr): not supported");
  }
  if (!entry16 && (version < kMinVersion64 || !(xloadflags & kXlfKernel64))) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "boot protocol %u.%02u without XLF_KERNEL_64", version >> 8,
                  version & 0xff);
    throw VmmError(std::string("-k: bzImage has ") + buf + " (the 64-bit entry needs 2.12+)");
  }
  const uint64_t pm_offset = setup_size(kernel);
  if (pm_offset >= kernel.size()) throw VmmError("-k: bzImage truncated (no protected-mode kernel)");
  // boot.rst: the setup header is copied from the image, 0x1f1 up to
  // 0x202 + the byte at 0x201.
  const uint64_t hdr_end = std::min<uint64_t>(0x202 + kernel[0x201], kSetupHeaderOffset + sizeof(setup_header));
  if (hdr_end > kernel.size()) throw VmmError("-k: bzImage truncated inside its setup header");
  // SAFETY: hdr_end - 0x1f1 <= sizeof(setup_header) (min above) and
  // hdr_end <= kernel.size() (checked above).
  std::memcpy(&zp.hdr, kernel.data() + kSetupHeaderOffset, hdr_end - kSetupHeaderOffset);
  const uint64_t pm_size = kernel.size() - pm_offset;
  const uint64_t load = kHighMemAddr;
  const uint64_t need = std::max<uint64_t>(pm_size, zp.hdr.init_size);
  if (!mem.contains(load, need)) {
    throw VmmError("-k: the kernel needs " + std::to_string((load + need) >> 20) +
                   " MiB of RAM to decompress (init_size " + std::to_string(zp.hdr.init_size) +
                   "); raise -m (RAM is " + std::to_string(mem.size >> 20) + " MiB)");
  }
  mem.write(load, kernel.data() + pm_offset, pm_size);
  zp.hdr.code32_start = static_cast<uint32_t>(load);
  zp.hdr.loadflags = static_cast<uint8_t>(zp.hdr.loadflags | kLoadedHigh | kCanUseHeap);
  zp.hdr.heap_end_ptr = 0xfe00;
  // boot.rst "64-bit BOOT PROTOCOL": the 64-bit entry is at load + 0x200.
  return {load + 0x200, load + need};
}

Loaded load_vmlinux(const GuestMemory& mem, const std::vector<uint8_t>& kernel, boot_params& zp) {
  const auto eh = read_le<Elf64_Ehdr>(kernel, 0);
  if (eh.e_machine != EM_X86_64 || eh.e_ident[EI_CLASS] != ELFCLASS64) {
    throw VmmError("-k: ELF file is not an x86-64 ELF64 kernel");
  }
  if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 ||
      eh.e_phoff + uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr) > kernel.size()) {
    throw VmmError("-k: ELF program headers are missing or truncated");
  }
  uint64_t end = 0;
  for (uint16_t i = 0; i < eh.e_phnum; ++i) {
    const auto ph = read_le<Elf64_Phdr>(kernel, eh.e_phoff + i * sizeof(Elf64_Phdr));
    if (ph.p_type != PT_LOAD) continue;
    if (ph.p_offset > kernel.size() || ph.p_filesz > kernel.size() - ph.p_offset || ph.p_filesz > ph.p_memsz) {
      throw VmmError("-k: ELF segment " + std::to_string(i) + " lies outside the file");
    }
    if (!mem.contains(ph.p_paddr, ph.p_memsz)) {
      throw VmmError("-k: ELF segment " + std::to_string(i) + " at " + GuestMemory::hex(ph.p_paddr) +
                     " (" + std::to_string(ph.p_memsz) + " bytes) does not fit in RAM; raise -m");
    }
    mem.write(ph.p_paddr, kernel.data() + ph.p_offset, ph.p_filesz);
    mem.fill(ph.p_paddr + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
    end = std::max(end, ph.p_paddr + ph.p_memsz);
  }
  if (end == 0) throw VmmError("-k: ELF file has no PT_LOAD segment");
  // A vmlinux carries no setup header: make the fields the kernel reads.
  zp.hdr.boot_flag = 0xaa55;
  zp.hdr.header = kHdrSMagic;
  zp.hdr.version = kMinVersion64;
  zp.hdr.kernel_alignment = 0x1000000;
  zp.hdr.cmdline_size = kCmdlineMax - 1;
  zp.hdr.initrd_addr_max = 0x7fffffff;
  // x86-64 vmlinux: e_entry is the physical startup_64 (phys_startup_64);
  // accept a __START_KERNEL_map virtual address too.
  uint64_t entry = eh.e_entry;
  if (entry >= 0xffffffff80000000ull) entry -= 0xffffffff80000000ull;
  return {entry, end};
}

}  // namespace

KernelFormat detect_kernel_format(const std::vector<uint8_t>& image) {
  if (image.size() >= 0x240 && read_le<uint32_t>(image, 0x202) == kHdrSMagic &&
      read_le<uint16_t>(image, 0x1fe) == 0xaa55) {
    return KernelFormat::kBzImage;
  }
  if (has_multiboot_header(image)) return KernelFormat::kMultiboot;
  if (image.size() >= sizeof(Elf64_Ehdr) && std::memcmp(image.data(), ELFMAG, SELFMAG) == 0 &&
      image[EI_CLASS] == ELFCLASS64) {
    return KernelFormat::kElf64;
  }
  return KernelFormat::kUnknown;
}

std::vector<E820Entry> e820_map(uint64_t mem_size) {
  constexpr uint32_t kRam = 1;
  constexpr uint32_t kReserved = 2;
  std::vector<E820Entry> map;
  map.push_back({0, kEbdaAddr, kRam});
  map.push_back({kEbdaAddr, kEbdaEnd - kEbdaAddr, kReserved});
  map.push_back({kBiosAddr, kBiosEnd - kBiosAddr, kReserved});
  if (mem_size > kHighMemAddr) map.push_back({kHighMemAddr, mem_size - kHighMemAddr, kRam});
  return map;
}

uint64_t place_initrd(uint64_t mem_size, uint64_t size, uint64_t low, uint64_t addr_max,
                      const std::string& who) {
  const uint64_t top = std::min({mem_size, kFourGiB, addr_max + 1});
  const uint64_t aligned_size = (size + kPageSize - 1) & ~(kPageSize - 1);
  if (aligned_size > top || ((top - aligned_size) & ~(kPageSize - 1)) < low) {
    const uint64_t room = top > low ? top - low : 0;
    throw VmmError(who + ": " + std::to_string(size) + " bytes do not fit in guest RAM (" +
                   std::to_string(room) + " bytes free above the kernel at " +
                   std::to_string(mem_size >> 20) + " MiB); raise -m");
  }
  return (top - aligned_size) & ~(kPageSize - 1);
}

EntryState load_linux(const GuestMemory& mem, const std::vector<uint8_t>& kernel,
                      const LinuxBootConfig& config) {
  const KernelFormat format = detect_kernel_format(kernel);
  // SAFETY: boot_params is a packed C struct of integers; all-zero is its
  // documented initial state (boot.rst: "zero the rest of the zero page").
  auto zp = std::make_unique<boot_params>();
  std::memset(zp.get(), 0, sizeof(boot_params));
  EntryState entry;
  Loaded loaded{};
  if (format == KernelFormat::kBzImage) {
    loaded = load_bzimage(mem, kernel, *zp, config.entry16);
    entry.loader = config.entry16 ? "bzImage, 16-bit entry (real-mode setup code)" : "bzImage, 64-bit boot protocol";
  } else if (format == KernelFormat::kElf64) {
    if (config.entry16) throw VmmError("--entry 16: a vmlinux ELF has no real-mode setup code (use a bzImage)");
    loaded = load_vmlinux(mem, kernel, *zp);
    entry.loader = "vmlinux ELF64, 64-bit boot protocol";
  } else {
    throw VmmError("-k: not a Linux kernel (no bzImage header, not an x86-64 ELF)");
  }
  write_boot_environment(mem);

  auto& hdr = zp->hdr;
  hdr.type_of_loader = kLoaderUndefined;
  hdr.vid_mode = 0xffff;  // boot.rst: "normal"
  // Command line (boot.rst: cmdline_size excludes the terminating NUL).
  const uint64_t cmdline_max = hdr.version >= 0x0206 ? hdr.cmdline_size : 255;
  if (config.cmdline.size() > std::min(cmdline_max, kCmdlineMax - 1)) {
    throw VmmError("-p: command line of " + std::to_string(config.cmdline.size()) +
                   " bytes exceeds the kernel's limit of " + std::to_string(cmdline_max));
  }
  mem.fill(kCmdlineAddr, 0, config.cmdline.size() + 1);
  mem.write(kCmdlineAddr, config.cmdline.data(), config.cmdline.size());
  hdr.cmd_line_ptr = static_cast<uint32_t>(kCmdlineAddr);

  if (config.initrd && !config.initrd->empty()) {
    const uint64_t addr_max = hdr.initrd_addr_max ? hdr.initrd_addr_max : 0x37ffffff;
    const uint64_t addr = place_initrd(mem.size, config.initrd->size(), loaded.end, addr_max,
                                       "-i " + config.initrd_name);
    mem.write(addr, config.initrd->data(), config.initrd->size());
    hdr.ramdisk_image = static_cast<uint32_t>(addr);
    hdr.ramdisk_size = static_cast<uint32_t>(config.initrd->size());
  }

  const auto map = e820_map(mem.size);
  zp->e820_entries = static_cast<uint8_t>(map.size());
  for (size_t i = 0; i < map.size(); ++i) {
    zp->e820_table[i].addr = map[i].addr;
    zp->e820_table[i].size = map[i].size;
    zp->e820_table[i].type = map[i].type;
  }
  zp->acpi_rsdp_addr = config.rsdp_addr;
  // SAFETY: boot_params is trivially copyable; the zero page range is checked by write().
  mem.write(kZeroPageAddr, zp.get(), sizeof(boot_params));

  if (config.entry16) {
    // boot.rst "LOADING THE REST OF THE KERNEL" / "RUNNING THE KERNEL": the
    // setup sectors at seg:0 with the header filled in, heap to 0xde00 and
    // the stack at 0xe000; jump to (seg + 0x20):0 with DS = ES = SS = seg.
    constexpr uint16_t kSetupSeg = static_cast<uint16_t>(kSetupAddr >> 4);
    hdr.heap_end_ptr = 0xe000 - 0x200;
    const uint64_t setup = setup_size(kernel);
    if (kSetupAddr + setup > kMultibootInfoEnd) throw VmmError("-k: bzImage setup code too large for the 16-bit entry");
    mem.write(kSetupAddr, kernel.data(), setup);
    const uint64_t hdr_len = std::min<uint64_t>(0x202 + kernel[0x201], kSetupHeaderOffset + sizeof(setup_header)) -
                             kSetupHeaderOffset;
    // SAFETY: hdr_len <= sizeof(setup_header); the destination is range-checked by write().
    mem.write(kSetupAddr + kSetupHeaderOffset, &hdr, hdr_len);
    write_bios16(mem, map);
    entry.mode = EntryMode::kReal16;
    entry.rip = 0;
    entry.rsp = 0xe000;
    entry.real_segment = kSetupSeg;
    entry.real_code_segment = kSetupSeg + 0x20;
    return entry;
  }
  entry.mode = EntryMode::kLong64;
  entry.rip = loaded.entry;
  entry.rsi = kZeroPageAddr;  // boot.rst: "%rsi must hold the base address of the struct boot_params"
  entry.rsp = kZeroPageAddr;  // unused by startup_64 until it sets its own stack
  entry.code_selector = kBootCs;
  entry.data_selector = kBootDs;
  return entry;
}

}  // namespace skvm::vmm
