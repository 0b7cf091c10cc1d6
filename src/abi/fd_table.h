// fd -> softkvm object. Every handle is a real fd (a memfd); this table says
// which object a fd number stands for. Lookups are lock-free per slot
// (std::atomic<std::shared_ptr>): a flat two-level array indexed by the fd
// number, chunks allocated on first use and never freed. A Handle keeps its
// objects alive (shared_ptr<Vm>) for as long as an ioctl in flight holds it.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <memory>

#include "base/fd.h"

namespace skvm::kvm {
class System;
class Vm;
class Vcpu;
}  // namespace skvm::kvm

namespace skvm::abi {

enum class Kind : uint8_t { kSystem, kVm, kVcpu };

struct Handle {
  Kind kind = Kind::kSystem;
  base::FileId file;               // identity at creation (detects fd reuse)
  pid_t owner = 0;                 // creating process: VM/vCPU ioctls elsewhere are EIO
  kvm::System* system = nullptr;   // every kind
  std::shared_ptr<kvm::Vm> vm;     // kVm, kVcpu
  kvm::Vcpu* vcpu = nullptr;       // kVcpu (owned by *vm)
};

class FdTable {
 public:
  static constexpr int kChunkBits = 10;
  static constexpr int kChunks = 1024;
  static constexpr int kMaxFd = kChunks << kChunkBits;  // 1M, Linux's default nr_open

  FdTable() = default;
  FdTable(const FdTable&) = delete;
  FdTable& operator=(const FdTable&) = delete;
  ~FdTable();

  // Null when fd is not (or no longer) in the table.
  std::shared_ptr<Handle> get(int fd) const;
  // 0, or -EMFILE when fd is beyond kMaxFd.
  int install(int fd, std::shared_ptr<Handle> h);
  // Removes and returns the entry (null if none).
  std::shared_ptr<Handle> remove(int fd);
  // Removes the entry only if it is still `expected` (a stale entry found by
  // a lookup, not a handle installed since under the same number).
  void remove_if(int fd, const std::shared_ptr<Handle>& expected);

  // The process-wide table used by the C ABI (never destroyed: ioctls may
  // race with exit()).
  static FdTable& global();

 private:
  using Slot = std::atomic<std::shared_ptr<Handle>>;
  struct Chunk {
    Slot slots[1 << kChunkBits];
  };
  Chunk* chunk(int fd, bool create);

  std::atomic<Chunk*> chunks_[kChunks] = {};
};

}  // namespace skvm::abi
