// Rows for the system fd, the VM fd (except memslots) and for fds that are
// not KVM fds at all.
// api.rst 4.1 (KVM_GET_API_VERSION) .. 4.8; errno values from
// virt/kvm/kvm_main.c and arch/x86/kvm/x86.c, confirmed on the host.
#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include "abi_row.h"

namespace skvm::test {
namespace {

constexpr unsigned long kBogusRequest = _IO(KVMIO, 0xfe);
constexpr uint32_t kSysenterCs = 0x174;


// Closes the fd a successful create returned so the case leaks nothing.
auto close_returned_fd() {
  return [](AbiContext& c, Verdict&, int ret) {
    if (ret >= 0) c.backend().close(ret);
  };
}

kvm_msr_list* msr_list(AbiContext& c, uint32_t n) {
  auto* l = c.make<kvm_msr_list>(n * sizeof(uint32_t));
  l->nmsrs = n;
  return l;
}

kvm_cpuid2* cpuid_buffer(AbiContext& c, uint32_t n, uint32_t room) {
  auto* l = c.make<kvm_cpuid2>(room * sizeof(kvm_cpuid_entry2));
  l->nent = n;
  return l;
}

}  // namespace

std::vector<AbiRow> system_rows() {
  return {
      {"GetApiVersionReturns12", FdKind::kSystem, KVM_GET_API_VERSION, nullptr, 12, 0},
      {"GetApiVersionNonZeroArgIsEINVAL", FdKind::kSystem, KVM_GET_API_VERSION,
       [](AbiContext&) { return 1UL; }, -1, EINVAL},
      {"CreateVmType0ReturnsFd", FdKind::kSystem, KVM_CREATE_VM, nullptr, kAnyFd, 0,
       close_returned_fd()},
      {"CreateVmBadTypeIsEINVAL", FdKind::kSystem, KVM_CREATE_VM,
       [](AbiContext&) { return 0x7fUL; }, -1, EINVAL},
      {"CheckExtensionUserMemoryIs1", FdKind::kSystem, KVM_CHECK_EXTENSION,
       [](AbiContext&) { return static_cast<unsigned long>(KVM_CAP_USER_MEMORY); }, 1, 0},
      {"CheckExtensionReadonlyMemIs1", FdKind::kSystem, KVM_CHECK_EXTENSION,
       [](AbiContext&) { return static_cast<unsigned long>(KVM_CAP_READONLY_MEM); }, 1, 0},
      {"CheckExtensionImmediateExitIs1", FdKind::kSystem, KVM_CHECK_EXTENSION,
       [](AbiContext&) { return static_cast<unsigned long>(KVM_CAP_IMMEDIATE_EXIT); }, 1, 0},
      // x86 KVM_USER_MEM_SLOTS (arch/x86/include/asm/kvm_host.h).
      {"CheckExtensionNrMemslotsIs32764", FdKind::kSystem, KVM_CHECK_EXTENSION,
       [](AbiContext&) { return static_cast<unsigned long>(KVM_CAP_NR_MEMSLOTS); }, 32764, 0},
      {"CheckExtensionXsaveIs1", FdKind::kSystem, KVM_CHECK_EXTENSION,
       [](AbiContext&) { return static_cast<unsigned long>(KVM_CAP_XSAVE); }, 1, 0},
      {"CheckExtensionXcrsIs1", FdKind::kSystem, KVM_CHECK_EXTENSION,
       [](AbiContext&) { return static_cast<unsigned long>(KVM_CAP_XCRS); }, 1, 0},
      // x86.c: max(xstate_required_size(supported xcr0), sizeof(kvm_xsave)).
      {"CheckExtensionXsave2Is4096", FdKind::kSystem, KVM_CHECK_EXTENSION,
       [](AbiContext&) { return static_cast<unsigned long>(KVM_CAP_XSAVE2); }, 4096, 0},
      {"CheckExtensionUnknownCapIs0", FdKind::kSystem, KVM_CHECK_EXTENSION,
       [](AbiContext&) { return 0x7fffffffUL; }, 0, 0},
      {"GetVcpuMmapSizeIsThreePages", FdKind::kSystem, KVM_GET_VCPU_MMAP_SIZE, nullptr,
       3 * 4096, 0},
      {"GetVcpuMmapSizeNonZeroArgIsEINVAL", FdKind::kSystem, KVM_GET_VCPU_MMAP_SIZE,
       [](AbiContext&) { return 1UL; }, -1, EINVAL},
      {"GetMsrIndexListTooSmallIsE2BIGWithCountUpdated", FdKind::kSystem,
       KVM_GET_MSR_INDEX_LIST, [](AbiContext& c) { return addr(msr_list(c, 0)); }, -1, E2BIG,
       [](AbiContext& c, Verdict& v, int) {
         auto* l = c.arg_as<kvm_msr_list>();
         if (l->nmsrs == 0) v.fail("nmsrs not updated to the needed count on E2BIG");
       }},
      {"GetMsrIndexListLargeEnoughSucceedsAndListsSysenterCs", FdKind::kSystem,
       KVM_GET_MSR_INDEX_LIST, [](AbiContext& c) { return addr(msr_list(c, 1024)); }, 0, 0,
       [](AbiContext& c, Verdict& v, int) {
         auto* l = c.arg_as<kvm_msr_list>();
         if (l->nmsrs == 0 || l->nmsrs >= 1024) v.fail("nmsrs not set to the list length");
         bool found = false;
         for (uint32_t i = 0; i < l->nmsrs && i < 1024; ++i) found |= l->indices[i] == kSysenterCs;
         if (!found) v.fail("MSR_IA32_SYSENTER_CS missing from the list");
       }},
      {"GetMsrIndexListBadPointerIsEFAULT", FdKind::kSystem, KVM_GET_MSR_INDEX_LIST,
       [](AbiContext&) { return 8UL; }, -1, EFAULT},
      {"GetSupportedCpuidNent0IsE2BIG", FdKind::kSystem, KVM_GET_SUPPORTED_CPUID,
       [](AbiContext& c) { return addr(cpuid_buffer(c, 0, 1)); }, -1, E2BIG},
      {"GetSupportedCpuidNent1IsE2BIGNentUnchanged", FdKind::kSystem, KVM_GET_SUPPORTED_CPUID,
       [](AbiContext& c) { return addr(cpuid_buffer(c, 1, 1)); }, -1, E2BIG,
       [](AbiContext& c, Verdict& v, int) {
         v.expect_eq(c.arg_as<kvm_cpuid2>()->nent, 1u, "nent");
       }},
      {"GetSupportedCpuidHugeNentSucceedsWithNentUpdated", FdKind::kSystem,
       KVM_GET_SUPPORTED_CPUID, [](AbiContext& c) { return addr(cpuid_buffer(c, 100000, 256)); },
       0, 0,
       [](AbiContext& c, Verdict& v, int) {
         auto* l = c.arg_as<kvm_cpuid2>();
         if (l->nent < 2 || l->nent > 256) v.fail("nent " + std::to_string(l->nent));
         else v.expect_eq(l->entries[0].function, 0u, "first entry's leaf");
       }},
      {"GetSupportedCpuidBadPointerIsEFAULT", FdKind::kSystem, KVM_GET_SUPPORTED_CPUID,
       [](AbiContext&) { return 8UL; }, -1, EFAULT},
      {"CreateVcpuOnSystemFdIsEINVAL", FdKind::kSystem, KVM_CREATE_VCPU, nullptr, -1, EINVAL},
      {"RunOnSystemFdIsEINVAL", FdKind::kSystem, KVM_RUN, nullptr, -1, EINVAL},
      {"SetUserMemoryRegionOnSystemFdIsEINVAL", FdKind::kSystem, KVM_SET_USER_MEMORY_REGION,
       [](AbiContext& c) { return addr(c.make<kvm_userspace_memory_region>()); }, -1, EINVAL},
      {"BogusRequestOnSystemFdIsEINVAL", FdKind::kSystem, kBogusRequest, nullptr, -1, EINVAL},
      {"IoctlOnClosedFdIsEBADF", FdKind::kClosed, KVM_GET_API_VERSION, nullptr, -1, EBADF},
      {"IoctlOnPipeIsENOTTY", FdKind::kPipe, KVM_GET_API_VERSION, nullptr, -1, ENOTTY},
  };
}

std::vector<AbiRow> vm_rows() {
  return {
      {"CreateVcpuId0ReturnsFd", FdKind::kVm, KVM_CREATE_VCPU, nullptr, kAnyFd, 0,
       close_returned_fd()},
      {"CreateVcpuDuplicateIdIsEEXIST", FdKind::kVm, KVM_CREATE_VCPU, nullptr, -1, EEXIST,
       nullptr, [](AbiContext& c) { c.vcpu(); }},
      {"CreateVcpuIdAtMaxVcpuIdIsEINVAL", FdKind::kVm, KVM_CREATE_VCPU,
       [](AbiContext& c) {
         Result r = c.vm().sys_ioctl(KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPU_ID);
         c.must(r, "KVM_CHECK_EXTENSION(KVM_CAP_MAX_VCPU_ID)");
         return static_cast<unsigned long>(r.ret);
       },
       -1, EINVAL},
      {"CreateVcpuHugeIdIsEINVAL", FdKind::kVm, KVM_CREATE_VCPU,
       [](AbiContext&) { return 0xffffffffUL; }, -1, EINVAL},
      {"CheckExtensionOnVmFdUserMemoryIs1", FdKind::kVm, KVM_CHECK_EXTENSION,
       [](AbiContext&) { return static_cast<unsigned long>(KVM_CAP_USER_MEMORY); }, 1, 0},
      {"SetTssAddrSucceeds", FdKind::kVm, KVM_SET_TSS_ADDR,
       [](AbiContext&) { return 0xfffbd000UL; }, 0, 0},
      // vmx.c:vmx_set_tss_addr (the three TSS pages must fit below 4 GiB).
      {"SetTssAddrAboveFourGigMinusThreePagesIsEINVAL", FdKind::kVm, KVM_SET_TSS_ADDR,
       [](AbiContext&) { return 0xfffff000UL; }, -1, EINVAL},
      {"SetIdentityMapAddrSucceeds", FdKind::kVm, KVM_SET_IDENTITY_MAP_ADDR,
       [](AbiContext& c) {
         auto* a = c.make<uint64_t>();
         *a = 0xfffbc000;
         return addr(a);
       },
       0, 0},
      {"SetIdentityMapAddrAfterVcpuIsEINVAL", FdKind::kVm, KVM_SET_IDENTITY_MAP_ADDR,
       [](AbiContext& c) {
         auto* a = c.make<uint64_t>();
         *a = 0xfffbc000;
         return addr(a);
       },
       -1, EINVAL, nullptr, [](AbiContext& c) { c.vcpu(); }},
      {"SetIdentityMapAddrBadPointerIsEFAULT", FdKind::kVm, KVM_SET_IDENTITY_MAP_ADDR,
       [](AbiContext&) { return 8UL; }, -1, EFAULT},
      {"GetDirtyLogWithoutLoggingIsENOENT", FdKind::kVm, KVM_GET_DIRTY_LOG,
       [](AbiContext& c) {
         auto* l = c.make<kvm_dirty_log>();
         l->slot = 0;
         l->dirty_bitmap = c.bytes(64);
         return addr(l);
       },
       -1, ENOENT, nullptr,
       [](AbiContext& c) { c.must(c.set_region(0, 0x100000, 0x10000, 0), "slot 0"); }},
      {"GetDirtyLogUnregisteredSlotIsENOENT", FdKind::kVm, KVM_GET_DIRTY_LOG,
       [](AbiContext& c) {
         auto* l = c.make<kvm_dirty_log>();
         l->slot = 3;
         l->dirty_bitmap = c.bytes(64);
         return addr(l);
       },
       -1, ENOENT},
      {"GetDirtyLogSlotIdTooLargeIsEINVAL", FdKind::kVm, KVM_GET_DIRTY_LOG,
       [](AbiContext& c) {
         auto* l = c.make<kvm_dirty_log>();
         l->slot = 40000;
         l->dirty_bitmap = c.bytes(64);
         return addr(l);
       },
       -1, EINVAL},
      {"GetDirtyLogAddressSpace2IsEINVAL", FdKind::kVm, KVM_GET_DIRTY_LOG,
       [](AbiContext& c) {
         auto* l = c.make<kvm_dirty_log>();
         l->slot = 2u << 16;
         l->dirty_bitmap = c.bytes(64);
         return addr(l);
       },
       -1, EINVAL},
      {"GetDirtyLogBadBitmapPointerIsEFAULT", FdKind::kVm, KVM_GET_DIRTY_LOG,
       [](AbiContext& c) {
         auto* l = c.make<kvm_dirty_log>();
         l->slot = 0;
         l->dirty_bitmap = reinterpret_cast<void*>(8);  // SAFETY: never dereferenced here
         return addr(l);
       },
       -1, EFAULT, nullptr,
       [](AbiContext& c) {
         c.must(c.set_region(0, 0x100000, 0x10000, KVM_MEM_LOG_DIRTY_PAGES), "slot 0");
       }},
      {"GetDirtyLogFreshSlotIsAllClear", FdKind::kVm, KVM_GET_DIRTY_LOG,
       [](AbiContext& c) {
         auto* l = c.make<kvm_dirty_log>();
         l->slot = 0;
         l->dirty_bitmap = c.bytes(64);
         std::memset(l->dirty_bitmap, 0xa5, 64);
         c.saved[1] = addr(l->dirty_bitmap);
         return addr(l);
       },
       0, 0,
       [](AbiContext& c, Verdict& v, int) {
         // 16 pages: 2 bytes of bitmap, rounded up to a long by KVM.
         // SAFETY: saved[1] is the 64-byte bitmap the builder allocated.
         const auto* bits = reinterpret_cast<const uint8_t*>(c.saved[1]);
         for (int i = 0; i < 8; ++i) v.expect_eq(int{bits[i]}, 0, "bitmap byte " + std::to_string(i));
       },
       [](AbiContext& c) {
         c.must(c.set_region(0, 0x100000, 0x10000, KVM_MEM_LOG_DIRTY_PAGES), "slot 0");
       }},
      {"RunOnVmFdIsENOTTY", FdKind::kVm, KVM_RUN, nullptr, -1, ENOTTY},
      {"GetRegsOnVmFdIsENOTTY", FdKind::kVm, KVM_GET_REGS,
       [](AbiContext& c) { return addr(c.make<kvm_regs>()); }, -1, ENOTTY},
      {"BogusRequestOnVmFdIsENOTTY", FdKind::kVm, kBogusRequest, nullptr, -1, ENOTTY},
  };
}

}  // namespace skvm::test
