// VM fd ioctls (kvm_main.c: kvm_vm_ioctl; x86.c: kvm_arch_vm_ioctl).
#include <linux/kvm.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "abi/ioctl.h"
#include "abi/user_args.h"
#include "kvm/vcpu.h"
#include "kvm/vm.h"

namespace skvm::abi {

namespace {

// api.rst: KVM_CREATE_VCPU.
int create_vcpu(FdTable& table, Handle& h, unsigned long id) {
  kvm::Vcpu* vcpu = nullptr;
  int fd = -1;
  int r = h.vm->create_vcpu(id, &vcpu, &fd);
  if (r < 0) return r;
  auto vh = std::make_shared<Handle>();
  vh->kind = Kind::kVcpu;
  vh->system = h.system;
  vh->vm = h.vm;
  vh->vcpu = vcpu;
  return install_new(table, "kvm-vcpu", std::move(vh), fd);
}

// api.rst: KVM_GET_DIRTY_LOG.
int get_dirty_log(kvm::Vm& vm, unsigned long arg) {
  kvm_dirty_log log{};
  if (!read_arg(arg, &log)) return -EFAULT;
  std::vector<uint64_t> bits;
  int r = vm.memslots().get_dirty_log(log.slot, &bits);
  if (r < 0) return r;
  if (!base::copy_to_user(log.dirty_bitmap, bits.data(), bits.size() * sizeof(uint64_t))) return -EFAULT;
  return 0;
}

}  // namespace

int vm_ioctl(FdTable& table, Handle& h, unsigned long request, unsigned long arg) {
  kvm::Vm& vm = *h.vm;
  switch (request) {
    case KVM_CREATE_VCPU:
      return create_vcpu(table, h, arg);
    case KVM_SET_USER_MEMORY_REGION: {  // api.rst: KVM_SET_USER_MEMORY_REGION
      kvm_userspace_memory_region mem{};
      if (!read_arg(arg, &mem)) return -EFAULT;
      return vm.memslots().set(mem);
    }
    case KVM_GET_DIRTY_LOG:
      return get_dirty_log(vm, arg);
    case KVM_CHECK_EXTENSION:  // api.rst: KVM_CHECK_EXTENSION on a VM fd
      return static_cast<int>(vm.system().check_extension(static_cast<long>(arg)));
    case KVM_SET_TSS_ADDR:  // api.rst: KVM_SET_TSS_ADDR
      return vm.set_tss_addr(arg);
    case KVM_SET_IDENTITY_MAP_ADDR: {  // api.rst: KVM_SET_IDENTITY_MAP_ADDR
      // x86.c: EINVAL (vCPUs exist) is checked before the copy.
      if (vm.vcpu_count() != 0) return -EINVAL;
      uint64_t addr = 0;
      if (!read_arg(arg, &addr)) return -EFAULT;
      return vm.set_identity_map_addr(addr);
    }
    case KVM_ENABLE_CAP: {  // api.rst: KVM_ENABLE_CAP (VM)
      // kvm_vm_ioctl_enable_cap(_generic): no VM capability can be enabled
      // in softkvm yet, and flags must be 0: every request is EINVAL.
      kvm_enable_cap cap{};
      if (!read_arg(arg, &cap)) return -EFAULT;
      return -EINVAL;
    }
    default:
      return -ENOTTY;  // kvm_arch_vm_ioctl: unknown request
  }
}

}  // namespace skvm::abi
