// MmuImpl: soft TLB storage and maintenance, PAE PDPTE cache, MMIO read
// completions (protocol in mmu_impl.h).
#include "cpu/mmu/mmu_impl.h"

#include <cstring>

#include "cpu/mmu/walk.h"

namespace skvm::cpu {

MmuImpl::MmuImpl(Cpu& cpu)
    : cpu_(cpu), generation_(&cpu.bus().generation()),
      seen_generation_(generation_->load(std::memory_order_acquire)) {}

void MmuImpl::flush_all() {
  seen_generation_ = generation_->load(std::memory_order_acquire);
  for (TlbEntry& e : tlb_) e = TlbEntry{};
  refresh_cpuid();
}

void MmuImpl::refresh_cpuid() {
  uint32_t r[4];
  cpu_.bus().cpuid(0x80000000u, 0, r);
  uint32_t max_ext = r[0];
  unsigned phys = 36;  // arch/x86/kvm/cpuid.c: cpuid_query_maxphyaddr
  if (max_ext >= 0x80000008u) {
    cpu_.bus().cpuid(0x80000008u, 0, r);
    phys = r[0] & 0xff;
    if (phys < 32) phys = 36;
    if (phys > 52) phys = 52;
  }
  maxphyaddr_ = static_cast<uint8_t>(phys);
  gbpages_ = false;
  if (max_ext >= 0x80000001u) {
    cpu_.bus().cpuid(0x80000001u, 0, r);
    gbpages_ = (r[3] >> 26) & 1;
  }
  cpu_.bus().cpuid(1, 0, r);
  pse36_ = (r[3] >> 17) & 1;
}

bool MmuImpl::load_pdptes(uint64_t cr3) {
  // SDM Vol. 3A 4.4.1: the four PDPTEs at CR3[31:5]; a present entry with a
  // reserved bit set makes the MOV to CR0/CR3/CR4 fault with #GP(0).
  uint64_t gpa = cr3 & 0xffffffe0ull;
  PhysPage p = cpu_.bus().lookup(gpa & kPageMask);
  if (p.host == nullptr) return false;
  std::array<uint64_t, 4> e;
  // SAFETY: 32 bytes at a 32-byte aligned offset inside one RAM page.
  std::memcpy(e.data(), p.host + (gpa & (kPageSize - 1)), sizeof e);
  uint64_t rsvd = ~0ull << maxphyaddr_;
  rsvd |= 0x1e6;  // bits 8:5 and 2:1
  for (uint64_t v : e) {
    if ((v & 1) && (v & rsvd)) return false;
  }
  pdpte_ = e;
  return true;
}

void MmuImpl::add_mmio_completion(uint64_t gpa, uint32_t len, const uint8_t* data) {
  if (num_fragments_ == kMaxMmioFragments) num_fragments_ = 0;
  MmioFragment& f = fragments_[num_fragments_++];
  f.gpa = gpa;
  f.len = len > 8 ? 8 : len;
  f.served = false;
  std::memcpy(f.data, data, f.len);
}

bool MmuImpl::take_mmio_completion(uint64_t gpa, uint32_t len, uint8_t* data) {
  for (unsigned i = 0; i < num_fragments_; ++i) {
    MmioFragment& f = fragments_[i];
    if (f.gpa != gpa || f.len != len) continue;
    if (f.served) continue;
    std::memcpy(data, f.data, len);
    f.served = true;
    bool all = true;
    for (unsigned j = 0; j < num_fragments_; ++j) all = all && fragments_[j].served;
    if (all) num_fragments_ = 0;
    return true;
  }
  return false;
}

bool MmuImpl::queue_mmio_write(uint64_t gpa, uint32_t len, const uint8_t* data) {
  if (write_head_ == num_writes_) write_head_ = num_writes_ = 0;
  if (num_writes_ == kMaxMmioWrites) return false;
  MmioExit& w = writes_[num_writes_++];
  w = MmioExit{};
  w.gpa = gpa;
  w.len = len > 8 ? 8 : len;
  w.is_write = true;
  std::memcpy(w.data, data, w.len);
  return true;
}

bool MmuImpl::take_mmio_write(MmioExit* out) {
  if (write_head_ == num_writes_) return false;
  *out = writes_[write_head_++];
  if (write_head_ == num_writes_) write_head_ = num_writes_ = 0;
  return true;
}

bool mmu_next_mmio_write(Cpu& cpu) {
  if (!cpu.mmu().has_mmio_writes()) return false;
  cpu.mmu().take_mmio_write(&cpu.exit().mmio);
  cpu.exit().reason = Stop::kMmio;
  return true;
}

void mmu_complete_mmio_read(Cpu& cpu) {
  const MmioExit& m = cpu.exit().mmio;
  if (m.is_write) return;
  cpu.mmu().add_mmio_completion(m.gpa, m.len, m.data);
}

bool MmuImpl::set_watches(const std::array<Watch, 4>& w, unsigned n) {
  bool same = n == num_watches_;
  for (unsigned k = 0; same && k < n; ++k) {
    same = w[k].first == watches_[k].first && w[k].last == watches_[k].last && w[k].bit == watches_[k].bit &&
           w[k].reads == watches_[k].reads;
  }
  watches_ = w;
  num_watches_ = n;
  watch_hits_ = 0;
  return !same;
}

bool MmuImpl::watched_page(uint64_t page) const {
  for (unsigned k = 0; k < num_watches_; ++k) {
    if ((watches_[k].first & kPageMask) <= page && page <= (watches_[k].last & kPageMask)) return true;
  }
  return false;
}

// SDM Vol. 3B 17.2.5: a data breakpoint fires when any byte of the access
// falls in the breakpoint's range.
void MmuImpl::check_watches(uint64_t la, unsigned size, bool write) {
  const uint64_t last = la + (size ? size - 1 : 0);
  for (unsigned k = 0; k < num_watches_; ++k) {
    const Watch& w = watches_[k];
    if (!write && !w.reads) continue;
    if (la <= w.last && w.first <= last) watch_hits_ |= w.bit;
  }
}

void mmu_state_changed(Cpu& cpu) {
  tlb_flush_all(cpu);
  cpu.mmu().clear_mmio_completions();
}

bool internal_error_exit(Cpu& cpu, uint64_t detail) {
  Exit& e = cpu.exit();
  e.reason = Stop::kInternal;
  e.internal = InternalExit{};
  e.internal.suberror = 1;  // KVM_INTERNAL_ERROR_EMULATION
  e.internal.ndata = 1;
  e.internal.data[0] = detail;
  cpu.signals().exit_now = true;
  return false;
}

}  // namespace skvm::cpu
