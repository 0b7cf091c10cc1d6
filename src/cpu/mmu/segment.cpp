// SDM Vol. 3A 3.4-3.5 and 5.3-5.5: segmented address translation with limit
// and type checks; SDM Vol. 3A 6.15 (#AC) alignment checking.
// Order and fault kinds follow arch/x86/kvm/emulate.c (__linearize).
#include "cpu/mmu/access.h"
#include "cpu/mmu/mmu_impl.h"

namespace skvm::cpu {
namespace {

bool seg_fault(Cpu& cpu, SegReg seg) { return raise(cpu, seg == kSs ? kSS : kGP, 0); }

bool is_canonical(uint64_t la) {
  return static_cast<uint64_t>(static_cast<int64_t>(la << 16) >> 16) == la;
}

// #AC: CR0.AM, RFLAGS.AC, CPL 3, misaligned access of a natural size.
bool alignment_fault(const CpuState& s, uint64_t la, unsigned size) {
  if (size < 2 || size > 8 || (size & (size - 1)) != 0) return false;
  if ((la & (size - 1)) == 0) return false;
  return (s.cr0 & kCr0AM) && (s.rflags & kFlagAC) && cpl(s) == 3;
}

}  // namespace

bool seg_to_linear(Cpu& cpu, SegReg seg, uint64_t offset, unsigned size, Acc acc, uint64_t* la) {
  const CpuState& s = cpu.state();
  const Segment& d = s.seg[seg];
  const bool write = acc == Acc::kWrite || acc == Acc::kSysWrite;
  const bool fetch = acc == Acc::kExec;
  const bool lma = (s.efer & kEferLMA) != 0;

  if (lma && s.seg[kCs].l && !(s.rflags & kFlagVM)) {
    // 64-bit mode: no limits, base only for FS/GS; canonical first and last
    // byte (SDM Vol. 3A 3.3.7.1).
    uint64_t a = offset + ((seg == kFs || seg == kGs) ? d.base : 0);
    if (!is_canonical(a) || !is_canonical(a + (size ? size - 1 : 0))) return seg_fault(cpu, seg);
    *la = a;
    return true;
  }

  const bool real = !(s.cr0 & kCr0PE);
  if (!real && (d.unusable || !d.present)) return seg_fault(cpu, seg);  // null selector
  const bool code = (d.type & 8) != 0;
  // Real mode has no type checks (SDM Vol. 3A 20.1): only the cached limit.
  if (!real) {
    // Code segment or read-only data: no writes.
    if (write && (code || !(d.type & 2))) return seg_fault(cpu, seg);
    // Execute-only code segment: no data reads.
    if (!fetch && code && !(d.type & 2)) return seg_fault(cpu, seg);
    if (fetch && !code) return seg_fault(cpu, seg);
  }
  uint64_t last = offset + (size ? size - 1 : 0);
  if (!real && !code && (d.type & 4)) {
    // Expand-down: valid offsets are limit+1 .. 0xffff or 0xffffffff.
    uint64_t upper = d.db ? 0xffffffffull : 0xffffull;
    if (offset <= d.limit || last > upper) return seg_fault(cpu, seg);
  } else if (last > d.limit) {
    return seg_fault(cpu, seg);
  }
  *la = (d.base + offset) & 0xffffffffull;
  return true;
}

bool read_mem(Cpu& cpu, SegReg seg, uint64_t offset, void* dst, unsigned size) {
  uint64_t la;
  if (!seg_to_linear(cpu, seg, offset, size, Acc::kRead, &la)) return false;
  if (alignment_fault(cpu.state(), la, size)) [[unlikely]] return raise(cpu, kAC, 0);
  switch (size) {
    case 1: return mem_read(cpu, la, static_cast<uint8_t*>(dst));
    case 2: return mem_read(cpu, la, static_cast<uint16_t*>(dst));
    case 4: return mem_read(cpu, la, static_cast<uint32_t*>(dst));
    case 8: return mem_read(cpu, la, static_cast<uint64_t*>(dst));
    default: return read_linear(cpu, la, dst, size, Acc::kRead);
  }
}

bool write_mem(Cpu& cpu, SegReg seg, uint64_t offset, const void* src, unsigned size) {
  uint64_t la;
  if (!seg_to_linear(cpu, seg, offset, size, Acc::kWrite, &la)) return false;
  if (alignment_fault(cpu.state(), la, size)) [[unlikely]] return raise(cpu, kAC, 0);
  MmuImpl::TlbEntry& e = cpu.mmu().entry(la);
  if (e.write_tag == ((la & kPageMask) | tlb_key(cpu.state(), Acc::kWrite) | cpu.mmu().lock_key()) &&
      (la & (kPageSize - 1)) + size <= kPageSize) [[likely]] {
    // SAFETY: write tag = writable RAM page without code; access inside it.
    std::memcpy(reinterpret_cast<void*>(la + e.addend), src, size);
    return true;
  }
  return write_linear(cpu, la, src, size, Acc::kWrite);
}

}  // namespace skvm::cpu
