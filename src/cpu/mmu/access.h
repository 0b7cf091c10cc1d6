// Inline fast paths for linear memory accesses through the soft TLB (see
// mmu_impl.h). On a hit: one compare and one add; on a miss, a page-crossing
// access or any special page, the out-of-line read_linear / write_linear /
// fetch_ptr (core.h) take over and may fault. Inside a locked instruction
// every data access misses (MmuImpl::lock_key).
#pragma once

#include <cstdint>
#include <cstring>

#include "cpu/core.h"
#include "cpu/mmu/mmu_impl.h"

namespace skvm::cpu {

// Key bit of a TLB tag: 1 for user-mode accesses (CPL 3 and not an implicit
// supervisor access), 0 for supervisor ones.
inline uint64_t tlb_key(const CpuState& s, Acc acc) {
  if (acc == Acc::kSysRead || acc == Acc::kSysWrite) return 0;
  return cpl(s) == 3 ? 1 : 0;
}

template <typename T>
inline bool mem_read(Cpu& cpu, uint64_t la, T* out, Acc acc = Acc::kRead) {
  static_assert(sizeof(T) <= 8);
  MmuImpl::TlbEntry& e = cpu.mmu().entry(la);
  uint64_t tag = (la & kPageMask) | tlb_key(cpu.state(), acc) | cpu.mmu().lock_key();
  if (e.read_tag == tag && (la & (kPageSize - 1)) + sizeof(T) <= kPageSize) [[likely]] {
    // SAFETY: a read tag exists only for a RAM page of a live slot; the
    // access stays inside that page (checked above).
    std::memcpy(out, reinterpret_cast<const void*>(la + e.addend), sizeof(T));
    return true;
  }
  return read_linear(cpu, la, out, sizeof(T), acc);
}

template <typename T>
inline bool mem_write(Cpu& cpu, uint64_t la, T value, Acc acc = Acc::kWrite) {
  static_assert(sizeof(T) <= 8);
  MmuImpl::TlbEntry& e = cpu.mmu().entry(la);
  uint64_t tag = (la & kPageMask) | tlb_key(cpu.state(), acc) | cpu.mmu().lock_key();
  if (e.write_tag == tag && (la & (kPageSize - 1)) + sizeof(T) <= kPageSize) [[likely]] {
    // SAFETY: a write tag exists only for writable RAM of a live slot that
    // holds no decoded code; the access stays inside the page.
    std::memcpy(reinterpret_cast<void*>(la + e.addend), &value, sizeof(T));
    return true;
  }
  return write_linear(cpu, la, &value, sizeof(T), acc);
}

}  // namespace skvm::cpu
