// The C layout of <linux/kvm.h> structs that end in __DECLARE_FLEX_ARRAY.
//
// In C++ that macro's `struct { } __empty_NAME;` has size 1 (0 in C), so
// sizeof/offsetof of those structs differ from the kernel's: in C++
// sizeof(kvm_msrs) == 16 (C: 8), offsetof(kvm_cpuid2, entries) == 12 (C: 8),
// and the _IOWR() request numbers built from sizeof() differ too
// (KVM_GET_MSRS is 0xc010ae88 in C++, 0xc008ae88 for the kernel). So the
// ABI layer never uses those macros or sizeof() for these structs: it uses
// the C values below (the header fields themselves, which come first, have
// the same offsets in both languages).
#pragma once

#include <linux/ioctl.h>
#include <linux/kvm.h>

#include <cstddef>
#include <cstdint>

#include "softkvm/softkvm.h"

namespace skvm::abi {

// Size of the fixed header (= offset of the flexible array) in C.
inline constexpr size_t kMsrListHeader = 4;      // kvm_msr_list: nmsrs
inline constexpr size_t kMsrsHeader = 8;         // kvm_msrs: nmsrs, pad
inline constexpr size_t kCpuidHeader = 8;        // kvm_cpuid: nent, padding
inline constexpr size_t kCpuid2Header = 8;       // kvm_cpuid2: nent, padding
inline constexpr size_t kSignalMaskHeader = 4;   // kvm_signal_mask: len

// Request numbers exactly as the kernel (and C clients) compute them.
inline constexpr unsigned long kGetMsrIndexList = _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x02, kMsrListHeader);
inline constexpr unsigned long kGetMsrFeatureIndexList = _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x0a, kMsrListHeader);
inline constexpr unsigned long kGetSupportedCpuid = _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x05, kCpuid2Header);
inline constexpr unsigned long kGetEmulatedCpuid = _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x09, kCpuid2Header);
inline constexpr unsigned long kGetMsrs = _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x88, kMsrsHeader);
inline constexpr unsigned long kSetMsrs = _IOC(_IOC_WRITE, KVMIO, 0x89, kMsrsHeader);
inline constexpr unsigned long kSetCpuid = _IOC(_IOC_WRITE, KVMIO, 0x8a, kCpuidHeader);
inline constexpr unsigned long kSetSignalMask = _IOC(_IOC_WRITE, KVMIO, 0x8b, kSignalMaskHeader);
inline constexpr unsigned long kSetCpuid2 = _IOC(_IOC_WRITE, KVMIO, 0x90, kCpuid2Header);
inline constexpr unsigned long kGetCpuid2 = _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x91, kCpuid2Header);
// kvm_xsave: region[1024] then a flexible array: 4096 bytes in C.
inline constexpr size_t kXsaveSize = 4096;
inline constexpr unsigned long kGetXsave = _IOC(_IOC_READ, KVMIO, 0xa4, kXsaveSize);
inline constexpr unsigned long kSetXsave = _IOC(_IOC_WRITE, KVMIO, 0xa5, kXsaveSize);
inline constexpr unsigned long kGetXsave2 = _IOC(_IOC_READ, KVMIO, 0xcf, kXsaveSize);
static_assert(kGetXsave == 0x9000aea4ul && kSetXsave == 0x5000aea5ul);

// The kernel's values, for the record (x86-64).
static_assert(kGetMsrIndexList == 0xc004ae02ul);
static_assert(kGetMsrs == 0xc008ae88ul);
static_assert(kSetMsrs == 0x4008ae89ul);
static_assert(kGetSupportedCpuid == 0xc008ae05ul);
static_assert(kSetCpuid2 == 0x4008ae90ul);
static_assert(kGetCpuid2 == 0xc008ae91ul);
static_assert(kSetSignalMask == 0x4004ae8bul);

// The same values are public for C++ clients (include/softkvm/softkvm.h).
static_assert(kGetMsrIndexList == SKVM_KVM_GET_MSR_INDEX_LIST);
static_assert(kGetMsrFeatureIndexList == SKVM_KVM_GET_MSR_FEATURE_INDEX_LIST);
static_assert(kGetSupportedCpuid == SKVM_KVM_GET_SUPPORTED_CPUID);
static_assert(kGetEmulatedCpuid == SKVM_KVM_GET_EMULATED_CPUID);
static_assert(kGetMsrs == SKVM_KVM_GET_MSRS && kSetMsrs == SKVM_KVM_SET_MSRS);
static_assert(kSetCpuid == SKVM_KVM_SET_CPUID && kSetCpuid2 == SKVM_KVM_SET_CPUID2);
static_assert(kGetCpuid2 == SKVM_KVM_GET_CPUID2 && kSetSignalMask == SKVM_KVM_SET_SIGNAL_MASK);

// Element sizes are plain structs, identical in C and C++.
static_assert(sizeof(kvm_msr_entry) == 16);
static_assert(sizeof(kvm_cpuid_entry) == 24);
static_assert(sizeof(kvm_cpuid_entry2) == 40);

}  // namespace skvm::abi
