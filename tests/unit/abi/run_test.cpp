// KVM_RUN through the ABI layer with the real CPU engine: exit translation,
// completion of I/O and MMIO reads, immediate_exit, kvm_run.cr8, dirty
// logging and the signal mask. Tiny real-mode guests; every expectation was
// checked against the host /dev/kvm with the same guest.
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <gtest/gtest.h>

#include "abi/ioctl.h"
#include "abi/kvm_abi.h"
#include "base/kick.h"
#include "kvm/limits.h"
#include "real_mode_vcpu.h"

namespace skvm::abi {
namespace {

class RunTest : public RealModeVcpuTest<0x4000> {
 protected:
  int map(uint32_t slot, uint32_t flags, uint64_t gpa, uint64_t size, uint64_t offset) {
    kvm_userspace_memory_region r{slot, flags, gpa, size, reinterpret_cast<uint64_t>(mem_ + offset)};
    return io(vm_, KVM_SET_USER_MEMORY_REGION, &r);
  }
  void load(const std::vector<uint8_t>& code) {
    std::memcpy(mem_, code.data(), code.size());
    ASSERT_EQ(map(0, 0, 0, 0x1000, 0), 0);
  }
  uint8_t* pio() { return reinterpret_cast<uint8_t*>(run_) + run_->io.data_offset; }
};

TEST_F(RunTest, OutInAndMmioReadRoundTripThroughKvmRun) {
  // mov dx,0x3f8; mov al,'A'; out dx,al; mov bl,[0x8000]; in al,0x10; hlt
  load({0xba, 0xf8, 0x03, 0xb0, 0x41, 0xee, 0x8a, 0x1e, 0x00, 0x80, 0xe4, 0x10, 0xf4});
  ASSERT_EQ(run(), 0);
  ASSERT_EQ(run_->exit_reason, static_cast<uint32_t>(KVM_EXIT_IO));
  EXPECT_EQ(run_->io.direction, KVM_EXIT_IO_OUT);
  EXPECT_EQ(run_->io.size, 1);
  EXPECT_EQ(run_->io.port, 0x3f8);
  EXPECT_EQ(run_->io.count, 1u);
  EXPECT_EQ(run_->io.data_offset, 4096u);
  EXPECT_EQ(*pio(), 'A');
  ASSERT_EQ(run(), 0);
  ASSERT_EQ(run_->exit_reason, static_cast<uint32_t>(KVM_EXIT_MMIO));
  EXPECT_EQ(run_->mmio.phys_addr, 0x8000u);
  EXPECT_EQ(run_->mmio.len, 1u);
  EXPECT_EQ(run_->mmio.is_write, 0);
  run_->mmio.data[0] = 0x77;
  ASSERT_EQ(run(), 0);
  ASSERT_EQ(run_->exit_reason, static_cast<uint32_t>(KVM_EXIT_IO));
  EXPECT_EQ(run_->io.direction, KVM_EXIT_IO_IN);
  EXPECT_EQ(run_->io.port, 0x10);
  *pio() = 0x61;
  ASSERT_EQ(run(), 0);
  EXPECT_EQ(run_->exit_reason, static_cast<uint32_t>(KVM_EXIT_HLT));
  kvm_regs r = regs();
  EXPECT_EQ(r.rip, 13u);
  EXPECT_EQ(r.rax & 0xff, 0x61u);
  EXPECT_EQ(r.rbx & 0xff, 0x77u);
}

TEST_F(RunTest, ImmediateExitCompletesPendingInAndLeavesExitReason) {
  load({0xe4, 0x10, 0xf4});  // in al,0x10; hlt
  ASSERT_EQ(run(), 0);
  ASSERT_EQ(run_->exit_reason, static_cast<uint32_t>(KVM_EXIT_IO));
  *pio() = 0x42;
  run_->immediate_exit = 1;
  run_->exit_reason = 0x55;
  EXPECT_EQ(run(), -EINTR);
  EXPECT_EQ(run_->exit_reason, 0x55u);
  kvm_regs r = regs();
  EXPECT_EQ(r.rip, 2u);  // the IN completed, nothing more ran
  EXPECT_EQ(r.rax & 0xff, 0x42u);
  run_->immediate_exit = 0;
  ASSERT_EQ(run(), 0);
  EXPECT_EQ(run_->exit_reason, static_cast<uint32_t>(KVM_EXIT_HLT));
}

TEST_F(RunTest, HltResumesAfterTheHltOnTheNextRun) {
  load({0xf4, 0xf4, 0xee});  // hlt; hlt; out dx,al
  ASSERT_EQ(run(), 0);
  EXPECT_EQ(run_->exit_reason, static_cast<uint32_t>(KVM_EXIT_HLT));
  ASSERT_EQ(run(), 0);
  EXPECT_EQ(run_->exit_reason, static_cast<uint32_t>(KVM_EXIT_HLT));
  ASSERT_EQ(run(), 0);
  EXPECT_EQ(run_->exit_reason, static_cast<uint32_t>(KVM_EXIT_IO));
}

TEST_F(RunTest, Cr8ComesFromKvmRunWithoutAnIrqchip) {
  load({0xf4});
  run_->cr8 = 5;
  ASSERT_EQ(run(), 0);
  kvm_sregs s{};
  ASSERT_EQ(io(vcpu_, KVM_GET_SREGS, &s), 0);
  EXPECT_EQ(s.cr8, 5u);
  EXPECT_EQ(run_->cr8, 5u);
  EXPECT_EQ(run_->if_flag, 0);
  EXPECT_EQ(run_->ready_for_interrupt_injection, 0);
}

TEST_F(RunTest, GuestWritesAreDirtyLoggedAndReadonlyWritesBecomeMmio) {
  // mov byte [0x1000],1; mov byte [0x2000],2; mov al,[0x2000]; hlt
  load({0xc6, 0x06, 0x00, 0x10, 0x01, 0xc6, 0x06, 0x00, 0x20, 0x02, 0xa0, 0x00, 0x20, 0xf4});
  mem_[0x2000] = 0x5a;
  ASSERT_EQ(map(1, KVM_MEM_LOG_DIRTY_PAGES, 0x1000, 0x1000, 0x1000), 0);
  ASSERT_EQ(map(2, KVM_MEM_READONLY, 0x2000, 0x1000, 0x2000), 0);
  ASSERT_EQ(run(), 0);
  ASSERT_EQ(run_->exit_reason, static_cast<uint32_t>(KVM_EXIT_MMIO));
  EXPECT_EQ(run_->mmio.phys_addr, 0x2000u);
  EXPECT_EQ(run_->mmio.is_write, 1);
  EXPECT_EQ(run_->mmio.data[0], 2);
  ASSERT_EQ(run(), 0);
  EXPECT_EQ(run_->exit_reason, static_cast<uint32_t>(KVM_EXIT_HLT));
  EXPECT_EQ(mem_[0x1000], 1);
  EXPECT_EQ(mem_[0x2000], 0x5a);  // read-only memory untouched
  EXPECT_EQ(regs().rax & 0xff, 0x5au);
  uint64_t bm = 0;
  kvm_dirty_log dl{};
  dl.slot = 1;
  dl.dirty_bitmap = &bm;
  ASSERT_EQ(io(vm_, KVM_GET_DIRTY_LOG, &dl), 0);
  EXPECT_EQ(bm, 1u);
  ASSERT_EQ(io(vm_, KVM_GET_DIRTY_LOG, &dl), 0);
  EXPECT_EQ(bm, 0u);
}

void notify_handler(int) { base::raise_thread_kick(); }

TEST_F(RunTest, PendingSignalUnblockedBySignalMaskIsEintr) {
  load({0xeb, 0xfe});  // jmp $
  struct sigaction sa {}, old{};
  sa.sa_handler = notify_handler;
  ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);
  sigset_t block, saved;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &block, &saved), 0);
  ASSERT_EQ(raise(SIGUSR1), 0);  // pending: blocked outside KVM_RUN
  alignas(8) uint8_t sm[kSignalMaskHeader + 8] = {};
  const uint32_t len = 8;
  std::memcpy(sm, &len, sizeof len);  // an empty mask inside KVM_RUN
  ASSERT_EQ(io(vcpu_, kSetSignalMask, sm), 0);
  base::thread_kick().store(0);
  EXPECT_EQ(run(), -EINTR);
  EXPECT_EQ(run_->exit_reason, static_cast<uint32_t>(KVM_EXIT_INTR));
  EXPECT_EQ(base::thread_kick().load(), 0);  // no handler ran inside KVM_RUN
  sigset_t now;
  pthread_sigmask(SIG_SETMASK, nullptr, &now);
  EXPECT_EQ(sigismember(&now, SIGUSR1), 1);  // the caller's mask is untouched
  sigset_t pending;
  sigpending(&pending);
  EXPECT_EQ(sigismember(&pending, SIGUSR1), 1);  // still pending, as with KVM
  pthread_sigmask(SIG_SETMASK, &saved, nullptr);  // delivers it now
  sigaction(SIGUSR1, &old, nullptr);
  base::thread_kick().store(0);
}

}  // namespace
}  // namespace skvm::abi
