// SDM Vol. 1 19.5.1-19.5.2: I/O privilege level and I/O permission bit map.
#include "cpu/state/io_permission.h"

namespace skvm::cpu {

bool io_permitted(Cpu& cpu, uint16_t port, unsigned size) {
  const CpuState& s = cpu.state();
  if (!(s.cr0 & kCr0PE)) return true;
  const unsigned iopl = (s.rflags & kFlagIOPL) >> 12;
  if (!(s.rflags & kFlagVM) && cpl(s) <= iopl) return true;
  // Only a 32-bit (or 64-bit) TSS has a bitmap.
  const Segment& tr = s.tr;
  if (tr.unusable || !tr.present || (tr.type & 0x9) != 0x9 || tr.limit < 0x67) return raise(cpu, kGP, 0);
  const bool lma = (s.efer & kEferLMA) != 0;
  auto linear = [&](uint64_t off) { return lma ? tr.base + off : ((tr.base + off) & 0xffffffffull); };
  uint16_t map_base;
  if (!read_linear(cpu, linear(0x66), &map_base, 2, Acc::kSysRead)) return false;
  const uint64_t byte = uint64_t{map_base} + port / 8;
  if (byte + 1 > tr.limit) return raise(cpu, kGP, 0);
  uint16_t bits;
  if (!read_linear(cpu, linear(byte), &bits, 2, Acc::kSysRead)) return false;
  const unsigned mask = ((1u << size) - 1) << (port & 7);
  if (bits & mask) return raise(cpu, kGP, 0);
  return true;
}

}  // namespace skvm::cpu
