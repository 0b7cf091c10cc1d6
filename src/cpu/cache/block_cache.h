// The decoded-block cache: blocks of decoded instructions keyed by the
// guest-physical address of their first byte and the code size they were
// decoded for. Everything lives in arenas reserved once per Cpu; when one
// fills up the whole cache is flushed (no allocation on the hot path).
// The arenas are anonymous MAP_NORESERVE mappings: constructing a cache
// touches no memory (the kernel hands out zero pages as the cache fills),
// so creating a vCPU costs a few system calls, not megabytes of stores.
// Every arena's all-zero state is its empty state.
//
// Self-modifying code: every page a block was decoded from is a "code page"
// (tlb_protect_code drops its writable TLB entries, so guest writes reach
// code_page_written, which invalidates the page's blocks). Host writes
// between runs are caught by an epoch: a block validated before the last
// host_may_have_written_memory() compares its saved raw bytes with memory
// before it runs again.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cpu/decode/insn.h"

namespace skvm::cpu {

// Insn::attrs_end bit (the decoder uses bits 0-1) on the last record of
// each block: the run loop needs no end pointer. invalidate_page() sets it
// on every record of the blocks it drops, so a block whose code its own
// instruction just wrote ends after that instruction (SMC) at no cost to
// the loop.
inline constexpr uint8_t kInsnLastInBlock = 0x80;

struct Block {
  uint64_t key = 0;        // gpa of the first byte | code size << 60
  uint64_t gpa2 = ~0ull;   // page of the bytes past the first page (~0: none)
  Block* hash_next = nullptr;
  Block* page_next[2] = {nullptr, nullptr};  // per code page lists (page 1, page 2)
  const Insn* insns = nullptr;
  uint32_t n_insns = 0;
  uint32_t raw_len = 0;
  const uint8_t* raw = nullptr;  // the bytes decoded (for host-write revalidation)
  // A block continued across a direct JMP / CALL (64-bit code, one page):
  // raw holds raw1_len bytes from the block's start, then the rest from page
  // offset seg2_off of the same linear page. Otherwise raw1_len == raw_len.
  uint32_t raw1_len = 0;
  uint16_t seg2_off = 0;
  uint64_t epoch = 0;            // host-write epoch at the last validation
  // Chained successors: valid while chain_epoch matches the cache's.
  uint64_t chain_epoch = 0;
  uint64_t succ_rip[2] = {~0ull, ~0ull};
  Block* succ[2] = {nullptr, nullptr};
  uint8_t succ_next = 0;
  bool valid = false;
  // The last record may set RFLAGS.TF, DR7 or an interrupt shadow (POPF,
  // STI, MOV DR, system rows): the run loop re-checks those before
  // following a chained successor (exec::may_arm_checks).
  bool exit_checks = true;
};

class BlockCache {
 public:
  static constexpr unsigned kMaxBlocks = 8192;
  static constexpr unsigned kMaxInsns = 65536;
  static constexpr unsigned kMaxRaw = 512 * 1024;
  static constexpr unsigned kHashBuckets = 16384;
  static constexpr unsigned kPageSlots = 4096;  // power of two
  static constexpr unsigned kMaxBlockInsns = 64;

  BlockCache();
  ~BlockCache();
  BlockCache(const BlockCache&) = delete;
  BlockCache& operator=(const BlockCache&) = delete;

  static uint64_t make_key(uint64_t gpa, unsigned code_size) {
    return gpa | (static_cast<uint64_t>(code_size) << 60);
  }
  Block* find(uint64_t key) const {
    for (Block* b = buckets_[hash(key)]; b; b = b->hash_next)
      if (b->key == key) return b;
    return nullptr;
  }

  // Building: room for a block of up to kMaxBlockInsns instructions?
  // Returns false when the arenas are too full (caller flushes).
  bool has_room() const {
    return n_blocks_ < kMaxBlocks && n_insns_ + kMaxBlockInsns <= kMaxInsns &&
           n_raw_ + kMaxBlockInsns * 15 <= kMaxRaw && n_pages_ * 4 < kPageSlots * 3;
  }
  Insn* insn_space() { return &insns_[n_insns_]; }
  uint8_t* raw_space() { return &raw_[n_raw_]; }
  // Commits a block whose instructions and raw bytes were written at
  // insn_space()/raw_space(). Returns the pages that became code pages
  // (the caller protects them) through new_page[2].
  Block* commit(uint64_t key, uint64_t gpa2, uint32_t n_insns, uint32_t raw_len, uint64_t epoch,
                bool new_page[2]);

  bool is_code_page(uint64_t gpa_page) const;
  // Invalidates every block decoded from gpa_page. Returns true if any.
  bool invalidate_page(uint64_t gpa_page);
  void flush();

  // Bumped whenever chained successor links may be stale.
  uint64_t chain_epoch() const { return chain_epoch_; }
  void bump_chain_epoch() { ++chain_epoch_; }
  uint64_t flushes() const { return flushes_; }

 private:
  struct PageSlot {
    uint64_t tag = 0;       // gpa_page | 1 (pages are aligned); 0: empty
    Block* head = nullptr;  // nullptr: not (or no longer) a code page
  };
  static unsigned hash(uint64_t key) {
    return static_cast<unsigned>((key * 0x9E3779B97F4A7C15ull) >> 50) & (kHashBuckets - 1);
  }
  PageSlot* page_slot(uint64_t gpa_page, bool insert);
  const PageSlot* page_slot(uint64_t gpa_page) const;
  void unlink_hash(Block* b);

  // One mapping holds all five arenas (offsets below); zero-filled.
  static constexpr size_t kBlocksOff = 0;
  static constexpr size_t kInsnsOff = kBlocksOff + sizeof(Block) * kMaxBlocks;
  static constexpr size_t kBucketsOff = kInsnsOff + sizeof(Insn) * kMaxInsns;
  static constexpr size_t kPagesOff = kBucketsOff + sizeof(Block*) * kHashBuckets;
  static constexpr size_t kRawOff = kPagesOff + sizeof(PageSlot) * kPageSlots;
  static constexpr size_t kMapBytes = kRawOff + kMaxRaw;
  static_assert(kInsnsOff % alignof(Insn) == 0 && kBucketsOff % alignof(Block*) == 0 &&
                kPagesOff % alignof(PageSlot) == 0);

  void* map_ = nullptr;
  Block* blocks_ = nullptr;
  Insn* insns_ = nullptr;
  uint8_t* raw_ = nullptr;
  Block** buckets_ = nullptr;
  PageSlot* pages_ = nullptr;
  unsigned n_blocks_ = 0, n_insns_ = 0, n_raw_ = 0, n_pages_ = 0;
  uint64_t chain_epoch_ = 1;
  uint64_t flushes_ = 0;
};

}  // namespace skvm::cpu
