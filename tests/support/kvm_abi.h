// <linux/kvm.h> for C++: include this instead of <linux/kvm.h>.
//
// The Debian 6.1 uapi headers declare flexible arrays with
// __DECLARE_FLEX_ARRAY(), a wrapper struct around an empty struct. An empty
// struct has size 1 in C++ (0 in C), so compiled as C++ every struct using
// it gets a different layout AND, through _IOWR(..., sizeof(struct)), a
// different ioctl number: e.g. KVM_GET_MSR_INDEX_LIST is 0xc004ae02 in C
// but 0xc008ae02 in C++, and the host answers EINVAL. Upstream fixed the
// macro for C++ (linux 6.7, "uapi: stddef.h: Fix
// __DECLARE_FLEX_ARRAY for C++") with exactly this definition.
#pragma once

#ifdef _LINUX_KVM_H
#error "include kvm_abi.h before any <linux/kvm.h>"
#endif

#include <linux/stddef.h>
#undef __DECLARE_FLEX_ARRAY
#define __DECLARE_FLEX_ARRAY(TYPE, NAME) TYPE NAME[0]
#include <linux/kvm.h>

#include <cstddef>

// The C layout (kernel ABI), checked.
static_assert(sizeof(kvm_msr_list) == 4 && offsetof(kvm_msr_list, indices) == 4);
static_assert(sizeof(kvm_msrs) == 8 && offsetof(kvm_msrs, entries) == 8);
static_assert(sizeof(kvm_cpuid2) == 8 && offsetof(kvm_cpuid2, entries) == 8);
static_assert(sizeof(kvm_signal_mask) == 4 && offsetof(kvm_signal_mask, sigset) == 4);
static_assert(KVM_GET_MSR_INDEX_LIST == 0xc004ae02);
static_assert(KVM_GET_MSRS == 0xc008ae88);
static_assert(KVM_SET_SIGNAL_MASK == 0x4004ae8b);
