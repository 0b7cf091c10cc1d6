#include "kvm/memslots.h"

#include <algorithm>
#include <cerrno>
#include <iterator>

#include "kvm/limits.h"

namespace skvm::kvm {

Memslots::Memslots() {
  base::MutexLock lock(mu_);
  owned_current_ = std::make_unique<const Snapshot>();
  current_.store(owned_current_.get(), std::memory_order_seq_cst);
}

Memslots::~Memslots() = default;

void Memslots::publish(std::vector<Memslot> slots) {
  std::sort(slots.begin(), slots.end(),
            [](const Memslot& a, const Memslot& b) { return a.base_gfn < b.base_gfn; });
  auto snap = std::make_unique<const Snapshot>(Snapshot{std::move(slots)});
  current_.store(snap.get(), std::memory_order_seq_cst);
  retired_.push_back(std::move(owned_current_));
  owned_current_ = std::move(snap);
  generation_.fetch_add(1, std::memory_order_release);
  // Both operations are seq_cst: if no reader is counted now, any reader
  // that enters later loads the new current_, so the retired ones are free.
  if (readers_.load(std::memory_order_seq_cst) == 0) retired_.clear();
}

size_t Memslots::retained_snapshots() {
  base::MutexLock lock(mu_);
  return retired_.size() + 1;
}

// api.rst: KVM_SET_USER_MEMORY_REGION; kvm_main.c: kvm_vm_ioctl_set_memory_region,
// check_memory_region_flags, __kvm_set_memory_region; x86.c:
// kvm_arch_prepare_memory_region (gfn limit).
int Memslots::set(const kvm_userspace_memory_region& mem) {
  const uint32_t id = mem.slot & 0xffff;
  const uint32_t as_id = mem.slot >> 16;
  if (id >= kUserMemSlots) return -EINVAL;
  if (mem.flags & ~(KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY)) return -EINVAL;
  if (mem.memory_size & (kPageSize - 1)) return -EINVAL;
  if (mem.guest_phys_addr & (kPageSize - 1)) return -EINVAL;
  // access_ok(userspace_addr, memory_size): the range lies in user space.
  if ((mem.userspace_addr & (kPageSize - 1)) || mem.userspace_addr > kUserAddressLimit ||
      mem.memory_size > kUserAddressLimit - mem.userspace_addr)
    return -EINVAL;
  if (as_id >= kAddressSpaces) return -EINVAL;
  if (mem.guest_phys_addr + mem.memory_size < mem.guest_phys_addr) return -EINVAL;
  if (mem.memory_size / kPageSize > kMaxSlotPages) return -EINVAL;  // KVM_MEM_MAX_NR_PAGES

  base::MutexLock lock(mu_);
  const Snapshot& cur = *current_.load(std::memory_order_acquire);
  std::vector<Memslot> slots = cur.by_gfn;
  auto old = std::find_if(slots.begin(), slots.end(), [&](const Memslot& s) { return s.slot == mem.slot; });

  if (mem.memory_size == 0) {  // KVM_MR_DELETE
    if (old == slots.end()) return -EINVAL;
    slots.erase(old);
    publish(std::move(slots));
    return 0;
  }

  const uint64_t base_gfn = mem.guest_phys_addr / kPageSize;
  const uint64_t npages = mem.memory_size / kPageSize;
  bool create_or_move = true;
  std::shared_ptr<DirtyBitmap> keep_bitmap;
  if (old != slots.end()) {
    if (mem.userspace_addr != old->userspace_addr || npages != old->npages ||
        ((mem.flags ^ old->flags) & KVM_MEM_READONLY))
      return -EINVAL;
    if (base_gfn == old->base_gfn) {
      if (mem.flags == old->flags) return 0;  // nothing to change
      create_or_move = false;                 // KVM_MR_FLAGS_ONLY
    }
    keep_bitmap = old->dirty;
  }
  if (create_or_move) {
    // kvm_check_memslot_overlap (before the arch checks, as in KVM).
    for (const Memslot& s : slots) {
      if (s.slot == mem.slot) continue;
      if (base_gfn < s.end_gfn() && s.base_gfn < base_gfn + npages) return -EEXIST;
    }
    // kvm_arch_prepare_memory_region: the slot must end below the max gfn.
    if (base_gfn + npages > kMaxGfnExclusive) return -EINVAL;
  }

  Memslot next;
  next.slot = mem.slot;
  next.flags = mem.flags;
  next.base_gfn = base_gfn;
  next.npages = npages;
  next.userspace_addr = mem.userspace_addr;
  if (mem.flags & KVM_MEM_LOG_DIRTY_PAGES)
    next.dirty = keep_bitmap ? keep_bitmap : std::make_shared<DirtyBitmap>(npages);
  if (old != slots.end())
    *old = std::move(next);
  else
    slots.push_back(std::move(next));
  publish(std::move(slots));
  return 0;
}

// kvm_main.c: kvm_get_dirty_log_protect (without manual protect: the bits
// are harvested and cleared).
int Memslots::get_dirty_log(uint32_t slot, std::vector<uint64_t>* out) {
  const uint32_t id = slot & 0xffff;
  const uint32_t as_id = slot >> 16;
  if (as_id >= kAddressSpaces || id >= kUserMemSlots) return -EINVAL;
  base::MutexLock lock(mu_);
  const Snapshot& cur = *current_.load(std::memory_order_acquire);
  for (const Memslot& s : cur.by_gfn) {
    if (s.slot != slot) continue;
    if (!s.dirty) return -ENOENT;
    out->assign(s.dirty->bytes() / 8, 0);
    s.dirty->harvest(out->data());
    // Engines must re-arm write tracking on the harvested pages.
    generation_.fetch_add(1, std::memory_order_release);
    return 0;
  }
  return -ENOENT;
}

const Memslot* Memslots::find(const Snapshot& s, uint64_t gfn) const {
  auto it = std::upper_bound(s.by_gfn.begin(), s.by_gfn.end(), gfn,
                             [](uint64_t g, const Memslot& m) { return g < m.base_gfn; });
  if (it == s.by_gfn.begin()) return nullptr;
  --it;
  return gfn < it->end_gfn() ? &*it : nullptr;
}

cpu::PhysPage Memslots::lookup(uint64_t gpa) const {
  ReadScope scope(*this);
  const Snapshot& s = *current_.load(std::memory_order_seq_cst);
  const uint64_t gfn = gpa / kPageSize;
  const Memslot* m = find(s, gfn);
  if (m == nullptr) return {};
  const uint64_t page = gfn - m->base_gfn;
  cpu::PhysPage p;
  // SAFETY: userspace_addr..+size was accepted by set() as a user range; the
  // client owns that memory for as long as the slot exists (as with KVM). It
  // may unmap or protect it meanwhile: the engine's access then faults and
  // KVM_RUN's recovery point turns that into EFAULT (base/fault.h).
  p.host = reinterpret_cast<uint8_t*>(m->userspace_addr + page * kPageSize);
  p.writable = !(m->flags & KVM_MEM_READONLY);
  p.dirty_log = m->dirty != nullptr;
  return p;
}

cpu::PhysRange Memslots::lookup_range(uint64_t gpa) const {
  ReadScope scope(*this);
  const Snapshot& s = *current_.load(std::memory_order_seq_cst);
  const uint64_t gfn = gpa / kPageSize;
  auto it = std::upper_bound(s.by_gfn.begin(), s.by_gfn.end(), gfn,
                             [](uint64_t g, const Memslot& m) { return g < m.base_gfn; });
  cpu::PhysRange r;
  if (it != s.by_gfn.begin() && gfn < std::prev(it)->end_gfn()) {
    const Memslot& m = *std::prev(it);
    r.first = m.base_gfn * kPageSize;
    r.last = (m.end_gfn() - 1) * kPageSize;
    // SAFETY: as in lookup(): the client's range accepted by set().
    r.page.host = reinterpret_cast<uint8_t*>(m.userspace_addr);
    r.page.writable = !(m.flags & KVM_MEM_READONLY);
    r.page.dirty_log = m.dirty != nullptr;
    return r;
  }
  // Unbacked: from the end of the slot below to the start of the next one.
  r.first = it == s.by_gfn.begin() ? 0 : std::prev(it)->end_gfn() * kPageSize;
  r.last = it == s.by_gfn.end() ? (~0ull & ~(kPageSize - 1)) : it->base_gfn * kPageSize - kPageSize;
  return r;
}

void Memslots::mark_dirty(uint64_t gpa) const {
  ReadScope scope(*this);
  const Snapshot& s = *current_.load(std::memory_order_seq_cst);
  const uint64_t gfn = gpa / kPageSize;
  const Memslot* m = find(s, gfn);
  if (m != nullptr && m->dirty) m->dirty->set(gfn - m->base_gfn);
}

bool Memslots::contains_host(uintptr_t addr) const {
  ReadScope scope(*this);  // two atomic RMWs: async-signal-safe
  const Snapshot& s = *current_.load(std::memory_order_seq_cst);
  for (const Memslot& m : s.by_gfn) {
    if (addr >= m.userspace_addr && addr - m.userspace_addr < m.npages * kPageSize) return true;
  }
  return false;
}

std::vector<Memslot> Memslots::slots() const {
  ReadScope scope(*this);
  return current_.load(std::memory_order_seq_cst)->by_gfn;
}

}  // namespace skvm::kvm
