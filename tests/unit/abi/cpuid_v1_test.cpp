// KVM_SET_CPUID (the v1 table, converted to kvm_cpuid_entry2 as cpuid.c:
// kvm_vcpu_ioctl_set_cpuid does) and KVM_GET_EMULATED_CPUID (softkvm
// emulates nothing beyond the supported set: an empty table).
#include <fcntl.h>
#include <linux/kvm.h>

#include <gtest/gtest.h>

#include "abi/ioctl.h"
#include "abi/kvm_abi.h"

namespace skvm::abi {
namespace {

int io(FdTable& t, int fd, unsigned long req, const void* arg) {
  // SAFETY: pointer-to-integer conversion only (the ioctl argument).
  return ioctl(t, fd, req, reinterpret_cast<unsigned long>(arg));
}

TEST(CpuidV1, SetCpuidEntriesReadBackThroughGetCpuid2WithIndexAndFlagsZero) {
  FdTable t;
  const int sys = open_system(t, O_RDWR | O_CLOEXEC);
  const int vm = ioctl(t, sys, KVM_CREATE_VM, 0);
  const int vcpu = ioctl(t, vm, KVM_CREATE_VCPU, 0);
  ASSERT_GE(vcpu, 0);
  // C layout: kvm_cpuid { u32 nent; u32 padding; kvm_cpuid_entry entries[]; }.
  alignas(8) uint8_t v1[kCpuidHeader + 2 * sizeof(kvm_cpuid_entry)] = {};
  auto* n1 = reinterpret_cast<uint32_t*>(v1);  // SAFETY: 8-aligned header
  auto* e1 = reinterpret_cast<kvm_cpuid_entry*>(v1 + kCpuidHeader);  // SAFETY: room for 2
  *n1 = 2;
  e1[0].function = 0;
  e1[0].eax = 1;
  e1[0].ebx = 0x756e6547;
  e1[1].function = 1;
  e1[1].eax = 0x806c1;
  e1[1].edx = 1;  // FPU
  ASSERT_EQ(io(t, vcpu, kSetCpuid, v1), 0);

  alignas(8) uint8_t v2[kCpuid2Header + 4 * sizeof(kvm_cpuid_entry2)] = {};
  auto* n2 = reinterpret_cast<uint32_t*>(v2);  // SAFETY: 8-aligned header
  auto* e2 = reinterpret_cast<kvm_cpuid_entry2*>(v2 + kCpuid2Header);  // SAFETY: room for 4
  *n2 = 4;
  ASSERT_EQ(io(t, vcpu, kGetCpuid2, v2), 0);
  ASSERT_EQ(*n2, 2u);
  EXPECT_EQ(e2[0].function, 0u);
  EXPECT_EQ(e2[0].ebx, 0x756e6547u);
  EXPECT_EQ(e2[1].function, 1u);
  EXPECT_EQ(e2[1].eax, 0x806c1u);
  EXPECT_EQ(e2[1].edx, 1u);
  EXPECT_EQ(e2[1].index, 0u);
  EXPECT_EQ(e2[1].flags, 0u);
  *n1 = 257;  // > KVM_MAX_CPUID_ENTRIES
  EXPECT_EQ(io(t, vcpu, kSetCpuid, v1), -E2BIG);
  close(t, vcpu);
  close(t, vm);
  close(t, sys);
}

TEST(CpuidV1, EmulatedCpuidIsAnEmptyTable) {
  FdTable t;
  const int sys = open_system(t, O_RDWR | O_CLOEXEC);
  alignas(8) uint8_t buf[kCpuid2Header + 4 * sizeof(kvm_cpuid_entry2)] = {};
  auto* n = reinterpret_cast<uint32_t*>(buf);  // SAFETY: 8-aligned header
  *n = 4;
  EXPECT_EQ(io(t, sys, kGetEmulatedCpuid, buf), 0);
  EXPECT_EQ(*n, 0u);
  close(t, sys);
}

}  // namespace
}  // namespace skvm::abi
