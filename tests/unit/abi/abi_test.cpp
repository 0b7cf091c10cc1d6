// The ABI layer through its internal entry points with a private FdTable:
// fd kinds, wrong-kind requests, closed and reused fds, EFAULT and E2BIG.
// Every errno here was checked on the host /dev/kvm (see tests/abi for the
// differential version).
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <algorithm>
#include <vector>

#include <gtest/gtest.h>

#include "abi/ioctl.h"
#include "abi/kvm_abi.h"
#include "kvm/limits.h"

namespace skvm::abi {
namespace {

// A header with a flexible array (kvm_cpuid2, kvm_msrs, ...) followed by room
// for N entries, laid out as a C client allocates it (header size from
// kvm_abi.h: the C++ view of these structs is wrong, see there). n() is the
// first header field (nent / nmsrs / len).
template <size_t Header, typename E, size_t N>
struct Flex {
  alignas(16) uint8_t raw[Header + N * sizeof(E)] = {};
  // SAFETY: raw is 16-aligned and holds the header then N entries.
  uint32_t& n() { return *reinterpret_cast<uint32_t*>(raw); }
  E* e() { return reinterpret_cast<E*>(raw + Header); }
};

class AbiTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (int fd : fds_) close(table_, fd);
  }
  int track(int fd) {
    if (fd >= 0) fds_.push_back(fd);
    return fd;
  }
  int sys() { return track(open_system(table_, O_RDWR | O_CLOEXEC)); }
  int vm() { return track(ioctl(table_, sys(), KVM_CREATE_VM, 0)); }
  int io(int fd, unsigned long req, const void* arg) {
    return ioctl(table_, fd, req, reinterpret_cast<unsigned long>(arg));
  }
  int io(int fd, unsigned long req, unsigned long arg) { return ioctl(table_, fd, req, arg); }
  void forget(int fd) { fds_.erase(std::remove(fds_.begin(), fds_.end(), fd), fds_.end()); }

  FdTable table_;
  std::vector<int> fds_;
};

TEST_F(AbiTest, SystemFdAnswersVersionAndMmapSize) {
  int s = sys();
  ASSERT_GE(s, 0);
  EXPECT_TRUE(is_handle(table_, s));
  EXPECT_EQ(io(s, KVM_GET_API_VERSION, 0ul), 12);
  EXPECT_EQ(io(s, KVM_GET_API_VERSION, 1ul), -EINVAL);
  EXPECT_EQ(io(s, KVM_GET_VCPU_MMAP_SIZE, 0ul), 12288);
  EXPECT_EQ(io(s, KVM_CREATE_VM, 1ul), -EINVAL);
  EXPECT_EQ(io(s, KVM_CHECK_EXTENSION, static_cast<unsigned long>(KVM_CAP_NR_MEMSLOTS)), 32764);
  EXPECT_EQ(io(s, KVM_CHECK_EXTENSION, static_cast<unsigned long>(KVM_CAP_MAX_VCPU_ID)), 4096);
  EXPECT_EQ(io(s, KVM_CHECK_EXTENSION, static_cast<unsigned long>(KVM_CAP_SYNC_REGS)), 0);
  EXPECT_EQ(io(s, KVM_CHECK_EXTENSION, 9999ul), 0);
}

TEST_F(AbiTest, OpenHonoursCloexecAndNewFdsAreCloexec) {
  int plain = track(open_system(table_, O_RDWR));
  ASSERT_GE(plain, 0);
  EXPECT_EQ(fcntl(plain, F_GETFD), 0);
  int v = vm();
  ASSERT_GE(v, 0);
  EXPECT_EQ(fcntl(v, F_GETFD), FD_CLOEXEC);
  int c = track(io(v, KVM_CREATE_VCPU, 0ul));
  ASSERT_GE(c, 0);
  EXPECT_EQ(fcntl(c, F_GETFD), FD_CLOEXEC);
}

