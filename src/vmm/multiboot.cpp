// Multiboot Specification version 0.6.96: 3.1 "OS image format" (header
// fields, flags), 3.2 "Machine state", 3.3 "Boot information format".
#include "vmm/multiboot.h"

#include <elf.h>

#include <algorithm>
#include <cstring>

#include "vmm/linux_loader.h"
#include "vmm/x86_setup.h"

namespace skvm::vmm {
namespace {

constexpr uint32_t kHeaderMagic = 0x1BADB002;
constexpr uint64_t kHeaderSearch = 8192;
constexpr uint32_t kFlagPageAlign = 1u << 0;
constexpr uint32_t kFlagMemInfo = 1u << 1;
constexpr uint32_t kFlagVideo = 1u << 2;
constexpr uint32_t kFlagAoutKludge = 1u << 16;
constexpr uint32_t kKnownRequired = kFlagPageAlign | kFlagMemInfo | kFlagVideo;

constexpr uint32_t kInfoMem = 1u << 0;
constexpr uint32_t kInfoCmdline = 1u << 2;
constexpr uint32_t kInfoMods = 1u << 3;
constexpr uint32_t kInfoMmap = 1u << 6;
constexpr uint32_t kInfoLoaderName = 1u << 9;

constexpr uint64_t kMmapAddr = kMultibootInfoAddr + 0x80;
constexpr uint64_t kModsAddr = kMultibootInfoAddr + 0x200;
constexpr uint64_t kStringsAddr = kMultibootInfoAddr + 0x400;
constexpr uint64_t kPage = 0x1000;

// spec 3.2: "CS must be a 32-bit read/execute code segment with an offset
// of 0 and a limit of 0xFFFFFFFF"; data segments likewise read/write.
constexpr uint16_t kCode32 = 0x08;
constexpr uint16_t kData32 = 0x10;
constexpr uint64_t kGdt32[] = {0, 0x00cf9b000000ffffull, 0x00cf93000000ffffull};

struct Header {
  uint64_t offset;
  uint32_t flags, header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr;
};

uint32_t u32(const std::vector<uint8_t>& image, uint64_t off) {
  uint32_t v = 0;
  // SAFETY: callers check off + 4 <= image.size().
  std::memcpy(&v, image.data() + off, 4);
  return v;
}

Header find_header(const std::vector<uint8_t>& image) {
  const uint64_t end = std::min<uint64_t>(image.size(), kHeaderSearch);
  for (uint64_t off = 0; off + 12 <= end; off += 4) {
    const uint32_t magic = u32(image, off), flags = u32(image, off + 4), sum = u32(image, off + 8);
    if (magic != kHeaderMagic || static_cast<uint32_t>(magic + flags + sum) != 0) continue;
    Header h{off, flags, 0, 0, 0, 0, 0};
    if (flags & kFlagAoutKludge) {
      if (off + 32 > image.size()) throw VmmError("-k: Multiboot header truncated");
      h.header_addr = u32(image, off + 12);
      h.load_addr = u32(image, off + 16);
      h.load_end_addr = u32(image, off + 20);
      h.bss_end_addr = u32(image, off + 24);
      h.entry_addr = u32(image, off + 28);
    }
    return h;
  }
  throw VmmError("-k: no Multiboot header in the first 8 KiB");
}

// Loads per the address fields (spec 3.1.3). Returns {entry, end}.
std::pair<uint64_t, uint64_t> load_aout_kludge(const GuestMemory& mem, const std::vector<uint8_t>& image,
                                               const Header& h) {
  if (h.load_addr > h.header_addr || h.header_addr - h.load_addr > h.offset) {
    throw VmmError("-k: Multiboot header_addr/load_addr inconsistent with the header's file offset");
  }
  const uint64_t file_start = h.offset - (h.header_addr - h.load_addr);
  uint64_t size = image.size() - file_start;
  if (h.load_end_addr) {
    if (h.load_end_addr < h.load_addr) throw VmmError("-k: Multiboot load_end_addr below load_addr");
    size = std::min<uint64_t>(size, h.load_end_addr - h.load_addr);
  }
  uint64_t end = h.load_addr + size;
  if (h.bss_end_addr && h.bss_end_addr > end) end = h.bss_end_addr;
  if (h.load_addr < kHighMemAddr || !mem.contains(h.load_addr, end - h.load_addr)) {
    throw VmmError("-k: Multiboot image [" + GuestMemory::hex(h.load_addr) + ", " + GuestMemory::hex(end) +
                   ") does not fit in RAM above 1 MiB; raise -m");
  }
  mem.write(h.load_addr, image.data() + file_start, size);
  mem.fill(h.load_addr + size, 0, end - h.load_addr - size);
  return {h.entry_addr, end};
}

std::pair<uint64_t, uint64_t> load_elf32(const GuestMemory& mem, const std::vector<uint8_t>& image) {
  Elf32_Ehdr eh{};
  if (image.size() < sizeof eh || std::memcmp(image.data(), ELFMAG, SELFMAG) != 0 ||
      image[EI_CLASS] != ELFCLASS32) {
    throw VmmError("-k: Multiboot kernel is neither ELF32 nor has the a.out-kludge address fields");
  }
  // SAFETY: image holds at least sizeof eh bytes (checked above).
  std::memcpy(&eh, image.data(), sizeof eh);
  if (eh.e_phentsize != sizeof(Elf32_Phdr) ||
      eh.e_phoff + uint64_t{eh.e_phnum} * sizeof(Elf32_Phdr) > image.size()) {
    throw VmmError("-k: ELF32 program headers truncated");
  }
  uint64_t end = 0;
  for (uint16_t i = 0; i < eh.e_phnum; ++i) {
    Elf32_Phdr ph{};
    // SAFETY: the program header table lies inside the image (checked above).
    std::memcpy(&ph, image.data() + eh.e_phoff + i * sizeof ph, sizeof ph);
    if (ph.p_type != PT_LOAD) continue;
    if (uint64_t{ph.p_offset} + ph.p_filesz > image.size() || ph.p_filesz > ph.p_memsz) {
      throw VmmError("-k: ELF32 segment " + std::to_string(i) + " lies outside the file");
    }
    if (ph.p_paddr < kHighMemAddr || !mem.contains(ph.p_paddr, ph.p_memsz)) {
      throw VmmError("-k: ELF32 segment " + std::to_string(i) + " at " + GuestMemory::hex(ph.p_paddr) +
                     " does not fit in RAM above 1 MiB; raise -m");
    }
    mem.write(ph.p_paddr, image.data() + ph.p_offset, ph.p_filesz);
    mem.fill(ph.p_paddr + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
    end = std::max<uint64_t>(end, uint64_t{ph.p_paddr} + ph.p_memsz);
  }
  if (end == 0) throw VmmError("-k: ELF32 file has no PT_LOAD segment");
  return {eh.e_entry, end};
}

class StringArea {
 public:
  explicit StringArea(const GuestMemory& mem) : mem_(mem) {}
  uint32_t add(const std::string& s, const char* who) {
    if (next_ + s.size() + 1 > kMultibootInfoEnd) {
      throw VmmError(std::string(who) + ": strings exceed the Multiboot information area");
    }
    const uint64_t at = next_;
    mem_.write(at, s.data(), s.size());
    mem_.put<uint8_t>(at + s.size(), 0);
    next_ += s.size() + 1;
    return static_cast<uint32_t>(at);
  }

 private:
  const GuestMemory& mem_;
  uint64_t next_ = kStringsAddr;
};

}  // namespace

EntryState load_multiboot(const GuestMemory& mem, const std::vector<uint8_t>& kernel,
                          const MultibootConfig& config) {
  const Header h = find_header(kernel);
  if (const uint32_t unknown = (h.flags & 0xffff) & ~kKnownRequired) {
    throw VmmError("-k: Multiboot header requires unsupported features (flags " + GuestMemory::hex(unknown) + ")");
  }
  const auto [entry_addr, end] = (h.flags & kFlagAoutKludge) ? load_aout_kludge(mem, kernel, h)
                                                              : load_elf32(mem, kernel);
  for (size_t i = 0; i < std::size(kGdt32); ++i) mem.put<uint64_t>(kGdtAddr + 8 * i, kGdt32[i]);

  StringArea strings(mem);
  mem.fill(kMultibootInfoAddr, 0, kStringsAddr - kMultibootInfoAddr);
  uint32_t flags = kInfoMem | kInfoCmdline | kInfoMmap | kInfoLoaderName;
  // spec 3.3: mem_lower/mem_upper in KiB: below 640 KiB, and from 1 MiB.
  mem.put<uint32_t>(kMultibootInfoAddr + 4, static_cast<uint32_t>(kEbdaAddr >> 10));
  mem.put<uint32_t>(kMultibootInfoAddr + 8,
                    static_cast<uint32_t>(std::min<uint64_t>(mem.size - kHighMemAddr, 0xfff00000) >> 10));
  mem.put<uint32_t>(kMultibootInfoAddr + 16, strings.add(config.cmdline, "-p"));

  // Modules: page aligned after the kernel (flag 0 asks for it; always done).
  uint64_t next = (end + kPage - 1) & ~(kPage - 1);
  if (!config.modules.empty()) {
    flags |= kInfoMods;
    mem.put<uint32_t>(kMultibootInfoAddr + 20, static_cast<uint32_t>(config.modules.size()));
    mem.put<uint32_t>(kMultibootInfoAddr + 24, static_cast<uint32_t>(kModsAddr));
    for (size_t i = 0; i < config.modules.size(); ++i) {
      const auto& m = config.modules[i];
      const uint64_t size = m.data->size();
      if (i >= 16 || next + size > std::min<uint64_t>(mem.size, 1ull << 32)) {
        throw VmmError("-i " + m.string + ": " + std::to_string(size) +
                       " bytes do not fit in guest RAM after the kernel; raise -m");
      }
      mem.write(next, m.data->data(), size);
      const uint64_t d = kModsAddr + 16 * i;
      mem.put<uint32_t>(d, static_cast<uint32_t>(next));
      mem.put<uint32_t>(d + 4, static_cast<uint32_t>(next + size));
      mem.put<uint32_t>(d + 8, strings.add(m.string, "-i"));
      next = (next + size + kPage - 1) & ~(kPage - 1);
    }
  }
  // spec 3.3 "mmap_*": each entry is size (of the rest, 20), base, length, type.
  const auto map = e820_map(mem.size);
  for (size_t i = 0; i < map.size(); ++i) {
    const uint64_t d = kMmapAddr + 24 * i;
    mem.put<uint32_t>(d, 20);
    mem.put<uint64_t>(d + 4, map[i].addr);
    mem.put<uint64_t>(d + 12, map[i].size);
    mem.put<uint32_t>(d + 20, map[i].type);
  }
  mem.put<uint32_t>(kMultibootInfoAddr + 44, static_cast<uint32_t>(24 * map.size()));
  mem.put<uint32_t>(kMultibootInfoAddr + 48, static_cast<uint32_t>(kMmapAddr));
  mem.put<uint32_t>(kMultibootInfoAddr + 64, strings.add("softkvm", "loader"));
  mem.put<uint32_t>(kMultibootInfoAddr, flags);

  EntryState entry;
  entry.mode = EntryMode::kProtected32;
  entry.rip = entry_addr;
  entry.rax = kMultibootBootloaderMagic;
  entry.rbx = kMultibootInfoAddr;
  entry.rsp = 0;  // spec 3.2: "ESP ... the OS image must create its own stack"
  entry.code_selector = kCode32;
  entry.data_selector = kData32;
  entry.loader = (h.flags & kFlagAoutKludge) ? "Multiboot v1 (a.out kludge)" : "Multiboot v1 (ELF32)";
  return entry;
}

}  // namespace skvm::vmm
