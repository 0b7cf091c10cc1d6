// A VM with one vCPU in real mode at CS = 0, driven through the ABI layer
// (FdTable + ioctl) with the real engine, and `kMem` bytes of client memory
// not yet registered. Shared fixture of the KVM_RUN unit tests; no /dev/kvm.
#pragma once

#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/mman.h>

#include <cstddef>
#include <cstdint>

#include <gtest/gtest.h>

#include "abi/ioctl.h"
#include "kvm/limits.h"

namespace skvm::abi {

template <size_t kMem>
class RealModeVcpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mem_ = static_cast<uint8_t*>(mmap(nullptr, kMem, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(mem_, MAP_FAILED);
    sys_ = open_system(table_, O_RDWR | O_CLOEXEC);
    vm_ = ioctl(table_, sys_, KVM_CREATE_VM, 0);
    ASSERT_GE(vm_, 0);
    vcpu_ = ioctl(table_, vm_, KVM_CREATE_VCPU, 0);
    ASSERT_GE(vcpu_, 0);
    void* p = mmap(nullptr, kvm::kVcpuMmapSize, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_, 0);
    ASSERT_NE(p, MAP_FAILED);
    run_ = static_cast<kvm_run*>(p);
    kvm_sregs s{};
    ASSERT_EQ(io(vcpu_, KVM_GET_SREGS, &s), 0);
    s.cs.base = 0;
    s.cs.selector = 0;
    ASSERT_EQ(io(vcpu_, KVM_SET_SREGS, &s), 0);
    kvm_regs r{};
    r.rflags = 2;
    ASSERT_EQ(io(vcpu_, KVM_SET_REGS, &r), 0);
  }
  void TearDown() override {
    munmap(run_, kvm::kVcpuMmapSize);
    for (int fd : {vcpu_, vm_, sys_}) close(table_, fd);
    munmap(mem_, kMem);
  }
  int io(int fd, unsigned long req, const void* arg) {
    return ioctl(table_, fd, req, reinterpret_cast<unsigned long>(arg));
  }
  int run() { return ioctl(table_, vcpu_, KVM_RUN, 0); }
  kvm_regs regs() {
    kvm_regs r{};
    EXPECT_EQ(io(vcpu_, KVM_GET_REGS, &r), 0);
    return r;
  }

  FdTable table_;
  uint8_t* mem_ = nullptr;
  int sys_ = -1, vm_ = -1, vcpu_ = -1;
  kvm_run* run_ = nullptr;
};

}  // namespace skvm::abi