TEST_F(AbiTest, WrongKindRequestsFailAsInKvm) {
  int s = sys();
  int v = vm();
  int c = track(io(v, KVM_CREATE_VCPU, 0ul));
  ASSERT_GE(c, 0);
  EXPECT_EQ(io(s, KVM_RUN, 0ul), -EINVAL);               // kvm_dev_ioctl default
  EXPECT_EQ(io(s, 0x1234ul, 0ul), -EINVAL);
  EXPECT_EQ(io(v, KVM_RUN, 0ul), -ENOTTY);               // kvm_vm_ioctl default
  EXPECT_EQ(io(v, KVM_GET_API_VERSION, 0ul), -ENOTTY);
  EXPECT_EQ(io(v, KVM_GET_VCPU_MMAP_SIZE, 0ul), -ENOTTY);
  EXPECT_EQ(io(c, KVM_GET_API_VERSION, 0ul), -EINVAL);   // kvm_vcpu_ioctl default
  EXPECT_EQ(io(c, KVM_CREATE_VCPU, 0ul), -EINVAL);
  EXPECT_EQ(io(c, KVM_CHECK_EXTENSION, 1ul), -EINVAL);
  EXPECT_EQ(io(c, 0x1234ul, 0ul), -EINVAL);
  EXPECT_EQ(io(c, KVM_RUN, 1ul), -EINVAL);
}

TEST_F(AbiTest, ForeignFdIsEnottyAndClosedFdIsEbadf) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  EXPECT_EQ(io(p[0], KVM_GET_API_VERSION, 0ul), -ENOTTY);
  EXPECT_FALSE(is_handle(table_, p[0]));
  ::close(p[0]);
  ::close(p[1]);
  EXPECT_EQ(io(p[0], KVM_GET_API_VERSION, 0ul), -EBADF);
  EXPECT_EQ(io(-1, KVM_GET_API_VERSION, 0ul), -EBADF);
}

TEST_F(AbiTest, FdClosedBehindOurBackAndReusedIsNotAHandle) {
  int s = sys();
  ASSERT_GE(s, 0);
  forget(s);
  ::close(s);  // plain close, not skvm_close
  EXPECT_EQ(io(s, KVM_GET_API_VERSION, 0ul), -EBADF);
  int reused = memfd_create("other", MFD_CLOEXEC);
  ASSERT_EQ(reused, s);  // lowest free number
  EXPECT_FALSE(is_handle(table_, reused));
  EXPECT_EQ(io(reused, KVM_GET_API_VERSION, 0ul), -ENOTTY);
  ::close(reused);
}

TEST_F(AbiTest, BadPointersAreEfault) {
  int s = sys();
  int v = vm();
  int c = track(io(v, KVM_CREATE_VCPU, 0ul));
  ASSERT_GE(c, 0);
  const void* bad = reinterpret_cast<void*>(8);
  EXPECT_EQ(io(v, KVM_SET_USER_MEMORY_REGION, bad), -EFAULT);
  EXPECT_EQ(io(v, KVM_GET_DIRTY_LOG, bad), -EFAULT);
  EXPECT_EQ(io(c, KVM_GET_REGS, bad), -EFAULT);
  EXPECT_EQ(io(c, KVM_SET_REGS, bad), -EFAULT);
  EXPECT_EQ(io(c, KVM_GET_SREGS, bad), -EFAULT);
  EXPECT_EQ(io(c, kGetMsrs, bad), -EFAULT);
  EXPECT_EQ(io(c, kSetCpuid2, bad), -EFAULT);
  EXPECT_EQ(io(s, kGetSupportedCpuid, bad), -EFAULT);
  EXPECT_EQ(io(s, kGetMsrIndexList, bad), -EFAULT);
}

