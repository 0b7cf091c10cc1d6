#include "abi/fd_table.h"

#include <cerrno>

namespace skvm::abi {

FdTable::~FdTable() {
  for (auto& c : chunks_) delete c.load(std::memory_order_acquire);
}

FdTable& FdTable::global() {
  static FdTable* table = new FdTable();  // intentionally leaked, see header
  return *table;
}

FdTable::Chunk* FdTable::chunk(int fd, bool create) {
  if (fd < 0 || fd >= kMaxFd) return nullptr;
  std::atomic<Chunk*>& slot = chunks_[fd >> kChunkBits];
  Chunk* c = slot.load(std::memory_order_acquire);
  if (c != nullptr || !create) return c;
  auto* fresh = new Chunk();
  if (slot.compare_exchange_strong(c, fresh, std::memory_order_acq_rel)) return fresh;
  delete fresh;  // another thread won; c holds its chunk
  return c;
}

std::shared_ptr<Handle> FdTable::get(int fd) const {
  if (fd < 0 || fd >= kMaxFd) return nullptr;
  Chunk* c = chunks_[fd >> kChunkBits].load(std::memory_order_acquire);
  if (c == nullptr) return nullptr;
  return c->slots[fd & ((1 << kChunkBits) - 1)].load(std::memory_order_acquire);
}

int FdTable::install(int fd, std::shared_ptr<Handle> h) {
  Chunk* c = chunk(fd, true);
  if (c == nullptr) return -EMFILE;
  c->slots[fd & ((1 << kChunkBits) - 1)].store(std::move(h), std::memory_order_release);
  return 0;
}

std::shared_ptr<Handle> FdTable::remove(int fd) {
  Chunk* c = chunk(fd, false);
  if (c == nullptr) return nullptr;
  return c->slots[fd & ((1 << kChunkBits) - 1)].exchange(nullptr, std::memory_order_acq_rel);
}

void FdTable::remove_if(int fd, const std::shared_ptr<Handle>& expected) {
  Chunk* c = chunk(fd, false);
  if (c == nullptr) return;
  std::shared_ptr<Handle> e = expected;
  c->slots[fd & ((1 << kChunkBits) - 1)].compare_exchange_strong(e, nullptr, std::memory_order_acq_rel);
}

}  // namespace skvm::abi
