#include "cpu/cache/block_cache.h"

#include <sys/mman.h>

#include <new>

#include "cpu/bus.h"

namespace skvm::cpu {

BlockCache::BlockCache() {
  // Lazily backed zero pages (mmap(2): MAP_ANONYMOUS contents are zero;
  // MAP_NORESERVE: no swap reservation for the part never touched).
  map_ = mmap(nullptr, kMapBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (map_ == MAP_FAILED) throw std::bad_alloc();
  auto* base = static_cast<uint8_t*>(map_);
  // SAFETY: the mapping is kMapBytes long and page aligned; the offsets are
  // aligned for each type (static_assert in the header). All five element
  // types are implicit-lifetime aggregates whose all-zero bytes are the
  // empty state (null pointers, PageSlot tag 0); Blocks are constructed in
  // commit(), Insns assigned whole by the decoder before they are read.
  blocks_ = reinterpret_cast<Block*>(base + kBlocksOff);
  insns_ = reinterpret_cast<Insn*>(base + kInsnsOff);
  buckets_ = reinterpret_cast<Block**>(base + kBucketsOff);
  pages_ = reinterpret_cast<PageSlot*>(base + kPagesOff);
  raw_ = base + kRawOff;
}

BlockCache::~BlockCache() { munmap(map_, kMapBytes); }

void BlockCache::flush() {
  for (unsigned i = 0; i < kHashBuckets; ++i) buckets_[i] = nullptr;
  for (unsigned i = 0; i < kPageSlots; ++i) pages_[i] = PageSlot{};
  for (unsigned i = 0; i < n_blocks_; ++i) blocks_[i].valid = false;
  n_blocks_ = n_insns_ = n_raw_ = n_pages_ = 0;
  ++chain_epoch_;
  ++flushes_;
}

BlockCache::PageSlot* BlockCache::page_slot(uint64_t gpa_page, bool insert) {
  unsigned h = static_cast<unsigned>((gpa_page >> 12) * 0x9E3779B1u) & (kPageSlots - 1);
  for (unsigned probe = 0; probe < kPageSlots; ++probe, h = (h + 1) & (kPageSlots - 1)) {
    PageSlot& s = pages_[h];
    if (s.tag == (gpa_page | 1)) return &s;
    if (s.tag == 0) {
      if (!insert) return nullptr;
      s.tag = gpa_page | 1;
      ++n_pages_;
      return &s;
    }
  }
  return nullptr;
}
const BlockCache::PageSlot* BlockCache::page_slot(uint64_t gpa_page) const {
  return const_cast<BlockCache*>(this)->page_slot(gpa_page, false);
}

bool BlockCache::is_code_page(uint64_t gpa_page) const {
  const PageSlot* s = page_slot(gpa_page & kPageMask);
  return s && s->head;
}

Block* BlockCache::commit(uint64_t key, uint64_t gpa2, uint32_t n_insns, uint32_t raw_len, uint64_t epoch,
                          bool new_page[2]) {
  Block* b = new (&blocks_[n_blocks_++]) Block{};
  b->key = key;
  b->gpa2 = gpa2;
  b->insns = &insns_[n_insns_];
  b->n_insns = n_insns;
  b->raw = &raw_[n_raw_];
  b->raw_len = raw_len;
  b->raw1_len = raw_len;
  b->epoch = epoch;
  b->valid = true;
  n_insns_ += n_insns;
  n_raw_ += raw_len;
  unsigned h = hash(key);
  b->hash_next = buckets_[h];
  buckets_[h] = b;
  uint64_t pages[2] = {(key & ~(0xfull << 60)) & kPageMask, gpa2};
  for (int k = 0; k < 2; ++k) {
    new_page[k] = false;
    if (pages[k] == ~0ull) continue;
    PageSlot* s = page_slot(pages[k], true);
    new_page[k] = s->head == nullptr;
    b->page_next[k] = s->head;
    s->head = b;
  }
  return b;
}

void BlockCache::unlink_hash(Block* b) {
  Block** p = &buckets_[hash(b->key)];
  while (*p && *p != b) p = &(*p)->hash_next;
  if (*p) *p = b->hash_next;
  b->hash_next = nullptr;
}

bool BlockCache::invalidate_page(uint64_t gpa_page) {
  PageSlot* s = page_slot(gpa_page & kPageMask, false);
  if (!s || !s->head) return false;
  Block* b = s->head;
  s->head = nullptr;
  while (b) {
    // A block spanning two pages is listed on both: follow this page's link.
    bool first = ((b->key & ~(0xfull << 60)) & kPageMask) == (gpa_page & kPageMask);
    Block* next = first ? b->page_next[0] : b->page_next[1];
    if (b->valid) {
      b->valid = false;
      unlink_hash(b);
      // The block may be running (its own instruction wrote the page): it
      // ends after that instruction. Records live in insns_ (writable).
      Insn* rec = insns_ + (b->insns - insns_);
      for (uint32_t k = 0; k < b->n_insns; ++k) rec[k].attrs_end |= kInsnLastInBlock;
    }
    b = next;
  }
  // Links into invalidated blocks must not be followed.
  ++chain_epoch_;
  return true;
}

}  // namespace skvm::cpu
