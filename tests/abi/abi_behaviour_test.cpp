// ABI cases that need more than one call: capabilities checked against
// behaviour, dirty-page tracking of a running guest, signal delivery during
// KVM_RUN (each on both backends), and fresh-vCPU state compared between
// the backends byte for byte (AbiDiff).
#include <gtest/gtest.h>

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <thread>

#include "abi_context.h"

namespace skvm::test {
namespace {

const std::set<std::string>& known_failures() {
  static const std::set<std::string> known = load_known_failures(SKVM_ABI_KNOWN_FAILURES);
  return known;
}

std::string key(const char* test, const Backend& b) {
  return std::string("abi/") + test + "/" + b.name;
}

class AbiBehaviour : public testing::TestWithParam<const Backend*> {};

// api.rst: KVM_CAP_NR_MEMSLOTS, KVM_CAP_NR_VCPUS, KVM_CAP_MAX_VCPUS,
// KVM_CAP_MAX_VCPU_ID: the answers bound what KVM_SET_USER_MEMORY_REGION
// and KVM_CREATE_VCPU accept.
TEST_P(AbiBehaviour, CapabilityLimitsMatchWhatCreationAccepts) {
  const Backend& b = *GetParam();
  SKVM_SKIP_IF_UNUSABLE(b);
  Verdict v(key("CapabilityLimitsMatchWhatCreationAccepts", b), known_failures());
  AbiContext c(b, v);
  if (!v.ok()) return;
  int slots = c.vm().vm_ioctl(KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS).ret;
  int nr = c.vm().vm_ioctl(KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS).ret;
  int max = c.vm().vm_ioctl(KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS).ret;
  int max_id = c.vm().vm_ioctl(KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPU_ID).ret;
  if (slots < 1 || nr < 1 || max < nr || max_id < max) {
    v.fail("inconsistent caps: NR_MEMSLOTS " + std::to_string(slots) + " NR_VCPUS " +
           std::to_string(nr) + " MAX_VCPUS " + std::to_string(max) + " MAX_VCPU_ID " +
           std::to_string(max_id));
    return;
  }
  Result r = c.set_region(slots - 1, 0x100000, 0x1000, 0);
  v.expect_eq(r.ret, 0, "slot NR_MEMSLOTS-1");
  r = c.set_region(slots, 0x200000, 0x1000, 0);
  v.expect_eq(r.err, EINVAL, "slot NR_MEMSLOTS errno");
  // Ids 0..max-1 all succeed (fds closed at once: the vCPUs stay in the VM).
  for (int id = 0; id < max; ++id) {
    r = c.vm().vm_ioctl(KVM_CREATE_VCPU, static_cast<unsigned long>(id));
    if (r.ret < 0) {
      v.fail("KVM_CREATE_VCPU " + std::to_string(id) + " of MAX_VCPUS " + std::to_string(max) +
             ": " + errno_string(r.err));
      return;
    }
    b.close(r.ret);
  }
  r = c.vm().vm_ioctl(KVM_CREATE_VCPU, static_cast<unsigned long>(max));
  v.expect_eq(r.ret, -1, "vCPU number MAX_VCPUS+1 return");
  v.expect_eq(r.err, EINVAL, "vCPU number MAX_VCPUS+1 errno");
}

// api.rst: KVM_GET_DIRTY_LOG. A real-mode guest writes pages 0, 3 and 15 of
// a logged 16-page slot: the bitmap has exactly those bits, and the next
// KVM_GET_DIRTY_LOG (the log was cleared by the first) has none.
TEST_P(AbiBehaviour, DirtyLogHasExactlyTheGuestWrittenPagesThenClears) {
  const Backend& b = *GetParam();
  SKVM_SKIP_IF_UNUSABLE(b);
  Verdict v(key("DirtyLogHasExactlyTheGuestWrittenPagesThenClears", b), known_failures());
  AbiContext c(b, v);
  if (!v.ok()) return;
  std::string why;
  uint8_t* low = c.vm().add_ram(0, 0, 0x20000, 0, &why);
  if (low == nullptr || !c.vm().add_ram(1, 0x20000, 0x10000, KVM_MEM_LOG_DIRTY_PAGES, &why)) {
    v.fail("setup: " + why);
    return;
  }
  static constexpr uint8_t kCode[] = {
      0xb8, 0x00, 0x20,                          // mov ax, 0x2000
      0x8e, 0xc0,                                // mov es, ax
      0x26, 0xc6, 0x06, 0x00, 0x00, 0x01,        // mov byte [es:0x0000], 1
      0x26, 0xc6, 0x06, 0x00, 0x30, 0x02,        // mov byte [es:0x3000], 2
      0x26, 0xc6, 0x06, 0x00, 0xf0, 0x03,        // mov byte [es:0xf000], 3
      0xf4,                                      // hlt
  };
  std::memcpy(low + kRealEntry, kCode, sizeof kCode);
  Vcpu* vcpu = c.vcpu();
  if (vcpu == nullptr) return;
  why = vcpu->enter_mode(Mode::kReal, kRealEntry);
  if (!why.empty()) {
    v.fail("setup: " + why);
    return;
  }
  Result r = vcpu->ioctl(KVM_RUN, 0UL);
  v.expect_eq(r.ret, 0, "KVM_RUN");
  v.expect_eq(vcpu->run()->exit_reason, uint32_t{KVM_EXIT_HLT}, "exit_reason");
  uint64_t bitmap[4] = {~0ULL, ~0ULL, ~0ULL, ~0ULL};
  kvm_dirty_log log{};
  log.slot = 1;
  log.dirty_bitmap = bitmap;
  r = c.vm().vm_ioctl(KVM_GET_DIRTY_LOG, &log);
  v.expect_eq(r.ret, 0, "first KVM_GET_DIRTY_LOG");
  v.expect_eq(bitmap[0], uint64_t{(1u << 0) | (1u << 3) | (1u << 15)}, "first bitmap");
  bitmap[0] = ~0ULL;
  r = c.vm().vm_ioctl(KVM_GET_DIRTY_LOG, &log);
  v.expect_eq(r.ret, 0, "second KVM_GET_DIRTY_LOG");
  v.expect_eq(bitmap[0], uint64_t{0}, "second bitmap");
}

// DESIGN.md "Host writes into guest RAM": the client patches guest code
// between two KVM_RUNs (same gpa, new immediate) and the second run must
// execute the new bytes, not a stale decode.
TEST_P(AbiBehaviour, HostWriteToGuestCodeBetweenRunsIsExecuted) {
  const Backend& b = *GetParam();
  SKVM_SKIP_IF_UNUSABLE(b);
  Verdict v(key("HostWriteToGuestCodeBetweenRunsIsExecuted", b), known_failures());
  AbiContext c(b, v);
  if (!v.ok()) return;
  std::string why;
  uint8_t* low = c.vm().add_ram(0, 0, 0x10000, 0, &why);
  Vcpu* vcpu = low ? c.vcpu() : nullptr;
  if (vcpu == nullptr) {
    v.fail("setup: " + why);
    return;
  }
  static constexpr uint8_t kCode[] = {0xb8, 0x01, 0x00, 0xf4};  // mov ax, 1; hlt
  std::memcpy(low + kRealEntry, kCode, sizeof kCode);
  for (int pass = 1; pass <= 2; ++pass) {
    low[kRealEntry + 1] = static_cast<uint8_t>(pass);  // mov ax, <pass>
    why = vcpu->enter_mode(Mode::kReal, kRealEntry);
    if (!why.empty()) {
      v.fail("setup: " + why);
      return;
    }
    Result r = vcpu->ioctl(KVM_RUN, 0UL);
    v.expect_eq(r.ret, 0, "KVM_RUN");
    v.expect_eq(vcpu->run()->exit_reason, uint32_t{KVM_EXIT_HLT}, "exit_reason");
    kvm_regs regs{};
    c.must(vcpu->ioctl(KVM_GET_REGS, &regs), "KVM_GET_REGS");
    v.expect_eq(regs.rax, static_cast<uint64_t>(pass), "rax after run " + std::to_string(pass));
  }
}

// DESIGN.md "Client memory that goes bad": the host memory behind a slot
// is unmapped by the client, then the guest stores to it. The process must
// not die; KVM answers in one of two ways depending on the path that sees
// the fault: -1/EFAULT from KVM_RUN (the MMU faulting the page in, as on
// EPT/NPT hosts), or, when the instruction is emulated (as on this
// machine's KVM: the emulator's copy to the user address fails and
// emulator_read_write_onepage falls back to MMIO), a KVM_EXIT_MMIO write
// of the store. Both are accepted; anything else fails.
// Runs in a child process (which opens its own KVM handles: KVM refuses a
// VM's fds in another mm with EIO). Exit code: kEfault, kMmio, kOther or
// kSetupFailed (distinct from 0/1, which a crash handler such as ASan's may
// use).
enum ChildResult { kEfault = 40, kMmio, kIntr, kOther, kSetupFailed };
int store_to_unmapped_slot(const Backend& b) {
  Vm vm(b);
  std::string why;
  uint8_t* low = vm.error().empty() ? vm.add_ram(0, 0, 0x10000, 0, &why) : nullptr;
  void* gone = mmap(nullptr, 0x1000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  kvm_userspace_memory_region slot{1, 0, 0x20000, 0x1000, addr(gone)};
  if (low == nullptr || gone == MAP_FAILED || vm.vm_ioctl(KVM_SET_USER_MEMORY_REGION, &slot).ret) {
    return kSetupFailed;
  }
  auto vcpu = vm.create_vcpu(0, &why);
  if (!vcpu || !vcpu->enter_mode(Mode::kReal, kRealEntry).empty()) return kSetupFailed;
  static constexpr uint8_t kCode[] = {
      0xb8, 0x00, 0x20,                    // mov ax, 0x2000
      0x8e, 0xd8,                          // mov ds, ax
      0xc6, 0x06, 0x00, 0x00, 0x01,        // mov byte [0], 1   (gpa 0x20000)
      0xf4,                                // hlt
  };
  std::memcpy(low + kRealEntry, kCode, sizeof kCode);
  munmap(gone, 0x1000);
  Result r = vcpu->ioctl(KVM_RUN, 0UL);
  const kvm_run* run = vcpu->run();
  if (r.ret == -1 && r.err == EFAULT) return kEfault;
  bool mmio = r.ret == 0 && run->exit_reason == KVM_EXIT_MMIO && run->mmio.is_write &&
              run->mmio.phys_addr == 0x20000 && run->mmio.len == 1 && run->mmio.data[0] == 1;
  return mmio ? kMmio : kOther;
}

TEST_P(AbiBehaviour, GuestStoreToUnmappedSlotMemoryIsEFAULTOrMmio) {
  const Backend& b = *GetParam();
  SKVM_SKIP_IF_UNUSABLE(b);
  Verdict v(key("GuestStoreToUnmappedSlotMemoryIsEFAULTOrMmio", b), known_failures());
  // A child process, so that a backend that dies on the fault is reported
  // as a failure of this case instead of killing the suite.
  pid_t child = fork();
  if (child == 0) _exit(store_to_unmapped_slot(b));
  int status = 0;
  if (child < 0 || waitpid(child, &status, 0) != child) {
    v.fail("setup: fork/waitpid failed");
  } else if (WIFSIGNALED(status)) {
    v.fail("KVM_RUN killed the process with signal " + std::to_string(WTERMSIG(status)) + " (" +
           strsignal(WTERMSIG(status)) + ")");
  } else if (WEXITSTATUS(status) == kSetupFailed) {
    v.fail("setup failed in the child process");
  } else if (WEXITSTATUS(status) == kOther) {
    v.fail("KVM_RUN neither failed with EFAULT nor exited with a KVM_EXIT_MMIO write of 1 at 0x20000");
  } else if (WEXITSTATUS(status) != kEfault && WEXITSTATUS(status) != kMmio) {
    v.fail("the child process exited with status " + std::to_string(WEXITSTATUS(status)) +
           " (a crash caught by a sanitizer?)");
  }
}

// The backend whose KVM_RUN the signal handler must end (see
// Backend::signal_notify).
std::atomic<void (*)()> g_signal_notify{nullptr};

void on_sigusr1(int) {
  if (auto notify = g_signal_notify.load()) notify();
}

// Child side of SignalDuringRunIsEINTRWithExitIntr: a guest spinning in
// `jmp $`; a second thread sends SIGUSR1 (handler installed, no SA_RESTART)
// to the vCPU thread while it is in KVM_RUN.
int signal_during_run(const Backend& b) {
  Vm vm(b);
  std::string why;
  uint8_t* low = vm.error().empty() ? vm.add_ram(0, 0, 0x10000, 0, &why) : nullptr;
  auto vcpu = low ? vm.create_vcpu(0, &why) : nullptr;
  if (!vcpu || !vcpu->enter_mode(Mode::kReal, kRealEntry).empty()) return kSetupFailed;
  low[kRealEntry] = 0xeb;  // jmp $
  low[kRealEntry + 1] = 0xfe;
  g_signal_notify.store(b.signal_notify);
  struct sigaction sa {};
  sa.sa_handler = on_sigusr1;
  sigaction(SIGUSR1, &sa, nullptr);
  pthread_t vcpu_thread = pthread_self();
  std::thread kicker([vcpu_thread] {
    usleep(100 * 1000);  // let KVM_RUN start
    pthread_kill(vcpu_thread, SIGUSR1);
  });
  Result r = vcpu->ioctl(KVM_RUN, 0UL);
  kicker.join();
  bool intr = r.ret == -1 && r.err == EINTR && vcpu->run()->exit_reason == KVM_EXIT_INTR;
  return intr ? kIntr : kOther;
}

// api.rst: KVM_SET_SIGNAL_MASK and KVM_RUN: a signal blocked in the thread
// but unblocked by the vCPU's mask, pending at KVM_RUN, makes KVM_RUN fail
// with EINTR and exit_reason KVM_EXIT_INTR.
TEST_P(AbiBehaviour, PendingSignalRunIsEINTRWithExitIntr) {
  const Backend& b = *GetParam();
  SKVM_SKIP_IF_UNUSABLE(b);
  Verdict v(key("PendingSignalRunIsEINTRWithExitIntr", b), known_failures());
  AbiContext c(b, v);
  if (!v.ok()) return;
  std::string why;
  uint8_t* low = c.vm().add_ram(0, 0, 0x10000, 0, &why);
  Vcpu* vcpu = low ? c.vcpu() : nullptr;
  if (vcpu == nullptr || !(why = vcpu->enter_mode(Mode::kReal, kRealEntry)).empty()) {
    v.fail("setup: " + why);
    return;
  }
  low[kRealEntry] = 0xf4;  // hlt, never reached
  g_signal_notify.store(b.signal_notify);  // as a client of the C ABI does
  struct sigaction sa {}, old_sa{};
  sa.sa_handler = on_sigusr1;
  sigaction(SIGUSR1, &sa, &old_sa);
  sigset_t block, old_mask;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &block, &old_mask);
  raise(SIGUSR1);  // pending: blocked in the thread
  // The mask in force while the guest runs: nothing blocked.
  alignas(8) uint8_t buf[sizeof(kvm_signal_mask) + 8] = {};
  // SAFETY: buf holds the 4-byte header plus the 8-byte sigset.
  auto* mask = reinterpret_cast<kvm_signal_mask*>(buf);
  mask->len = 8;
  Result r = vcpu->ioctl(KVM_SET_SIGNAL_MASK, mask);
  v.expect_eq(r.ret, 0, "KVM_SET_SIGNAL_MASK");
  r = vcpu->ioctl(KVM_RUN, 0UL);
  v.expect_eq(r.ret, -1, "KVM_RUN return");
  v.expect_eq(r.err, EINTR, "KVM_RUN errno");
  v.expect_eq(vcpu->run()->exit_reason, uint32_t{KVM_EXIT_INTR}, "exit_reason");
  // Consume the signal if it is still pending, then restore the thread.
  sigset_t pending;
  sigpending(&pending);
  if (sigismember(&pending, SIGUSR1)) {
    timespec zero{};
    sigtimedwait(&block, nullptr, &zero);
  }
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  sigaction(SIGUSR1, &old_sa, nullptr);
  g_signal_notify.store(nullptr);
}

// api.rst KVM_RUN; DESIGN.md "Signals and KVM_RUN": a signal delivered to
// the vCPU thread while the guest runs ends KVM_RUN with -1/EINTR and
// exit_reason KVM_EXIT_INTR (how QEMU kicks a vCPU). Run in a child process
// with a 5 s limit, so a backend that never returns fails this case only.
TEST_P(AbiBehaviour, SignalDuringRunIsEINTRWithExitIntr) {
  const Backend& b = *GetParam();
  SKVM_SKIP_IF_UNUSABLE(b);
  Verdict v(key("SignalDuringRunIsEINTRWithExitIntr", b), known_failures());
  pid_t child = fork();
  if (child == 0) _exit(signal_during_run(b));
  int status = 0;
  pid_t done = 0;
  for (int i = 0; i < 500 && (done = waitpid(child, &status, WNOHANG)) == 0; ++i) usleep(10 * 1000);
  if (done == 0) {
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
    v.fail("KVM_RUN was still running 5 s after the signal");
  } else if (done != child) {
    v.fail("setup: fork/waitpid failed");
  } else if (WIFSIGNALED(status)) {
    v.fail("the process died with signal " + std::to_string(WTERMSIG(status)));
  } else if (WEXITSTATUS(status) == kSetupFailed) {
    v.fail("setup failed in the child process");
  } else if (WEXITSTATUS(status) != kIntr) {
    v.fail("KVM_RUN returned, but not -1/EINTR with exit_reason KVM_EXIT_INTR (child status " +
           std::to_string(WEXITSTATUS(status)) + ")");
  }
}

INSTANTIATE_TEST_SUITE_P(Kvm, AbiBehaviour, testing::Values(&kSoft, &kHost),
                         [](const testing::TestParamInfo<const Backend*>& info) {
                           return std::string(info.param->name);
                         });

// ---- Both backends side by side (STYLE.md rule 4) ----

#define SKVM_SKIP_UNLESS_BOTH()   \
  SKVM_SKIP_IF_UNUSABLE(kHost);   \
  SKVM_SKIP_IF_UNUSABLE(kSoft)

template <class T>
void expect_same_bytes(Verdict& v, const T& soft, const T& host, const char* what) {
  // SAFETY: byte view of a <linux/kvm.h> POD struct, within sizeof(T).
  const auto* s = reinterpret_cast<const uint8_t*>(&soft);
  const auto* h = reinterpret_cast<const uint8_t*>(&host);
  for (size_t i = 0; i < sizeof(T); ++i) {
    if (s[i] != h[i]) {
      v.fail(std::string(what) + " differs first at byte offset " + std::to_string(i) + ": soft " +
             hex(s[i]) + ", host " + hex(h[i]));
      return;
    }
  }
}

TEST(AbiDiff, VcpuMmapSizeEqualsHost) {
  SKVM_SKIP_UNLESS_BOTH();
  Verdict v("abi/VcpuMmapSizeEqualsHost/diff", known_failures());
  Vm soft(kSoft), host(kHost);
  v.expect_eq(soft.sys_ioctl(KVM_GET_VCPU_MMAP_SIZE, 0).ret,
              host.sys_ioctl(KVM_GET_VCPU_MMAP_SIZE, 0).ret, "KVM_GET_VCPU_MMAP_SIZE");
}

// A fresh vCPU's KVM_GET_REGS, KVM_GET_SREGS, KVM_GET_FPU and
// KVM_GET_MP_STATE are byte-identical on both backends. No field is
// excluded: the reset state is architectural (SDM Vol. 3A, 9.1.1) plus
// KVM's choices (RDX = 0x600 without CPUID, APIC base 0xfee00900).
TEST(AbiDiff, FreshVcpuStateIsByteIdenticalToHost) {
  SKVM_SKIP_UNLESS_BOTH();
  Verdict v("abi/FreshVcpuStateIsByteIdenticalToHost/diff", known_failures());
  Vm soft_vm(kSoft), host_vm(kHost);
  std::string why;
  auto soft = soft_vm.create_vcpu(0, &why);
  auto host = soft ? host_vm.create_vcpu(0, &why) : nullptr;
  if (!soft || !host) {
    v.fail("setup: " + why);
    return;
  }
  kvm_regs regs[2]{};
  kvm_sregs sregs[2]{};
  kvm_fpu fpu[2]{};
  kvm_mp_state mp[2]{};
  Vcpu* both[2] = {soft.get(), host.get()};
  for (int i = 0; i < 2; ++i) {
    const char* n = i == 0 ? "soft " : "host ";
    if (both[i]->ioctl(KVM_GET_REGS, &regs[i]).ret != 0) v.fail(std::string(n) + "KVM_GET_REGS");
    if (both[i]->ioctl(KVM_GET_SREGS, &sregs[i]).ret != 0) v.fail(std::string(n) + "KVM_GET_SREGS");
    if (both[i]->ioctl(KVM_GET_FPU, &fpu[i]).ret != 0) v.fail(std::string(n) + "KVM_GET_FPU");
    if (both[i]->ioctl(KVM_GET_MP_STATE, &mp[i]).ret != 0) v.fail(std::string(n) + "KVM_GET_MP_STATE");
  }
  expect_same_bytes(v, regs[0], regs[1], "kvm_regs");
  expect_same_bytes(v, sregs[0], sregs[1], "kvm_sregs");
  expect_same_bytes(v, fpu[0], fpu[1], "kvm_fpu");
  expect_same_bytes(v, mp[0], mp[1], "kvm_mp_state");
}

}  // namespace
}  // namespace skvm::test
