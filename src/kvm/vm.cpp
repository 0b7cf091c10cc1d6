#include "kvm/vm.h"

#include <unistd.h>

#include <cerrno>

#include "kvm/limits.h"
#include "kvm/vcpu.h"

namespace skvm::kvm {

Vm::Vm(const System& system) : system_(system) {}

Vm::~Vm() = default;

// kvm_main.c: kvm_vm_ioctl_create_vcpu.
int Vm::create_vcpu(unsigned long id, Vcpu** vcpu, int* fd) {
  if (id >= kMaxVcpuIds) return -EINVAL;
  base::MutexLock lock(mu_);
  if (vcpus_.size() >= kMaxVcpus) return -EINVAL;
  for (const auto& v : vcpus_)
    if (v->id() == id) return -EEXIST;
  std::unique_ptr<Vcpu> created;
  int new_fd = -1;
  int r = Vcpu::create(*this, static_cast<uint32_t>(id), &created, &new_fd);
  if (r < 0) return r;
  *vcpu = created.get();
  *fd = new_fd;
  vcpus_.push_back(std::move(created));
  return 0;
}

// vmx.c: vmx_set_tss_addr: the three TSS pages must lie below 4 GiB
// (addr > 0xffffd000 is EINVAL; the host's KVM does not truncate the
// 64-bit argument, and an unaligned address is accepted).
int Vm::set_tss_addr(unsigned long addr) {
  if (addr > (1ull << 32) - 3 * kPageSize) return -EINVAL;
  base::MutexLock lock(mu_);
  tss_addr_ = addr;
  return 0;
}

// x86.c: kvm_arch_vm_ioctl, KVM_SET_IDENTITY_MAP_ADDR.
int Vm::set_identity_map_addr(uint64_t addr) {
  base::MutexLock lock(mu_);
  if (!vcpus_.empty()) return -EINVAL;
  identity_map_addr_ = addr;
  return 0;
}

uint64_t Vm::tss_addr() const {
  base::MutexLock lock(mu_);
  return tss_addr_;
}

uint64_t Vm::identity_map_addr() const {
  base::MutexLock lock(mu_);
  return identity_map_addr_;
}

size_t Vm::vcpu_count() const {
  base::MutexLock lock(mu_);
  return vcpus_.size();
}

}  // namespace skvm::kvm
