#include "abi_context.h"

namespace skvm::test {

AbiContext::AbiContext(const Backend& backend, Verdict& verdict)
    : vm_(backend), verdict_(verdict) {
  if (!vm_.error().empty()) verdict_.fail("setup: " + vm_.error());
}

AbiContext::~AbiContext() {
  vcpu_.reset();
  for (auto& [p, n] : maps_) munmap(p, n);
}

Vcpu* AbiContext::vcpu() {
  if (!vcpu_tried_) {
    vcpu_tried_ = true;
    std::string why;
    vcpu_ = vm_.create_vcpu(0, &why);
    if (!vcpu_) verdict_.fail("setup: " + why);
  }
  return vcpu_.get();
}

uint8_t* AbiContext::bytes(size_t size) {
  buffers_.emplace_back((size + 7) / 8, 0);
  // SAFETY: the vector holds at least `size` zeroed bytes, 8-aligned, and
  // lives (deque: stable addresses) as long as the context.
  return reinterpret_cast<uint8_t*>(buffers_.back().data());
}

uint8_t* AbiContext::host_memory(size_t size) {
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    verdict_.fail("setup: mmap failed");
    return nullptr;
  }
  maps_.emplace_back(p, size);
  return static_cast<uint8_t*>(p);
}

Result AbiContext::set_region(uint32_t slot, uint64_t gpa, uint64_t size, uint32_t flags,
                              uint64_t uaddr) {
  if (uaddr == 0) uaddr = addr(host_memory(size ? size : 4096));
  kvm_userspace_memory_region region{};
  region.slot = slot;
  region.flags = flags;
  region.guest_phys_addr = gpa;
  region.memory_size = size;
  region.userspace_addr = uaddr;
  return vm_.vm_ioctl(KVM_SET_USER_MEMORY_REGION, &region);
}

void AbiContext::must(const Result& r, const std::string& what) {
  if (r.ret < 0) verdict_.fail("setup: " + what + ": " + errno_string(r.err));
}

}  // namespace skvm::test
