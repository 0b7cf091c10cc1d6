// MmuImpl: soft TLB storage and maintenance, PAE PDPTE cache, MMIO read
// completions (protocol in mmu_impl.h).
#include "cpu/mmu/mmu_impl.h"

#include <sys/mman.h>

#include <cstring>
#include <new>

#include "cpu/mmu/walk.h"

namespace skvm::cpu {
namespace {
constexpr PhysRange kEmptyRange{kPageSize, 0, PhysPage{}};  // last < first: matches nothing
const std::atomic<uint64_t> kNoCodeEpoch{0};
}  // namespace

MmuImpl::MmuImpl(Cpu& cpu)
    : cpu_(cpu), shared_(cpu.bus().shared_code()), code_epoch_(&kNoCodeEpoch),
      generation_(&cpu.bus().generation()), seen_generation_(generation_->load(std::memory_order_acquire)) {
  if (shared_ != nullptr) {
    shared_id_ = shared_->join();
    code_epoch_ = &shared_->epoch();
    // Pages registered before this CPU existed are found by contains() at
    // TLB fill; older events concern no entry of this (empty) TLB.
    code_done_ = code_seen_ = code_epoch_->load(std::memory_order_acquire);
  }
  // mmap(2): MAP_ANONYMOUS memory reads as zero; pages are backed as the
  // guest's working set fills them.
  void* p = mmap(nullptr, sizeof(TlbStore), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  // SAFETY: page-aligned zero-filled mapping of sizeof(TlbStore) bytes;
  // TlbStore is an implicit-lifetime aggregate whose all-zero bytes are the
  // "never filled" state described in the header.
  tlb_ = static_cast<TlbStore*>(p);
  // Slot 0 is the one slot whose all-zero tags could match (linear page 0,
  // key 0): make it invalid.
  tlb_->entries[0] = TlbEntry{};
  ranges_.fill(kEmptyRange);
}

MmuImpl::~MmuImpl() { munmap(tlb_, sizeof(TlbStore)); }

void MmuImpl::flush_all() {
  seen_generation_ = generation_->load(std::memory_order_acquire);
  for (unsigned k = 0; k < n_filled_; ++k) {
    const uint16_t idx = tlb_->filled[k];
    tlb_->entries[idx] = TlbEntry{};
    tlb_->listed[idx] = 0;
  }
  n_filled_ = 0;
  ranges_.fill(kEmptyRange);
  refresh_cpuid();
}

void MmuImpl::flush_nonglobal() {
  unsigned kept = 0;
  for (unsigned k = 0; k < n_filled_; ++k) {
    const uint16_t idx = tlb_->filled[k];
    TlbEntry& e = tlb_->entries[idx];
    if (e.global && e.read_tag != kInvalidTag) {
      tlb_->filled[kept++] = idx;
    } else {
      e = TlbEntry{};
      tlb_->listed[idx] = 0;
    }
  }
  n_filled_ = kept;
}

void MmuImpl::code_sync() {
  const uint64_t end = code_epoch_->load(std::memory_order_acquire);
  for (uint64_t seq = code_done_; seq < end; ++seq) {
    SharedCode::Event ev;
    if (!shared_->event(seq, &ev)) {
      // Overwritten before we read it: any page may have become code or
      // been written. Drop every translation (refills consult the
      // registry) and revalidate every block against memory.
      flush_all();
      cpu_.host_may_have_written_memory();
      break;
    }
    if (ev.poster == shared_id_ % SharedCode::kMaxParticipants) continue;
    if (ev.kind == SharedCode::Kind::kProtect) {
      // This CPU could write the page until now without telling anyone:
      // the CPUs holding its code must compare their decodes with memory.
      if (tlb_protect_code_local(cpu_, ev.gpa_page)) shared_->post(ev.gpa_page, SharedCode::Kind::kWritten, shared_id_);
    } else {
      code_page_written(cpu_, ev.gpa_page, 1);  // invalidates this CPU's blocks of the page
    }
  }
  code_done_ = end;
  shared_->ack(shared_id_, end);
  // Another running vCPU may still write a newly registered page through a
  // writable TLB entry it has not dropped yet: revalidate blocks (memcmp)
  // at each boundary until every one has caught up.
  const uint64_t protect_end = shared_->protect_end();
  const bool behind = protect_end != 0 && shared_->others_behind(shared_id_, protect_end);
  if (behind) cpu_.host_may_have_written_memory();
  code_seen_ = behind ? ~0ull : end;
}

void MmuImpl::code_enter() {
  shared_->ack(shared_id_, code_done_);
  code_sync();
}

void MmuImpl::code_leave() {
  // Outside run() this CPU writes nothing: first own up to writes it may
  // have made through entries a kProtect event concerns (code_sync posts
  // them), then stop holding the others back.
  if (code_epoch_->load(std::memory_order_acquire) != code_done_) code_sync();
  shared_->ack(shared_id_, SharedCode::kIdle);
}

PhysPage MmuImpl::phys_miss(uint64_t gpa_page) {
  PhysRange r = cpu_.bus().lookup_range(gpa_page);
  if (r.first > gpa_page || r.last < gpa_page) {
    r = PhysRange{gpa_page, gpa_page, cpu_.bus().lookup(gpa_page)};  // a Bus without ranges
  }
  for (unsigned k = kRanges - 1; k > 0; --k) ranges_[k] = ranges_[k - 1];
  ranges_[0] = r;
  PhysPage p = r.page;
  if (p.host != nullptr) p.host += gpa_page - r.first;
  return p;
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
  if (generation_changed()) flush_all();  // no stale slot ranges
  PhysPage p = phys(gpa & kPageMask);
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
  cpu.mmu().locked_end();
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