TEST_F(AbiTest, DirtyLogCopiesIntoTheClientBitmapOrEfaults) {
  int v = vm();
  void* mem = mmap(nullptr, 0x10000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  kvm_userspace_memory_region r{7, KVM_MEM_LOG_DIRTY_PAGES, 0x400000, 0x10000, reinterpret_cast<uint64_t>(mem)};
  ASSERT_EQ(io(v, KVM_SET_USER_MEMORY_REGION, &r), 0);
  uint64_t bm = ~0ull;
  kvm_dirty_log dl{};
  dl.slot = 7;
  dl.dirty_bitmap = &bm;
  EXPECT_EQ(io(v, KVM_GET_DIRTY_LOG, &dl), 0);
  EXPECT_EQ(bm, 0u);
  dl.dirty_bitmap = reinterpret_cast<void*>(8);
  EXPECT_EQ(io(v, KVM_GET_DIRTY_LOG, &dl), -EFAULT);
  dl.slot = 9;
  EXPECT_EQ(io(v, KVM_GET_DIRTY_LOG, &dl), -ENOENT);
  munmap(mem, 0x10000);
}

TEST_F(AbiTest, SupportedCpuidE2bigLeavesNentAndSuccessWritesIt) {
  int s = sys();
  Flex<kCpuid2Header, kvm_cpuid_entry2, 300> cp;
  cp.n() = 0;
  EXPECT_EQ(io(s, kGetSupportedCpuid, cp.raw), -E2BIG);
  cp.n() = 1;
  EXPECT_EQ(io(s, kGetSupportedCpuid, cp.raw), -E2BIG);
  EXPECT_EQ(cp.n(), 1u);
  cp.n() = 300;  // clamped to KVM_MAX_CPUID_ENTRIES, still fine
  EXPECT_EQ(io(s, kGetSupportedCpuid, cp.raw), 0);
  EXPECT_GT(cp.n(), 1u);
  EXPECT_LT(cp.n(), 300u);
  EXPECT_EQ(cp.e()[0].function, 0u);
  cp.n() = 1;
  EXPECT_EQ(io(s, kGetEmulatedCpuid, cp.raw), 0);
  EXPECT_EQ(cp.n(), 0u);
}

TEST_F(AbiTest, MsrIndexListE2bigWritesTheNeededCount) {
  int s = sys();
  Flex<kMsrListHeader, uint32_t, 512> ml;
  ml.n() = 0;
  int r = io(s, kGetMsrIndexList, ml.raw);
  const uint32_t needed = ml.n();
  if (needed == 0) {
    EXPECT_EQ(r, 0);
  } else {
    EXPECT_EQ(r, -E2BIG);
    ml.n() = 512;
    EXPECT_EQ(io(s, kGetMsrIndexList, ml.raw), 0);
    EXPECT_EQ(ml.n(), needed);
  }
  ml.n() = 0;
  EXPECT_EQ(io(s, kGetMsrFeatureIndexList, ml.raw), 0);  // no feature MSRs
  EXPECT_EQ(ml.n(), 0u);
}

TEST_F(AbiTest, EveryListedMsrCanBeSavedAndRestored) {
  int s = sys();
  int v = vm();
  int c = track(io(v, KVM_CREATE_VCPU, 0ul));
  Flex<kMsrListHeader, uint32_t, 255> ml;
  ml.n() = 255;
  ASSERT_EQ(io(s, kGetMsrIndexList, ml.raw), 0);
  const uint32_t n = ml.n();
  ASSERT_GT(n, 0u);
  Flex<kMsrsHeader, kvm_msr_entry, 255> ms;
  ms.n() = n;
  for (uint32_t i = 0; i < n; ++i) ms.e()[i].index = ml.e()[i];
  EXPECT_EQ(io(c, kGetMsrs, ms.raw), static_cast<int>(n));
  EXPECT_EQ(io(c, kSetMsrs, ms.raw), static_cast<int>(n));
}

TEST_F(AbiTest, MsrIoCountsProcessedEntriesAndLimitsBatch) {
  int s = sys();
  int v = vm();
  int c = track(io(v, KVM_CREATE_VCPU, 0ul));
  ASSERT_GE(c, 0);
  Flex<kMsrsHeader, kvm_msr_entry, 2> ms;
  ms.n() = 2;
  ms.e()[0].index = 0x12345;  // unknown: stops the batch at 0
  ms.e()[1].index = 0x10;
  EXPECT_EQ(io(c, kGetMsrs, ms.raw), 0);
  EXPECT_EQ(io(c, kSetMsrs, ms.raw), 0);
  ms.n() = 0;
  EXPECT_EQ(io(c, kGetMsrs, ms.raw), 0);
  ms.n() = 256;  // >= MAX_IO_MSRS
  EXPECT_EQ(io(c, kGetMsrs, ms.raw), -E2BIG);
  EXPECT_EQ(io(s, kGetMsrs, ms.raw), -E2BIG);
  ms.n() = 1;
  EXPECT_EQ(io(s, kGetMsrs, ms.raw), 0);  // no feature MSR is known
}

TEST_F(AbiTest, CpuidTwoRoundTripsWithE2bigRules) {
  int s = sys();
  int v = vm();
  int c = track(io(v, KVM_CREATE_VCPU, 0ul));
  Flex<kCpuid2Header, kvm_cpuid_entry2, 300> cp;
  cp.n() = 0;
  EXPECT_EQ(io(c, kGetCpuid2, cp.raw), 0);  // nothing set yet
  EXPECT_EQ(cp.n(), 0u);
  cp.n() = 300;
  ASSERT_EQ(io(s, kGetSupportedCpuid, cp.raw), 0);
  const uint32_t n = cp.n();
  cp.n() = 257;
  EXPECT_EQ(io(c, kSetCpuid2, cp.raw), -E2BIG);
  cp.n() = n;
  EXPECT_EQ(io(c, kSetCpuid2, cp.raw), 0);
  cp.n() = 1;
  EXPECT_EQ(io(c, kGetCpuid2, cp.raw), -E2BIG);
  EXPECT_EQ(cp.n(), 1u);
  cp.n() = 300;
  EXPECT_EQ(io(c, kGetCpuid2, cp.raw), 0);
  EXPECT_EQ(cp.n(), n);
  // 0x80000008 with 40-bit linear addresses is refused (kvm_check_cpuid).
  kvm_cpuid_entry2 bad{};
  bad.function = 0x80000008;
  bad.eax = 0x2828;
  cp.e()[0] = bad;
  cp.n() = 1;
  EXPECT_EQ(io(c, kSetCpuid2, cp.raw), -EINVAL);
}

TEST_F(AbiTest, CreateVcpuIdRulesMatchKvm) {
  int v = vm();
  EXPECT_GE(track(io(v, KVM_CREATE_VCPU, 0ul)), 0);
  EXPECT_EQ(io(v, KVM_CREATE_VCPU, 0ul), -EEXIST);
  EXPECT_GE(track(io(v, KVM_CREATE_VCPU, 4095ul)), 0);
  EXPECT_EQ(io(v, KVM_CREATE_VCPU, 4096ul), -EINVAL);
  EXPECT_EQ(io(v, KVM_CREATE_VCPU, ~0ul), -EINVAL);
}

TEST_F(AbiTest, EnableCapOnVmIsEinvalForEveryCapAndEfaultForBadPointer) {
  int v = vm();
  kvm_enable_cap cap{};
  cap.cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2;
  EXPECT_EQ(io(v, KVM_ENABLE_CAP, &cap), -EINVAL);
  EXPECT_EQ(io(v, KVM_ENABLE_CAP, reinterpret_cast<void*>(8)), -EFAULT);
}

TEST_F(AbiTest, VmRulesForTssAndIdentityMap) {
  int v = vm();
  uint64_t ident = 0xfffbc000;
  EXPECT_EQ(io(v, KVM_SET_TSS_ADDR, 0xfffbd000ul), 0);
  EXPECT_EQ(io(v, KVM_SET_TSS_ADDR, 0xfffff000ul), -EINVAL);
  EXPECT_EQ(io(v, KVM_SET_TSS_ADDR, 0xfffffffffful), -EINVAL);
  EXPECT_EQ(io(v, KVM_SET_IDENTITY_MAP_ADDR, &ident), 0);
  EXPECT_EQ(io(v, KVM_SET_IDENTITY_MAP_ADDR, reinterpret_cast<void*>(8)), -EFAULT);
  ASSERT_GE(track(io(v, KVM_CREATE_VCPU, 0ul)), 0);
  EXPECT_EQ(io(v, KVM_SET_IDENTITY_MAP_ADDR, &ident), -EINVAL);
  EXPECT_EQ(io(v, KVM_SET_IDENTITY_MAP_ADDR, reinterpret_cast<void*>(8)), -EINVAL);
  EXPECT_EQ(io(v, KVM_SET_TSS_ADDR, 0xfffbd000ul), 0);
}

TEST_F(AbiTest, VcpuFdMapsKvmRunAndImmediateExitIsEintr) {
  int v = vm();
  int c = track(io(v, KVM_CREATE_VCPU, 0ul));
  ASSERT_GE(c, 0);
  void* p = mmap(nullptr, kvm::kVcpuMmapSize, PROT_READ | PROT_WRITE, MAP_SHARED, c, 0);
  ASSERT_NE(p, MAP_FAILED);
  auto* run = static_cast<kvm_run*>(p);
  run->immediate_exit = 1;
  run->exit_reason = 0x55;
  EXPECT_EQ(io(c, KVM_RUN, 0ul), -EINTR);
  EXPECT_EQ(run->exit_reason, 0x55u);  // the host's KVM leaves exit_reason alone here
  EXPECT_EQ(run->apic_base, 0xfee00900u);  // post_kvm_run_save runs on this path too
  run->cr8 = 16;  // kvm_set_cr8 refuses it
  EXPECT_EQ(io(c, KVM_RUN, 0ul), -EINVAL);
  EXPECT_EQ(run->cr8, 0u);  // and post_kvm_run_save rewrites it
  run->kvm_valid_regs = 1u << 10;
  EXPECT_EQ(io(c, KVM_RUN, 0ul), -EINVAL);
  munmap(p, kvm::kVcpuMmapSize);
}

TEST_F(AbiTest, TscKhzIsTheAdvertisedRate) {
  int s = sys();
  int v = vm();
  int c = track(io(v, KVM_CREATE_VCPU, 0ul));
  EXPECT_EQ(io(s, KVM_CHECK_EXTENSION, static_cast<unsigned long>(KVM_CAP_GET_TSC_KHZ)), 1);
  EXPECT_EQ(io(c, KVM_GET_TSC_KHZ, 0ul), static_cast<int>(kvm::kTscKhz));
}

TEST_F(AbiTest, VcpuOutlivesItsVmFd) {
  int v = vm();
  int c = track(io(v, KVM_CREATE_VCPU, 0ul));
  ASSERT_GE(c, 0);
  forget(v);
  ASSERT_EQ(close(table_, v), 0);
  kvm_regs r{};
  EXPECT_EQ(io(c, KVM_GET_REGS, &r), 0);
  EXPECT_EQ(r.rip, 0xfff0u);
}

TEST_F(AbiTest, RegsAndSregsRoundTripAndInvalidSregsAreEinval) {
  int v = vm();
  int c = track(io(v, KVM_CREATE_VCPU, 1ul));
  ASSERT_GE(c, 0);
  kvm_regs r{};
  ASSERT_EQ(io(c, KVM_GET_REGS, &r), 0);
  EXPECT_EQ(r.rdx, 0x600u);
  r.rax = 0x1234;
  r.rflags = 0;
  ASSERT_EQ(io(c, KVM_SET_REGS, &r), 0);
  kvm_regs back{};
  ASSERT_EQ(io(c, KVM_GET_REGS, &back), 0);
  EXPECT_EQ(back.rax, 0x1234u);
  EXPECT_EQ(back.rflags, 2u);
  kvm_sregs s{};
  ASSERT_EQ(io(c, KVM_GET_SREGS, &s), 0);
  EXPECT_EQ(s.apic_base, 0xfee00800u);  // not the BSP
  s.cr0 = 0x80000000;  // PG without PE
  EXPECT_EQ(io(c, KVM_SET_SREGS, &s), -EINVAL);
}

TEST_F(AbiTest, MpStateAndSignalMaskRules) {
  int v = vm();
  int c = track(io(v, KVM_CREATE_VCPU, 0ul));
  kvm_mp_state mp{};
  ASSERT_EQ(io(c, KVM_GET_MP_STATE, &mp), 0);
  EXPECT_EQ(mp.mp_state, static_cast<uint32_t>(KVM_MP_STATE_RUNNABLE));
  mp.mp_state = KVM_MP_STATE_HALTED;
  EXPECT_EQ(io(c, KVM_SET_MP_STATE, &mp), -EINVAL);  // no in-kernel irqchip
  mp.mp_state = KVM_MP_STATE_RUNNABLE;
  EXPECT_EQ(io(c, KVM_SET_MP_STATE, &mp), 0);
  EXPECT_EQ(io(c, kSetSignalMask, 0ul), 0);
  Flex<kSignalMaskHeader, uint64_t, 1> sm;
  sm.n() = 4;
  EXPECT_EQ(io(c, kSetSignalMask, sm.raw), -EINVAL);
  sm.n() = 8;
  EXPECT_EQ(io(c, kSetSignalMask, sm.raw), 0);
  EXPECT_EQ(io(c, kSetSignalMask, 0ul), 0);
}

TEST_F(AbiTest, ForkedChildGetsEioOnVmAndVcpuButItsSystemFdWorks) {
  int s = sys();
  int v = vm();
  int c = track(io(v, KVM_CREATE_VCPU, 0ul));
  ASSERT_GE(c, 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    kvm_regs r{};
    const bool ok = io(v, KVM_CHECK_EXTENSION, 1ul) == -EIO && io(c, KVM_GET_REGS, &r) == -EIO &&
                    io(c, KVM_RUN, 0ul) == -EIO && io(s, KVM_GET_API_VERSION, 0ul) == 12;
    _exit(ok ? 0 : 1);
  }
  int status = -1;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);  // kvm_main.c: kvm->mm != current->mm
  EXPECT_EQ(io(v, KVM_CHECK_EXTENSION, static_cast<unsigned long>(KVM_CAP_USER_MEMORY)), 1);  // parent unaffected
}

TEST_F(AbiTest, CloseOfUnknownFdBehavesAsClose) {
  EXPECT_EQ(close(table_, 1 << 22), -EBADF);
}

}  // namespace
}  // namespace skvm::abi
