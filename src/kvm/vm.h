// A KVM VM (the fd KVM_CREATE_VM returns): memslots, vCPUs, TSS and
// identity-map addresses. Kept alive by its fd and by each vCPU fd (the ABI
// layer holds shared_ptr<Vm> in both kinds of handle); it owns its vCPUs,
// which live until the VM dies, as in KVM.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "base/mutex.h"
#include "kvm/memslots.h"
#include "kvm/system.h"

namespace skvm::kvm {

class Vcpu;

class Vm {
 public:
  explicit Vm(const System& system);
  ~Vm();
  Vm(const Vm&) = delete;
  Vm& operator=(const Vm&) = delete;

  const System& system() const { return system_; }
  Memslots& memslots() { return memslots_; }

  // api.rst: KVM_CREATE_VCPU. On success *vcpu is the new vCPU (owned by the
  // VM) and *fd its new O_CLOEXEC fd (a memfd holding the kvm_run pages), to
  // be owned by the caller. Returns 0 or -errno (EINVAL for an id >=
  // KVM_MAX_VCPU_IDS or beyond KVM_MAX_VCPUS vCPUs, EEXIST for a duplicate).
  int create_vcpu(unsigned long id, Vcpu** vcpu, int* fd);

  // api.rst: KVM_SET_TSS_ADDR (vmx.c: vmx_set_tss_addr, 3 pages below 4 GiB).
  int set_tss_addr(unsigned long addr);
  // api.rst: KVM_SET_IDENTITY_MAP_ADDR (EINVAL once a vCPU exists).
  int set_identity_map_addr(uint64_t addr);

  uint64_t tss_addr() const;
  uint64_t identity_map_addr() const;
  size_t vcpu_count() const;

 private:
  const System& system_;
  Memslots memslots_;
  mutable base::Mutex mu_;
  std::vector<std::unique_ptr<Vcpu>> vcpus_ SKVM_GUARDED_BY(mu_);
  uint64_t tss_addr_ SKVM_GUARDED_BY(mu_) = 0;
  uint64_t identity_map_addr_ SKVM_GUARDED_BY(mu_) = 0xfffbc000;  // KVM's default
};

}  // namespace skvm::kvm
