// SDM Vol. 3A 3.4.5 (segment descriptors), 3.5.1 (descriptor tables).
#include "cpu/state/descriptor.h"

namespace skvm::cpu {
namespace {

DescFetch fetch_at(Cpu& cpu, uint16_t selector, unsigned extra, uint64_t* raw) {
  const CpuState& s = cpu.state();
  uint64_t base;
  uint32_t limit;
  if (selector & 4) {
    if (s.ldt.unusable || !s.ldt.present) return DescFetch::kOutOfLimits;  // LDTR cache, as hardware
    base = s.ldt.base;
    limit = s.ldt.limit;
  } else {
    base = s.gdt.base;
    limit = s.gdt.limit;
  }
  uint64_t offset = (selector & ~7u) + extra;
  if (offset + 7 > limit) return DescFetch::kOutOfLimits;
  uint64_t la = base + offset;
  if (!(s.efer & kEferLMA)) la &= 0xffffffffull;
  if (!read_linear(cpu, la, raw, 8, Acc::kSysRead)) return DescFetch::kFault;
  return DescFetch::kOk;
}

}  // namespace

DescFetch fetch_descriptor(Cpu& cpu, uint16_t selector, uint64_t* raw) {
  return fetch_at(cpu, selector, 0, raw);
}

DescFetch fetch_descriptor_high(Cpu& cpu, uint16_t selector, uint64_t* raw) {
  return fetch_at(cpu, selector, 8, raw);
}

Segment decode_descriptor(uint64_t raw, uint16_t selector) {
  Segment seg;
  seg.selector = selector;
  seg.base = ((raw >> 16) & 0xffffff) | (((raw >> 56) & 0xff) << 24);
  uint32_t limit = static_cast<uint32_t>((raw & 0xffff) | (((raw >> 48) & 0xf) << 16));
  seg.g = (raw >> 55) & 1;
  seg.limit = seg.g ? ((limit << 12) | 0xfff) : limit;
  seg.type = desc_type(raw);
  seg.s = desc_s(raw);
  seg.dpl = desc_dpl(raw);
  seg.present = desc_present(raw);
  seg.avl = (raw >> 52) & 1;
  seg.l = desc_l(raw);
  seg.db = desc_db(raw);
  seg.unusable = 0;
  return seg;
}

bool set_descriptor_accessed(Cpu& cpu, uint16_t selector, uint64_t raw) {
  if (raw & (1ull << 40)) return true;
  const CpuState& s = cpu.state();
  uint64_t base = (selector & 4) ? s.ldt.base : s.gdt.base;
  uint64_t la = base + (selector & ~7u) + 5;
  if (!(s.efer & kEferLMA)) la &= 0xffffffffull;
  uint8_t access = static_cast<uint8_t>((raw >> 40) | 1);
  return write_linear(cpu, la, &access, 1, Acc::kSysWrite);
}

Segment null_segment(uint16_t selector) {
  Segment seg;
  seg.selector = selector;
  seg.base = 0;
  seg.limit = 0;
  seg.type = 0;
  seg.present = 0;
  seg.s = 0;
  seg.dpl = 0;
  seg.unusable = 1;
  return seg;
}

}  // namespace skvm::cpu
