// Linear memory access slow paths: TLB fill through the walker, physical
// access to RAM / MMIO / read-only slots, dirty logging and code-page writes.
// Protocols (MMIO exits, TLB tags) are documented in mmu_impl.h.
#include <algorithm>
#include <cstring>

#include "cpu/mmu/access.h"
#include "cpu/mmu/mmu_impl.h"
#include "cpu/mmu/walk.h"

namespace skvm::cpu {
namespace {

// Where one page-contained chunk of an access goes.
struct Target {
  uint8_t* host = nullptr;  // RAM; nullptr = MMIO (or a write to a read-only slot)
  uint64_t gpa = 0;
  bool code = false;  // the page holds decoded code: call code_page_written
};

WalkAccess walk_access(Acc acc) {
  switch (acc) {
    case Acc::kWrite:
    case Acc::kSysWrite:
      return WalkAccess::kWrite;
    case Acc::kExec:
      return WalkAccess::kFetch;
    default:
      return WalkAccess::kRead;
  }
}

// Translate one linear address for `acc`, refilling its TLB entry. Raises #PF
// on a paging fault.
bool translate_for(Cpu& cpu, uint64_t la, Acc acc, Target* t) {
  MmuImpl& m = cpu.mmu();
  if (m.generation_changed()) m.flush_all();
  if ((cpu.state().efer & kEferLMA) &&
      static_cast<uint64_t>(static_cast<int64_t>(la << 16) >> 16) != la) [[unlikely]] {
    return raise(cpu, kGP, 0);  // non-canonical linear address (SDM Vol. 3A 3.3.7.1)
  }
  const uint64_t key = tlb_key(cpu.state(), acc);
  const WalkAccess wa = walk_access(acc);
  WalkResult r;
  uint32_t error = 0;
  if (!walk(cpu, la, wa, key != 0, /*update_ad=*/true, &r, &error)) return raise_pf(cpu, la, error);

  const uint64_t page = la & kPageMask;
  const uint64_t tag = page | key;
  const uint64_t gpa_page = r.gpa & kPageMask;
  const uint64_t offset = r.gpa & (kPageSize - 1);
  PhysPage p = m.phys(gpa_page);
  t->gpa = r.gpa;
  t->code = false;
  t->host = nullptr;
  MmuImpl::TlbEntry& e = m.entry(la);
  if (p.host == nullptr) {
    if (e.read_tag == tag) e = MmuImpl::TlbEntry{};
    return true;  // MMIO
  }
  const bool was_marked = e.read_tag == tag && e.gpa_page == gpa_page && e.dirty_marked;
  m.note_fill(la);
  e.read_tag = tag;
  e.exec_tag = r.executable ? tag : MmuImpl::kInvalidTag;
  e.write_tag = MmuImpl::kInvalidTag;
  e.notify_tag = MmuImpl::kInvalidTag;
  // SAFETY: wrapping arithmetic on integers; host = la + addend is only
  // formed for linear addresses inside this page.
  e.addend = reinterpret_cast<uintptr_t>(p.host) - static_cast<uintptr_t>(page);
  e.gpa_page = gpa_page;
  e.global = r.global;
  e.dirty_marked = was_marked;

  if (wa == WalkAccess::kWrite) {
    if (!p.writable) return true;  // KVM_MEM_READONLY: the write becomes MMIO
    if (p.dirty_log && !e.dirty_marked) {
      cpu.bus().mark_dirty(gpa_page);
      e.dirty_marked = true;
    }
    if (is_code_page(cpu, gpa_page) || (m.smp() && m.shared()->contains(gpa_page))) {
      t->code = true;
      e.notify_tag = tag;
    } else {
      e.write_tag = tag;
    }
  } else if (r.writable && r.dirty && p.writable && (!p.dirty_log || e.dirty_marked)) {
    const bool code = is_code_page(cpu, gpa_page) || (m.smp() && m.shared()->contains(gpa_page));
    (code ? e.notify_tag : e.write_tag) = tag;
  }
  t->host = p.host + offset;
  if (m.watching() && m.watched_page(page)) [[unlikely]] {
    // A data breakpoint covers this page: keep every access on the slow path.
    e.read_tag = e.write_tag = e.notify_tag = MmuImpl::kInvalidTag;
  }
  return true;
}

// MMIO fragments one access was served from completions (protocol step 3).
struct ServedLog {
  struct Piece {
    uint64_t gpa;
    uint32_t len;
    const uint8_t* data;
  };
  Piece pieces[4];
  unsigned n = 0;
};

bool mmio_read(Cpu& cpu, uint64_t gpa, uint8_t* dst, unsigned size, ServedLog* log) {
  MmuImpl& m = cpu.mmu();
  while (size > 0) {
    unsigned n = std::min(size, 8u);
    if (m.take_mmio_completion(gpa, n, dst)) {
      if (log->n < 4) log->pieces[log->n++] = {gpa, n, dst};
    } else if (!cpu.bus().mmio_read(gpa, n, dst)) {
      // The access will be re-executed: the pieces it was already served
      // must be there again.
      for (unsigned i = 0; i < log->n; ++i) {
        m.add_mmio_completion(log->pieces[i].gpa, log->pieces[i].len, log->pieces[i].data);
      }
      MmioExit& x = cpu.exit().mmio;
      x = MmioExit{};
      x.gpa = gpa;
      x.len = n;
      x.is_write = false;
      cpu.exit().reason = Stop::kMmio;
      cpu.signals().exit_now = true;
      return false;
    }
    gpa += n;
    dst += n;
    size -= n;
  }
  return true;
}

bool mmio_write(Cpu& cpu, uint64_t gpa, const uint8_t* src, unsigned size) {
  while (size > 0) {
    unsigned n = std::min(size, 8u);
    if (!cpu.bus().mmio_write(gpa, n, src)) {
      // x86.c: complete_emulated_mmio: one exit per 8-byte piece; the pieces
      // after the first are handed out at the next run() entries.
      if (cpu.signals().exit_after) {
        if (!cpu.mmu().queue_mmio_write(gpa, n, src)) {
          cpu.mmu().clear_mmio_writes();
          cpu.signals().exit_after = false;
          return internal_error_exit(cpu, gpa);
        }
        gpa += n;
        src += n;
        size -= n;
        continue;
      }
      MmioExit& x = cpu.exit().mmio;
      x = MmioExit{};
      x.gpa = gpa;
      x.len = n;
      x.is_write = true;
      std::memcpy(x.data, src, n);
      cpu.exit().reason = Stop::kMmio;
      cpu.signals().exit_after = true;
    }
    gpa += n;
    src += n;
    size -= n;
  }
  return true;
}

// A TLB hit for a write (plain or code-notify entry).
bool tlb_write_target(Cpu& cpu, uint64_t la, uint64_t key, Target* t) {
  MmuImpl::TlbEntry& e = cpu.mmu().entry(la);
  const uint64_t tag = (la & kPageMask) | key;
  if (e.write_tag != tag && e.notify_tag != tag) return false;
  // SAFETY: both tags map this linear page to writable RAM.
  t->host = reinterpret_cast<uint8_t*>(la + e.addend);
  t->gpa = e.gpa_page | (la & (kPageSize - 1));
  t->code = e.write_tag != tag;
  return true;
}

// A TLB hit for a read or fetch.
bool tlb_read_target(Cpu& cpu, uint64_t la, Acc acc, Target* t) {
  MmuImpl::TlbEntry& e = cpu.mmu().entry(la);
  const uint64_t tag = (la & kPageMask) | tlb_key(cpu.state(), acc);
  if ((acc == Acc::kExec ? e.exec_tag : e.read_tag) != tag) return false;
  // SAFETY: read / exec tags map this linear page to RAM.
  t->host = reinterpret_cast<uint8_t*>(la + e.addend);
  t->gpa = e.gpa_page | (la & (kPageSize - 1));
  t->code = false;
  return true;
}

// Linear address of the byte following a chunk: 32-bit wrap outside long mode.
uint64_t next_linear(const CpuState& s, uint64_t la, unsigned n) {
  uint64_t next = la + n;
  return (s.efer & kEferLMA) ? next : (next & 0xffffffffull);
}

// ---- Locked instructions (MmuImpl::lock_key, exec/locked.h) ----

// A read inside a locked instruction: a single-page RAM chunk of at most
// 16 bytes starts or extends (contiguously) the recorded operand; a re-read
// of it sees the bytes buffered so far. Returns false when the plain path
// must serve the read (the operand then commits without a CAS).
bool locked_read(MmuImpl::LockedOp& op, const Target& t, uint8_t* out, unsigned size) {
  if (op.uncovered || t.host == nullptr) return false;
  if (op.host == nullptr && size <= sizeof(op.old)) {
    op.host = t.host;
    op.gpa = t.gpa;
    op.size = 0;
  }
  if (op.host != nullptr && t.host == op.host + op.size && !op.written && op.size + size <= sizeof(op.old) &&
      ((t.gpa ^ op.gpa) & kPageMask) == 0) {
    // SAFETY: t.host points at `size` bytes inside one RAM page; the range
    // stays within op.old / op.next (checked above).
    std::memcpy(op.old + op.size, t.host, size);
    std::memcpy(op.next + op.size, op.old + op.size, size);
    std::memcpy(out, op.old + op.size, size);
    op.size += size;
    return true;
  }
  if (op.host != nullptr && t.host >= op.host && t.host + size <= op.host + op.size) {
    std::memcpy(out, op.next + (t.host - op.host), size);
    return true;
  }
  return false;
}

// A write inside a locked instruction: buffered when it falls inside the
// recorded operand.
bool locked_write(MmuImpl::LockedOp& op, const Target& t, const uint8_t* in, unsigned size) {
  if (op.uncovered || t.host == nullptr || op.host == nullptr) return false;
  if (t.host < op.host || t.host + size > op.host + op.size) return false;
  std::memcpy(op.next + (t.host - op.host), in, size);
  op.written = true;
  op.code = op.code || t.code;
  return true;
}

// Host compare-and-swap of `size` naturally aligned bytes (SDM Vol. 2A,
// CMPXCHG / CMPXCHG16B: the host's own locked cycle).
template <typename T>
bool cas_n(uint8_t* p, const uint8_t* expected, const uint8_t* desired) {
  T e, d;
  std::memcpy(&e, expected, sizeof(T));
  std::memcpy(&d, desired, sizeof(T));
  // SAFETY: p is sizeof(T)-aligned guest RAM (checked by the caller), which
  // other vCPU threads access concurrently only through plain or atomic
  // stores of the host CPU; the atomic builtin is the synchronisation.
  return __atomic_compare_exchange_n(reinterpret_cast<T*>(p), &e, d, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

bool cas16(uint8_t* p, const uint8_t* expected, const uint8_t* desired) {
  struct alignas(16) Pair {
    uint64_t q[2];
  };
  uint64_t lo, hi, new_lo, new_hi;
  std::memcpy(&lo, expected, 8);
  std::memcpy(&hi, expected + 8, 8);
  std::memcpy(&new_lo, desired, 8);
  std::memcpy(&new_hi, desired + 8, 8);
  bool ok;
  // SAFETY: p is 16-byte aligned guest RAM (checked by the caller).
  auto* m = reinterpret_cast<Pair*>(p);
  asm volatile("lock cmpxchg16b %1"
               : "=@ccz"(ok), "+m"(*m), "+a"(lo), "+d"(hi)
               : "b"(new_lo), "c"(new_hi)
               : "memory");
  return ok;
}

// False when the CAS cannot apply (size or alignment): plain store.
bool host_cas(uint8_t* p, const uint8_t* expected, const uint8_t* desired, unsigned size, bool* ok) {
  const auto addr = reinterpret_cast<uintptr_t>(p);
  if ((size & (size - 1)) != 0 || size == 0 || size > 16 || (addr & (size - 1)) != 0) return false;
  switch (size) {
    case 1: *ok = cas_n<uint8_t>(p, expected, desired); break;
    case 2: *ok = cas_n<uint16_t>(p, expected, desired); break;
    case 4: *ok = cas_n<uint32_t>(p, expected, desired); break;
    case 8: *ok = cas_n<uint64_t>(p, expected, desired); break;
    default: *ok = cas16(p, expected, desired); break;
  }
  return true;
}

// An access of a locked instruction outside its recorded operand: from now
// on it runs as before the CAS existed (plain accesses under the bus lock).
// Bytes already buffered are stored first, so later plain stores stay last.
void locked_uncover(Cpu& cpu) {
  MmuImpl& m = cpu.mmu();
  MmuImpl::LockedOp& op = m.locked_op();
  if (op.uncovered) return;
  op.uncovered = true;
  if (!op.written) return;
  // SAFETY: op.host..+op.size is inside one RAM page (locked_read).
  std::memcpy(op.host, op.next, op.size);
  op.written = false;
  if (op.code) {
    code_page_written(cpu, op.gpa, op.size);
    if (m.smp()) m.shared()->post(op.gpa & kPageMask, SharedCode::Kind::kWritten, m.shared_id());
  }
}

}  // namespace

bool mmu_locked_commit(Cpu& cpu) {
  MmuImpl& m = cpu.mmu();
  m.locked_end();
  MmuImpl::LockedOp& op = m.locked_op();
  if (!op.written) return true;
  bool ok = true;
  if (op.uncovered || !host_cas(op.host, op.old, op.next, op.size, &ok)) {
    // DEVIATION (exec/locked.h): not a naturally aligned operand, or the
    // instruction also made accesses outside it: a plain store under the
    // bus lock.
    // SAFETY: op.host..+op.size is inside one RAM page (locked_read).
    std::memcpy(op.host, op.next, op.size);
  }
  if (!ok) return false;
  if (op.code) {
    code_page_written(cpu, op.gpa, op.size);
    if (m.smp()) m.shared()->post(op.gpa & kPageMask, SharedCode::Kind::kWritten, m.shared_id());
  }
  return true;
}

bool read_linear(Cpu& cpu, uint64_t la, void* dst, unsigned size, Acc acc) {
  auto* out = static_cast<uint8_t*>(dst);
  if (cpu.mmu().watching() && acc == Acc::kRead) [[unlikely]] cpu.mmu().check_watches(la, size, false);
  if (size > kPageSize) {  // large areas (XSAVE...): page-sized pieces
    return read_linear(cpu, la, out, kPageSize, acc) &&
           read_linear(cpu, next_linear(cpu.state(), la, kPageSize), out + kPageSize, size - kPageSize, acc);
  }
  unsigned first = std::min<unsigned>(size, kPageSize - (la & (kPageSize - 1)));
  Target t[2];
  if (!tlb_read_target(cpu, la, acc, &t[0]) && !translate_for(cpu, la, acc, &t[0])) return false;
  uint64_t la2 = next_linear(cpu.state(), la, first);
  if (first < size && !tlb_read_target(cpu, la2, acc, &t[1]) && !translate_for(cpu, la2, acc, &t[1])) {
    return false;
  }
  if (cpu.mmu().lock_key() != 0) [[unlikely]] {
    MmuImpl::LockedOp& op = cpu.mmu().locked_op();
    if (first == size && locked_read(op, t[0], out, size)) return true;
    locked_uncover(cpu);
  }
  unsigned sizes[2] = {first, size - first};
  ServedLog log;
  for (int i = 0; i < 2 && sizes[i] > 0; ++i) {
    if (t[i].host != nullptr) {
      // SAFETY: t.host points inside a RAM page; the chunk ends at or before
      // the end of that page.
      std::memcpy(out, t[i].host, sizes[i]);
    } else if (!mmio_read(cpu, t[i].gpa, out, sizes[i], &log)) {
      return false;
    }
    out += sizes[i];
  }
  return true;
}

bool write_linear(Cpu& cpu, uint64_t la, const void* src, unsigned size, Acc acc) {
  auto* in = static_cast<const uint8_t*>(src);
  if (cpu.mmu().watching() && acc == Acc::kWrite) [[unlikely]] cpu.mmu().check_watches(la, size, true);
  if (size > kPageSize) {
    return write_linear(cpu, la, in, kPageSize, acc) &&
           write_linear(cpu, next_linear(cpu.state(), la, kPageSize), in + kPageSize, size - kPageSize, acc);
  }
  unsigned first = std::min<unsigned>(size, kPageSize - (la & (kPageSize - 1)));
  Target t[2];
  const uint64_t key = tlb_key(cpu.state(), acc);
  // Both pages are translated before anything is written, so a fault on the
  // second page leaves memory untouched.
  if (!tlb_write_target(cpu, la, key, &t[0]) && !translate_for(cpu, la, acc, &t[0])) return false;
  uint64_t la2 = next_linear(cpu.state(), la, first);
  if (first < size && !tlb_write_target(cpu, la2, key, &t[1]) && !translate_for(cpu, la2, acc, &t[1])) {
    return false;
  }
  if (cpu.mmu().lock_key() != 0) [[unlikely]] {
    MmuImpl::LockedOp& op = cpu.mmu().locked_op();
    if (first == size && locked_write(op, t[0], in, size)) return true;
    locked_uncover(cpu);
  }
  unsigned sizes[2] = {first, size - first};
  for (int i = 0; i < 2 && sizes[i] > 0; ++i) {
    if (t[i].host != nullptr) {
      // SAFETY: as in read_linear, for a writable RAM page.
      std::memcpy(t[i].host, in, sizes[i]);
      if (t[i].code) {
        code_page_written(cpu, t[i].gpa, sizes[i]);
        MmuImpl& m = cpu.mmu();
        if (m.smp()) m.shared()->post(t[i].gpa & kPageMask, SharedCode::Kind::kWritten, m.shared_id());
      }
    } else if (!mmio_write(cpu, t[i].gpa, in, sizes[i])) {
      return false;
    }
    in += sizes[i];
  }
  return true;
}

const uint8_t* fetch_ptr(Cpu& cpu, uint64_t la, unsigned* avail, uint64_t* gpa) {
  MmuImpl::TlbEntry& e = cpu.mmu().entry(la);
  const uint64_t offset = la & (kPageSize - 1);
  *avail = static_cast<unsigned>(kPageSize - offset);
  if (e.exec_tag != ((la & kPageMask) | tlb_key(cpu.state(), Acc::kExec))) {
    Target t;
    if (!translate_for(cpu, la, Acc::kExec, &t)) {
      *avail = 0;
      return nullptr;
    }
    if (t.host == nullptr) {
      // Executing from unbacked memory: KVM cannot emulate it either
      // (emulation failure -> KVM_EXIT_INTERNAL_ERROR).
      *avail = 0;
      internal_error_exit(cpu, t.gpa);
      return nullptr;
    }
    *gpa = t.gpa;
    return t.host;
  }
  *gpa = e.gpa_page | offset;
  // SAFETY: the exec tag maps this page to RAM; offset < page size.
  return reinterpret_cast<const uint8_t*>(la + e.addend);
}

void tlb_flush_all(Cpu& cpu) {
  MmuImpl& m = cpu.mmu();
  m.flush_all();
  // Also the entry point of Cpu::state_changed(): in PAE paging mode the
  // PDPTEs are (re)loaded from CR3, as KVM_SET_SREGS does. Bad ones read
  // as not present.
  const CpuState& s = cpu.state();
  if (paging_enabled(s) && (s.cr4 & kCr4PAE) && !(s.efer & kEferLMA) && !m.load_pdptes(s.cr3)) {
    m.clear_pdptes();
  }
}

void tlb_flush_nonglobal(Cpu& cpu) { cpu.mmu().flush_nonglobal(); }

void tlb_flush_page(Cpu& cpu, uint64_t la) {
  // Both key variants of the page live in the same slot.
  MmuImpl::TlbEntry& e = cpu.mmu().entry(la);
  if ((e.read_tag & kPageMask) == (la & kPageMask) || (e.exec_tag & kPageMask) == (la & kPageMask)) {
    e = MmuImpl::TlbEntry{};
  }
}

void tlb_protect_code(Cpu& cpu, uint64_t gpa_page) {
  tlb_protect_code_local(cpu, gpa_page);
  // First time any vCPU decodes this page: the others must drop their
  // writable entries for it (mmu_impl.h "Cross-vCPU code").
  MmuImpl& m = cpu.mmu();
  if (m.shared() != nullptr && m.shared()->add(gpa_page) && m.smp()) {
    m.shared()->post(gpa_page, SharedCode::Kind::kProtect, m.shared_id());
  }
}

bool tlb_protect_code_local(Cpu& cpu, uint64_t gpa_page) {
  bool dropped = false;
  cpu.mmu().for_each_filled([gpa_page, &dropped](MmuImpl::TlbEntry& e) {
    if (e.gpa_page == gpa_page && e.write_tag != MmuImpl::kInvalidTag) {
      e.notify_tag = e.write_tag;
      e.write_tag = MmuImpl::kInvalidTag;
      dropped = true;
    }
  });
  return dropped;
}

Translation Cpu::translate(uint64_t linear) {
  // api.rst: KVM_TRANSLATE. KVM walks as a supervisor read without touching
  // A/D bits and always reports writeable = 1, usermode = 0
  // (x86.c: kvm_arch_vcpu_ioctl_translate); we report the same.
  Translation tr;
  if (mmu().generation_changed()) mmu().flush_all();  // memslots moved since the last run
  WalkResult r;
  uint32_t error = 0;
  if (walk(*this, linear, WalkAccess::kRead, false, /*update_ad=*/false, &r, &error)) {
    tr.gpa = r.gpa;
    tr.valid = true;
  } else {
    tr.gpa = ~0ull;  // INVALID_GPA
    tr.valid = false;
  }
  tr.writeable = true;
  tr.usermode = false;
  return tr;
}

}  // namespace skvm::cpu
