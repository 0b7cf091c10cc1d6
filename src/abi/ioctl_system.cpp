// System fd ioctls (kvm_main.c: kvm_dev_ioctl; x86.c: kvm_arch_dev_ioctl).
#include <linux/kvm.h>

#include <cerrno>
#include <cstddef>
#include <vector>

#include "abi/ioctl.h"
#include "abi/kvm_abi.h"
#include "abi/msr_io.h"
#include "abi/user_args.h"
#include "kvm/cpuid.h"
#include "kvm/limits.h"
#include "kvm/system.h"
#include "kvm/vm.h"

namespace skvm::abi {

namespace {

// api.rst: KVM_CREATE_VM. Only type 0 (KVM_X86_DEFAULT_VM).
int create_vm(FdTable& table, kvm::System& system, unsigned long type) {
  if (type != 0) return -EINVAL;
  auto h = std::make_shared<Handle>();
  h->kind = Kind::kVm;
  h->system = &system;
  h->vm = std::make_shared<kvm::Vm>(system);
  return install_new(table, "kvm-vm", std::move(h));
}

// api.rst: KVM_GET_MSR_INDEX_LIST / KVM_GET_MSR_FEATURE_INDEX_LIST. x86.c:
// nmsrs is written back before the E2BIG check.
int msr_list(unsigned long arg, const std::vector<uint32_t>& list) {
  uint32_t room = 0;  // kvm_msr_list.nmsrs (C layout: see kvm_abi.h)
  if (!read_arg(arg, &room)) return -EFAULT;
  const uint32_t count = static_cast<uint32_t>(list.size());
  if (!write_arg(arg, count)) return -EFAULT;
  if (room < count) return -E2BIG;
  if (!write_bytes(arg, kMsrListHeader, list.data(), list.size() * sizeof(uint32_t)))
    return -EFAULT;
  return 0;
}

// api.rst: KVM_GET_SUPPORTED_CPUID / KVM_GET_EMULATED_CPUID. cpuid.c:
// kvm_dev_ioctl_get_cpuid (nent < 1 or too small: E2BIG, nent untouched;
// nent is written back only on success).
int get_cpuid(unsigned long arg, const std::vector<kvm_cpuid_entry2>& entries) {
  uint32_t nent = 0;  // kvm_cpuid2.nent (C layout: see kvm_abi.h)
  if (!read_arg(arg, &nent)) return -EFAULT;
  if (nent < 1) return -E2BIG;
  if (nent > kvm::kMaxCpuidEntries) nent = kvm::kMaxCpuidEntries;
  if (entries.size() > nent) return -E2BIG;
  if (!write_bytes(arg, kCpuid2Header, entries.data(), entries.size() * sizeof(kvm_cpuid_entry2)))
    return -EFAULT;
  nent = static_cast<uint32_t>(entries.size());
  if (!write_arg(arg, nent)) return -EFAULT;
  return 0;
}

}  // namespace

int system_ioctl(FdTable& table, Handle& h, unsigned long request, unsigned long arg) {
  kvm::System& system = *h.system;
  switch (request) {
    case KVM_GET_API_VERSION:  // api.rst: KVM_GET_API_VERSION
      return arg != 0 ? -EINVAL : kvm::kApiVersion;
    case KVM_CREATE_VM:
      return create_vm(table, system, arg);
    case KVM_CHECK_EXTENSION:  // api.rst: KVM_CHECK_EXTENSION
      return static_cast<int>(system.check_extension(static_cast<long>(arg)));
    case KVM_GET_VCPU_MMAP_SIZE:  // api.rst: KVM_GET_VCPU_MMAP_SIZE
      return arg != 0 ? -EINVAL : static_cast<int>(kvm::kVcpuMmapSize);
    case kGetMsrIndexList:  // KVM_GET_MSR_INDEX_LIST
      return msr_list(arg, system.msr_index_list());
    case kGetMsrFeatureIndexList:  // KVM_GET_MSR_FEATURE_INDEX_LIST
      return msr_list(arg, system.feature_msr_index_list());
    case kGetMsrs:  // api.rst: KVM_GET_MSRS on the system fd (feature MSRs)
      return msr_io(arg, true, [&](kvm_msr_entry& e) {
        uint64_t v = 0;
        bool ok = system.get_feature_msr(e.index, &v);
        e.data = v;
        return ok;
      });
    case kGetSupportedCpuid:  // KVM_GET_SUPPORTED_CPUID
      return get_cpuid(arg, kvm::supported_cpuid());
    case kGetEmulatedCpuid: {  // KVM_GET_EMULATED_CPUID
      static const std::vector<kvm_cpuid_entry2> kNone;  // softkvm emulates nothing extra
      return get_cpuid(arg, kNone);
    }
    default:
      return -EINVAL;  // kvm_arch_dev_ioctl: unknown request
  }
}

}  // namespace skvm::abi
