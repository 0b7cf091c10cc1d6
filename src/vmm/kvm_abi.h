// <linux/kvm.h> for the VMM's C++: include this instead of <linux/kvm.h>.
//
// Debian 12's uapi headers (linux-libc-dev 6.1) declare flexible arrays with
// __DECLARE_FLEX_ARRAY(), a struct wrapping an empty struct. An empty struct
// has size 1 in C++ (0 in C), so compiled as C++ every struct using it gets a
// different layout and, through _IOWR(..., sizeof(struct)), a different
// ioctl number (KVM_GET_SUPPORTED_CPUID is 0xc008ae05 in C, 0xc00cae05 in
// C++: the host answers EINVAL). Linux 6.7 fixed the macro for C++ ("uapi:
// stddef.h: Fix __DECLARE_FLEX_ARRAY for C++") with exactly this definition.
#pragma once

#ifdef _LINUX_KVM_H
#error "include vmm/kvm_abi.h before any <linux/kvm.h>"
#endif

#include <linux/stddef.h>
#undef __DECLARE_FLEX_ARRAY
#define __DECLARE_FLEX_ARRAY(TYPE, NAME) TYPE NAME[0]
#include <linux/kvm.h>

#include <cstddef>

// The kernel's (C) layout, checked.
static_assert(sizeof(kvm_cpuid2) == 8 && offsetof(kvm_cpuid2, entries) == 8);
static_assert(KVM_GET_SUPPORTED_CPUID == 0xc008ae05);
static_assert(KVM_SET_CPUID2 == 0x4008ae90);
static_assert(sizeof(kvm_irq_routing) == 8 && offsetof(kvm_irq_routing, entries) == 8);
static_assert(KVM_SET_GSI_ROUTING == 0x4008ae6a);
