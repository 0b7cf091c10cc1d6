// The numbers KVM reports through KVM_CHECK_EXTENSION and enforces in its
// ioctls (x86, Linux 6.x), shared by the kvm objects and the ABI layer.
#pragma once

#include <cstdint>

namespace skvm::kvm {

inline constexpr int kApiVersion = 12;                // KVM_API_VERSION
inline constexpr uint32_t kMaxVcpus = 1024;           // KVM_MAX_VCPUS (x86)
inline constexpr uint32_t kMaxVcpuIds = 4096;         // KVM_MAX_VCPU_IDS = 4 * KVM_MAX_VCPUS
inline constexpr uint32_t kUserMemSlots = 32764;      // KVM_USER_MEM_SLOTS = SHRT_MAX - 3 internal
inline constexpr uint32_t kAddressSpaces = 1;         // no SMM: one address space
inline constexpr uint32_t kMaxCpuidEntries = 256;     // KVM_MAX_CPUID_ENTRIES
inline constexpr uint32_t kMaxIoMsrs = 256;           // MAX_IO_MSRS in x86.c
inline constexpr uint64_t kPageSize = 4096;
inline constexpr uint64_t kVcpuMmapPages = 3;         // kvm_run, PIO page, coalesced MMIO ring
inline constexpr uint64_t kVcpuMmapSize = kVcpuMmapPages * kPageSize;
// access_ok(): the highest user address + 1 with 4-level paging (TASK_SIZE_MAX).
inline constexpr uint64_t kUserAddressLimit = 0x00007ffffffff000ull;
// KVM_MEM_MAX_NR_PAGES: the largest slot, in pages.
inline constexpr uint64_t kMaxSlotPages = (1ull << 31) - 1;
// kvm_mmu_max_gfn() + 1 with a 52-bit guest-physical address space.
inline constexpr uint64_t kMaxGfnExclusive = 1ull << (52 - 12);
// The guest TSC frequency softkvm advertises (kHz).
inline constexpr uint64_t kTscKhz = 2'000'000;

}  // namespace skvm::kvm
