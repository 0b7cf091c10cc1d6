// One ABI case's world: a Vm (system + VM fds) on one backend, a lazily
// created vCPU 0, zeroed argument buffers and host memory kept alive for
// the duration of the case. Setup steps that fail are recorded in the
// case's Verdict (a row whose setup breaks is a failing row).
#pragma once

#include "kvm_abi.h"
#include <sys/mman.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "backend.h"
#include "verdict.h"
#include "vm.h"

namespace skvm::test {

// The integer an ioctl argument or a userspace_addr field carries for host
// memory `p`.
inline unsigned long addr(const void* p) {
  // SAFETY: pointer-to-integer conversion only; nothing is dereferenced.
  return reinterpret_cast<unsigned long>(p);
}

class AbiContext {
 public:
  AbiContext(const Backend& backend, Verdict& verdict);
  ~AbiContext();
  AbiContext(const AbiContext&) = delete;
  AbiContext& operator=(const AbiContext&) = delete;

  Vm& vm() { return vm_; }
  Verdict& verdict() { return verdict_; }
  const Backend& backend() const { return vm_.backend(); }

  // vCPU 0, created on first use (null, with the reason recorded, on failure).
  Vcpu* vcpu();

  // `size` zeroed bytes that live as long as the context.
  uint8_t* bytes(size_t size);
  template <class T>
  T* make(size_t extra = 0) {
    // SAFETY: bytes() returns zeroed, max-aligned storage of the requested
    // size; every T used here is a <linux/kvm.h> POD struct.
    return reinterpret_cast<T*>(bytes(sizeof(T) + extra));
  }
  // Page-aligned anonymous host memory of `size` bytes (munmapped at the end).
  uint8_t* host_memory(size_t size);

  // KVM_SET_USER_MEMORY_REGION with fresh host memory; records a failure.
  Result set_region(uint32_t slot, uint64_t gpa, uint64_t size, uint32_t flags,
                    uint64_t uaddr = 0);
  // Records a setup failure when r is not a success.
  void must(const Result& r, const std::string& what);

  // Values a row's setup hands to its argument builder or check (e.g. the
  // host address of a slot it registered).
  uint64_t saved[4] = {};
  // The argument the row's ioctl was called with (for checks that read the
  // struct back).
  unsigned long arg = 0;
  // `arg` as the struct the row's builder made with make<T>().
  template <class T>
  T* arg_as() const {
    // SAFETY: rows that call arg_as<T>() build their argument with make<T>()
    // (or bytes()), so arg is a live, aligned T owned by this context.
    return reinterpret_cast<T*>(arg);
  }

 private:
  Vm vm_;
  Verdict& verdict_;
  std::unique_ptr<Vcpu> vcpu_;
  bool vcpu_tried_ = false;
  std::deque<std::vector<uint64_t>> buffers_;
  std::vector<std::pair<void*, size_t>> maps_;
};

}  // namespace skvm::test
