// SDM Vol. 3A chapter 4 (Paging): the guest page-table walker.
// Reference for the order of checks (present, then reserved bits, then
// permissions, then A/D update): arch/x86/kvm/mmu/paging_tmpl.h.
#include "cpu/mmu/walk.h"

#include <atomic>

#include "cpu/mmu/mmu_impl.h"

namespace skvm::cpu {
namespace {

constexpr uint64_t kPteP = 1u << 0, kPteRw = 1u << 1, kPteUs = 1u << 2, kPteA = 1u << 5,
                   kPteD = 1u << 6, kPtePs = 1u << 7, kPteG = 1u << 8;
constexpr uint64_t kPteNx = 1ull << 63;

constexpr uint64_t bits(unsigned lo, unsigned hi) {  // inclusive range
  return ((hi >= 63 ? ~0ull : ((1ull << (hi + 1)) - 1))) & ~((1ull << lo) - 1);
}

// One page-table entry as seen in host memory, for the A/D update.
struct EntryRef {
  uint8_t* host = nullptr;  // nullptr: read-only slot, no A/D write-back
  bool wide = true;         // 8-byte entry (PAE / 4-level) or 4-byte (32-bit)
  uint64_t value = 0;       // the entry as read by the walk
  bool dirty_log = false;   // the table page is in a dirty-logged slot
  uint64_t gpa_page = 0;
};

// Read one page-table entry at guest-physical `gpa`. Returns false when the
// table is not in RAM (treated as a not-present entry, as KVM does).
bool read_entry(Cpu& cpu, uint64_t gpa, bool wide, uint64_t* value, EntryRef* ref) {
  PhysPage p = cpu.mmu().phys(gpa & kPageMask);
  if (p.host == nullptr) return false;
  uint8_t* host = p.host + (gpa & (kPageSize - 1));
  if (wide) {
    // SAFETY: host points into a RAM page; gpa is 8-aligned (table base is
    // page aligned, index * 8), so the atomic access is aligned and in page.
    *value = std::atomic_ref<uint64_t>(*reinterpret_cast<uint64_t*>(host)).load(std::memory_order_relaxed);
  } else {
    // SAFETY: as above with a 4-aligned 32-bit entry.
    *value = std::atomic_ref<uint32_t>(*reinterpret_cast<uint32_t*>(host)).load(std::memory_order_relaxed);
  }
  ref->host = p.writable ? host : nullptr;
  ref->wide = wide;
  ref->value = *value;
  ref->dirty_log = p.dirty_log;
  ref->gpa_page = gpa & kPageMask;
  return true;
}

void set_bits(Cpu& cpu, const EntryRef& ref, uint64_t bits_to_set) {
  if (ref.host == nullptr || (ref.value & bits_to_set) == bits_to_set) return;
  // An A/D update is a guest write to the table page: log it, as KVM does
  // (mark_page_dirty after the cmpxchg in paging_tmpl.h). Rare: only when a
  // bit was missing.
  if (ref.dirty_log) cpu.bus().mark_dirty(ref.gpa_page);
  if (ref.wide) {
    // SAFETY: see read_entry; the hardware sets A/D with a locked OR.
    std::atomic_ref<uint64_t>(*reinterpret_cast<uint64_t*>(ref.host)).fetch_or(bits_to_set);
  } else {
    std::atomic_ref<uint32_t>(*reinterpret_cast<uint32_t*>(ref.host))
        .fetch_or(static_cast<uint32_t>(bits_to_set));
  }
}

}  // namespace

bool walk(Cpu& cpu, uint64_t la, WalkAccess access, bool user, bool update_ad, WalkResult* out,
          uint32_t* error) {
  const CpuState& s = cpu.state();
  MmuImpl& m = cpu.mmu();
  const bool write = access == WalkAccess::kWrite;
  const bool fetch = access == WalkAccess::kFetch;
  const bool nxe = (s.efer & kEferNXE) != 0;
  const bool wp = (s.cr0 & kCr0WP) != 0;

  if (!paging_enabled(s)) {
    *out = WalkResult{la & 0xffffffffull, true, true, true, false};
    return true;
  }

  uint32_t base_error = (write ? kPfWrite : 0) | (user ? kPfUser : 0) | (fetch && nxe ? kPfFetch : 0);
  const unsigned maxphy = m.maxphyaddr();
  const uint64_t pa_mask = bits(12, maxphy - 1);
  const uint64_t nx_rsvd = nxe ? 0 : kPteNx;

  EntryRef refs[4];
  unsigned nrefs = 0;
  bool rw_all = true, us_all = true, nx_any = false;
  uint64_t leaf = 0;
  uint64_t gpa = 0;

  auto fail = [&](uint32_t code) {
    *error = code | base_error;
    return false;
  };
  auto accumulate = [&](uint64_t e) {
    rw_all = rw_all && (e & kPteRw);
    us_all = us_all && (e & kPteUs);
    nx_any = nx_any || (nxe && (e & kPteNx));
  };

  if (!(s.cr4 & kCr4PAE)) {
    // 32-bit paging: two levels of 4-byte entries (SDM 4.3).
    uint64_t pde;
    EntryRef ref;
    uint64_t pde_gpa = (s.cr3 & 0xfffff000ull) + ((la >> 22) & 0x3ff) * 4;
    if (!read_entry(cpu, pde_gpa, false, &pde, &ref) || !(pde & kPteP)) return fail(0);
    if ((pde & kPtePs) && (s.cr4 & kCr4PSE)) {
      uint64_t rsvd = m.pse36() ? bits(17, 21) : bits(13, 21);
      if (pde & rsvd) return fail(kPfRsvd | kPfPresent);
      accumulate(pde);
      refs[nrefs++] = ref;
      leaf = pde;
      gpa = (pde & 0xffc00000ull) | (m.pse36() ? ((pde >> 13) & 0xf) << 32 : 0) | (la & 0x3fffff);
    } else {
      accumulate(pde);
      refs[nrefs++] = ref;
      uint64_t pte;
      uint64_t pte_gpa = (pde & 0xfffff000ull) + ((la >> 12) & 0x3ff) * 4;
      if (!read_entry(cpu, pte_gpa, false, &pte, &ref) || !(pte & kPteP)) return fail(0);
      accumulate(pte);
      refs[nrefs++] = ref;
      leaf = pte;
      gpa = (pte & 0xfffff000ull) | (la & 0xfff);
    }
  } else {
    // PAE (SDM 4.4) or 4-level (SDM 4.5) paging: 8-byte entries.
    const bool long_mode = (s.efer & kEferLMA) != 0;
    const uint64_t high_rsvd = long_mode ? (bits(maxphy, 51)) : bits(maxphy, 62);
    uint64_t table;
    int level;
    if (long_mode) {
      table = s.cr3 & pa_mask;
      level = 4;
    } else {
      uint64_t pdpte = m.pdptes()[(la >> 30) & 3];
      if (!(pdpte & kPteP)) return fail(0);
      table = pdpte & pa_mask;
      level = 2;
    }
    for (;; --level) {
      unsigned shift = 12 + 9 * (level - 1);
      uint64_t e;
      EntryRef ref;
      if (!read_entry(cpu, table + ((la >> shift) & 0x1ff) * 8, true, &e, &ref) || !(e & kPteP)) {
        return fail(0);
      }
      uint64_t rsvd = high_rsvd | nx_rsvd;
      bool large = false;
      if (level == 4) {
        rsvd |= kPtePs;
      } else if (level == 3) {
        if (!m.gbpages()) rsvd |= kPtePs;
        large = (e & kPtePs) && m.gbpages();
        if (large) rsvd |= bits(13, 29);
      } else if (level == 2) {
        large = (e & kPtePs) != 0;
        if (large) rsvd |= bits(13, 20);
      }
      if (e & rsvd) return fail(kPfRsvd | kPfPresent);
      accumulate(e);
      refs[nrefs++] = ref;
      if (level == 1 || large) {
        leaf = e;
        uint64_t page_mask = (1ull << shift) - 1;
        gpa = (e & pa_mask & ~page_mask) | (la & page_mask);
        break;
      }
      table = e & pa_mask;
    }
  }

  // Permission checks (SDM 4.6).
  bool allowed = true;
  if (user && !us_all) allowed = false;
  if (write && !rw_all && (user || wp)) allowed = false;
  if (fetch && nx_any) allowed = false;
  if (!allowed) return fail(kPfPresent);

  const bool dirty_needed = write && !(leaf & kPteD);
  if (update_ad) {
    for (unsigned i = 0; i < nrefs; ++i) {
      bool is_leaf = i + 1 == nrefs;
      uint64_t set = kPteA;
      if (is_leaf && write) set |= kPteD;
      // set_bits issues the locked OR only when a bit is missing.
      set_bits(cpu, refs[i], set);
    }
    if (dirty_needed) leaf |= kPteD;
  }

  out->gpa = gpa;
  out->writable = rw_all || (!user && !wp);
  out->executable = !nx_any && (!user || us_all);
  out->dirty = (leaf & kPteD) != 0;
  out->global = (leaf & kPteG) && (s.cr4 & kCr4PGE);
  return true;
}

}  // namespace skvm::cpu
