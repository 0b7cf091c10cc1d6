#include "kvm/system.h"

#include <linux/kvm.h>
#include <unistd.h>

#include <algorithm>

#include "cpu/state/msrs.h"
#include "kvm/limits.h"

namespace skvm::kvm {

namespace {

long online_cpus() {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n;
}

}  // namespace

System::System(const base::Clock& clock) : clock_(clock) {
  // The engine's one MSR table (Cpu::get_msr/set_msr accept exactly these).
  const auto supported = cpu::supported_msrs();
  msrs_.assign(supported.begin(), supported.end());
}

System& System::instance() {
  static System system(base::real_clock());
  return system;
}

bool System::get_feature_msr(uint32_t index, uint64_t* value) const {
  (void)index;
  (void)value;
  return false;
}

// kvm_main.c: kvm_vm_ioctl_check_extension_generic; x86.c:
// kvm_vm_ioctl_check_extension. Only what softkvm implements and tests.
long System::check_extension(long cap) const {
  switch (cap) {
    case KVM_CAP_USER_MEMORY:
    case KVM_CAP_SET_TSS_ADDR:
    case KVM_CAP_EXT_CPUID:
    case KVM_CAP_DESTROY_MEMORY_REGION_WORKS:
    case KVM_CAP_JOIN_MEMORY_REGIONS_WORKS:
    case KVM_CAP_SET_IDENTITY_MAP_ADDR:
    case KVM_CAP_READONLY_MEM:
    case KVM_CAP_IMMEDIATE_EXIT:
    case KVM_CAP_GET_MSR_FEATURES:
    case KVM_CAP_INTERNAL_ERROR_DATA:
    case KVM_CAP_SYNC_MMU:
    case KVM_CAP_MP_STATE:
    case KVM_CAP_CHECK_EXTENSION_VM:
    case KVM_CAP_GET_TSC_KHZ:
      return 1;
    case KVM_CAP_NR_VCPUS:
      return std::min<long>(online_cpus(), kMaxVcpus);
    case KVM_CAP_MAX_VCPUS:
      return kMaxVcpus;
    case KVM_CAP_MAX_VCPU_ID:
      return kMaxVcpuIds;
    case KVM_CAP_NR_MEMSLOTS:
      return kUserMemSlots;
    // KVM_CAP_MULTI_ADDRESS_SPACE: no SMM, one address space; like a host
    // KVM built without SMM the capability is absent (0).
    default:
      return 0;
  }
}

}  // namespace skvm::kvm
