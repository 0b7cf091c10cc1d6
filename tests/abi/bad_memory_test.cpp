// Client memory that goes bad under a registered memslot (DESIGN.md, "Hard
// parts"): the client munmaps or protects a slot's memory and the guest
// touches it. KVM with hardware paging fails KVM_RUN with EFAULT
// (mmu.c: kvm_handle_bad_page); softkvm must do the same, survive, and run
// again once valid memory is registered.
//
// The host oracle on our machines emulates every instruction of these
// guests, and x86.c's emulator turns a failed guest-memory access into an
// MMIO exit (emulator_read_write_onepage) instead: HostAnswersWithEfaultOrMmio
// records what it says and checks it is one of KVM's two answers.
//
// These tests install signal handlers (softkvm's own, installed by the
// first KVM_CREATE_VCPU, and client-like ones that they restore): they live
// in abi_tests, where ctest runs every test in its own process, not in the
// hermetic unit suites. The chaining case needs softkvm's handler installed
// AFTER the client's, so it re-runs this binary in a fresh process.
#include <gtest/gtest.h>

#include <dlfcn.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "abi_context.h"
#include "softkvm/softkvm.h"

namespace skvm::test {
namespace {

constexpr uint64_t kDataGpa = 0x20000;  // slot 1, one page; ds = 0x2000
constexpr size_t kPage = 4096;

// Real mode at kRealEntry: mov ax, 0x2000; mov ds, ax; mov al, [0]; hlt.
const std::vector<uint8_t> kReadGuest = {0xb8, 0x00, 0x20, 0x8e, 0xd8, 0xa0, 0x00, 0x00, 0xf4};
// ... mov byte [0], 0x5a; hlt.
const std::vector<uint8_t> kWriteGuest = {0xb8, 0x00, 0x20, 0x8e, 0xd8, 0xc6,
                                          0x06, 0x00, 0x00, 0x5a, 0xf4};

uint8_t* map_page(int prot) {
  void* p = mmap(nullptr, kPage, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : static_cast<uint8_t*>(p);
}

// One VM with RAM at 0..64 KiB (code, stack) and vCPU 0.
class Machine {
 public:
  explicit Machine(const Backend& b) : vm_(b) {
    if (!vm_.error().empty()) {
      why_ = vm_.error();
      return;
    }
    if (vm_.add_ram(0, 0, 0x10000, 0, &why_) != nullptr) vcpu_ = vm_.create_vcpu(0, &why_);
  }
  const std::string& why() const { return why_; }
  bool ok() const { return vcpu_ != nullptr; }
  kvm_run* run_page() const { return vcpu_->run(); }

  // KVM_SET_USER_MEMORY_REGION of slot 1 at kDataGpa (mem null: delete).
  Result set_data(uint8_t* mem) {
    kvm_userspace_memory_region r = {};
    r.slot = 1;
    r.guest_phys_addr = kDataGpa;
    r.memory_size = mem ? kPage : 0;
    r.userspace_addr = addr(mem ? mem : data_);
    if (mem) data_ = mem;
    return vm_.vm_ioctl(KVM_SET_USER_MEMORY_REGION, &r);
  }

  // Loads `code` at kRealEntry, resets the vCPU to real mode there, runs.
  Result run(const std::vector<uint8_t>& code) {
    std::memcpy(vm_.host(kRealEntry, code.size()), code.data(), code.size());
    const std::string e = vcpu_->enter_mode(Mode::kReal, kRealEntry);
    if (!e.empty()) return {-1, -1};
    return vcpu_->ioctl(KVM_RUN, 0ul);
  }

  uint64_t rax() const {
    kvm_regs r = {};
    vcpu_->ioctl(KVM_GET_REGS, &r);
    return r.rax;
  }
  const Vcpu& vcpu() const { return *vcpu_; }

 private:
  Vm vm_;
  std::unique_ptr<Vcpu> vcpu_;
  std::string why_;
  uint8_t* data_ = nullptr;
};

#define SKVM_MACHINE(m, backend)                                   \
  SKVM_SKIP_IF_UNUSABLE(backend);                                  \
  Machine m(backend);                                              \
  ASSERT_TRUE(m.ok()) << (backend).name << ": " << m.why()

bool sigsegv_blocked() {
  sigset_t cur;
  pthread_sigmask(SIG_SETMASK, nullptr, &cur);
  return sigismember(&cur, SIGSEGV) == 1;
}

TEST(BadMemory, UnmappedSlotMemoryFailsKvmRunWithEfaultAndValidMemoryRunsAgain) {
  SKVM_MACHINE(m, kSoft);
  uint8_t* data = map_page(PROT_READ | PROT_WRITE);
  ASSERT_NE(data, nullptr);
  data[0] = 0x42;
  ASSERT_EQ(m.set_data(data).ret, 0);
  Result r = m.run(kReadGuest);
  ASSERT_EQ(r.ret, 0) << errno_string(r.err);
  EXPECT_EQ(m.run_page()->exit_reason, KVM_EXIT_HLT);
  EXPECT_EQ(m.rax() & 0xff, 0x42u);

  // The engine has the page in its soft TLB now: the next access faults.
  ASSERT_EQ(munmap(data, kPage), 0);
  m.run_page()->exit_reason = 0x77;
  r = m.run(kReadGuest);
  EXPECT_EQ(r.ret, -1);
  EXPECT_EQ(r.err, EFAULT);
  EXPECT_EQ(m.run_page()->exit_reason, 0x77u);  // untouched, as KVM 6.1
  EXPECT_FALSE(sigsegv_blocked());

  // Again (the fault handler stays in force), and a write too.
  EXPECT_EQ(m.run(kReadGuest).err, EFAULT);
  EXPECT_EQ(m.run(kWriteGuest).err, EFAULT);

  // A slot's userspace_addr cannot change in place (EINVAL): delete, re-add.
  ASSERT_EQ(m.set_data(nullptr).ret, 0);
  uint8_t* fresh = map_page(PROT_READ | PROT_WRITE);
  ASSERT_NE(fresh, nullptr);
  fresh[0] = 0x37;
  ASSERT_EQ(m.set_data(fresh).ret, 0);
  r = m.run(kReadGuest);
  ASSERT_EQ(r.ret, 0) << errno_string(r.err);
  EXPECT_EQ(m.run_page()->exit_reason, KVM_EXIT_HLT);
  EXPECT_EQ(m.rax() & 0xff, 0x37u);
  munmap(fresh, kPage);
}

TEST(BadMemory, MemoryUnmappedBeforeFirstUseFailsKvmRunWithEfault) {
  SKVM_MACHINE(m, kSoft);
  uint8_t* data = map_page(PROT_READ | PROT_WRITE);
  ASSERT_NE(data, nullptr);
  ASSERT_EQ(m.set_data(data).ret, 0);
  ASSERT_EQ(munmap(data, kPage), 0);
  const Result r = m.run(kReadGuest);
  EXPECT_EQ(r.ret, -1);
  EXPECT_EQ(r.err, EFAULT);
}

TEST(BadMemory, GuestWriteToReadOnlyMappedSlotFailsWithEfaultAndReadsWork) {
  SKVM_MACHINE(m, kSoft);
  uint8_t* data = map_page(PROT_READ | PROT_WRITE);
  ASSERT_NE(data, nullptr);
  data[0] = 0x11;
  ASSERT_EQ(mprotect(data, kPage, PROT_READ), 0);
  ASSERT_EQ(m.set_data(data).ret, 0);
  Result r = m.run(kReadGuest);
  ASSERT_EQ(r.ret, 0) << errno_string(r.err);
  EXPECT_EQ(m.run_page()->exit_reason, KVM_EXIT_HLT);
  EXPECT_EQ(m.rax() & 0xff, 0x11u);
  r = m.run(kWriteGuest);
  EXPECT_EQ(r.ret, -1);
  EXPECT_EQ(r.err, EFAULT);
  EXPECT_EQ(data[0], 0x11);
  // Writable again: the same write now lands.
  ASSERT_EQ(mprotect(data, kPage, PROT_READ | PROT_WRITE), 0);
  r = m.run(kWriteGuest);
  ASSERT_EQ(r.ret, 0) << errno_string(r.err);
  EXPECT_EQ(m.run_page()->exit_reason, KVM_EXIT_HLT);
  EXPECT_EQ(data[0], 0x5a);
  munmap(data, kPage);
}

TEST(BadMemory, ProtNoneSlotMemoryFailsGuestReadWithEfault) {
  SKVM_MACHINE(m, kSoft);
  uint8_t* data = map_page(PROT_NONE);
  ASSERT_NE(data, nullptr);
  ASSERT_EQ(m.set_data(data).ret, 0);
  const Result r = m.run(kReadGuest);
  EXPECT_EQ(r.ret, -1);
  EXPECT_EQ(r.err, EFAULT);
  munmap(data, kPage);
}

TEST(BadMemory, EfaultRestoresTheCallersSignalMaskAfterKvmSetSignalMask) {
  SKVM_MACHINE(m, kSoft);
  uint8_t* data = map_page(PROT_NONE);
  ASSERT_NE(data, nullptr);
  ASSERT_EQ(m.set_data(data).ret, 0);
  // The caller blocks SIGUSR2; the guest runs with nothing blocked.
  sigset_t usr2, before, after;
  sigemptyset(&usr2);
  sigaddset(&usr2, SIGUSR2);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &usr2, &before), 0);
  uint32_t mask[3] = {8, 0, 0};  // struct kvm_signal_mask: len, 8-byte sigset
  ASSERT_EQ(m.vcpu().ioctl(KVM_SET_SIGNAL_MASK, mask).ret, 0);
  const Result r = m.run(kReadGuest);
  pthread_sigmask(SIG_SETMASK, nullptr, &after);
  pthread_sigmask(SIG_SETMASK, &before, nullptr);
  EXPECT_EQ(r.err, EFAULT);
  EXPECT_EQ(sigismember(&after, SIGUSR2), 1);
  EXPECT_EQ(sigismember(&after, SIGSEGV), 0);
  munmap(data, kPage);
}

// KVM_SET_SREGS / KVM_SET_REGS in PAE paging mode reload the PDPTEs from
// guest memory (x86.c: __set_sregs -> load_pdptrs, whose failure is
// ignored): memory gone bad there must not kill the process either.
TEST(BadMemory, SetSregsWithPdptesInUnmappedMemorySucceedsAndTheProcessSurvives) {
  SKVM_MACHINE(m, kSoft);
  uint8_t* data = map_page(PROT_NONE);
  ASSERT_NE(data, nullptr);
  ASSERT_EQ(m.set_data(data).ret, 0);
  kvm_sregs s = {};
  ASSERT_EQ(m.vcpu().ioctl(KVM_GET_SREGS, &s).ret, 0);
  s.cr0 = 0x80000011;  // PG | ET | PE
  s.cr4 = 0x20;        // PAE
  s.cr3 = kDataGpa;    // the PDPTEs are in the PROT_NONE page
  Result r = m.vcpu().ioctl(KVM_SET_SREGS, &s);
  EXPECT_EQ(r.ret, 0) << errno_string(r.err);
  kvm_regs regs = {};
  regs.rflags = 2;
  r = m.vcpu().ioctl(KVM_SET_REGS, &regs);
  EXPECT_EQ(r.ret, 0) << errno_string(r.err);
  kvm_sregs back = {};
  ASSERT_EQ(m.vcpu().ioctl(KVM_GET_SREGS, &back).ret, 0);
  EXPECT_EQ(back.cr3, kDataGpa);
  EXPECT_EQ(back.cr4 & 0x20, 0x20u);
  // Readable again: the same KVM_SET_SREGS loads them.
  ASSERT_EQ(mprotect(data, kPage, PROT_READ | PROT_WRITE), 0);
  EXPECT_EQ(m.vcpu().ioctl(KVM_SET_SREGS, &s).ret, 0);
  munmap(data, kPage);
}

// ---- a client SIGSEGV handler installed after softkvm's --------------------

using HandleFaultFn = int (*)(int, void*, void*);
HandleFaultFn g_handle_fault = nullptr;
uint8_t* g_own_page = nullptr;
int g_own_faults = 0;

// What softkvm.h asks of such a handler: offer the fault first, then handle
// the client's own faults (here: make its page accessible and retry).
void client_handler(int sig, siginfo_t* info, void* ucontext) {
  if (g_handle_fault) g_handle_fault(sig, info, ucontext);
  if (info->si_addr == g_own_page) {
    ++g_own_faults;
    mprotect(g_own_page, kPage, PROT_READ | PROT_WRITE);
    return;
  }
  signal(sig, SIG_DFL);
}

HandleFaultFn soft_handle_fault() {
  // libsoftkvm.so was dlopen()ed by the test support (RTLD_LOCAL): find it
  // again by its soname.
  void* h = dlopen("libsoftkvm.so", RTLD_NOW | RTLD_NOLOAD);
  if (h == nullptr) return nullptr;
  // SAFETY: the symbol is skvm_handle_fault of include/softkvm/softkvm.h.
  return reinterpret_cast<HandleFaultFn>(dlsym(h, "skvm_handle_fault"));
}

TEST(BadMemory, ClientHandlerThatOffersFaultsToSoftkvmKeepsEfaultAndGetsItsOwnFaults) {
  SKVM_MACHINE(m, kSoft);
  g_handle_fault = soft_handle_fault();
  ASSERT_NE(g_handle_fault, nullptr) << "skvm_handle_fault not found: " << dlerror();
  uint8_t* data = map_page(PROT_NONE);
  g_own_page = map_page(PROT_NONE);
  ASSERT_NE(data, nullptr);
  ASSERT_NE(g_own_page, nullptr);
  ASSERT_EQ(m.set_data(data).ret, 0);
  struct sigaction act = {}, old = {};
  act.sa_sigaction = client_handler;
  act.sa_flags = SA_SIGINFO;
  sigemptyset(&act.sa_mask);
  ASSERT_EQ(sigaction(SIGSEGV, &act, &old), 0);

  const Result r = m.run(kReadGuest);
  g_own_faults = 0;
  static_cast<volatile uint8_t*>(g_own_page)[0] = 7;  // the client's own fault
  sigaction(SIGSEGV, &old, nullptr);
  EXPECT_EQ(r.err, EFAULT);
  EXPECT_EQ(g_own_faults, 1);
  EXPECT_EQ(g_own_page[0], 7);
  munmap(g_own_page, kPage);
  munmap(data, kPage);
}

// ---- softkvm's handler installed after the client's -------------------------

// Run only as a child of FaultOutsideGuestMemoryReachesTheClientHandlerInstalledBefore
// (a fresh process, so that softkvm's handler is installed after this one).
TEST(BadMemory, DISABLED_ChainingChild) {
  g_own_page = map_page(PROT_NONE);
  ASSERT_NE(g_own_page, nullptr);
  struct sigaction act = {};
  act.sa_sigaction = client_handler;  // g_handle_fault null: plain client
  act.sa_flags = SA_SIGINFO;
  sigemptyset(&act.sa_mask);
  ASSERT_EQ(sigaction(SIGSEGV, &act, nullptr), 0);
  SKVM_MACHINE(m, kSoft);  // the first KVM_CREATE_VCPU installs softkvm's handler
  uint8_t* data = map_page(PROT_NONE);
  ASSERT_EQ(m.set_data(data).ret, 0);
  EXPECT_EQ(m.run(kReadGuest).err, EFAULT);
  static_cast<volatile uint8_t*>(g_own_page)[0] = 9;
  EXPECT_EQ(g_own_faults, 1);
  EXPECT_EQ(g_own_page[0], 9);
}

TEST(BadMemory, FaultOutsideGuestMemoryReachesTheClientHandlerInstalledBefore) {
  SKVM_SKIP_IF_UNUSABLE(kSoft);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    execl("/proc/self/exe", "abi_tests", "--gtest_also_run_disabled_tests",
          "--gtest_filter=BadMemory.DISABLED_ChainingChild", static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "child killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

// ---- the host's answer --------------------------------------------------------

std::string answer(const Machine& m, const Result& r) {
  if (r.ret < 0) return "-1/" + errno_string(r.err);
  std::string s = "exit_reason " + std::to_string(m.run_page()->exit_reason);
  if (m.run_page()->exit_reason == KVM_EXIT_MMIO)
    s += " (MMIO at " + std::to_string(m.run_page()->mmio.phys_addr) + ")";
  return s;
}

// KVM's two answers to a guest access to client memory gone bad: EFAULT
// (hardware page-fault path) or an MMIO exit at the address (instruction
// emulator path).
void expect_kvm_answer(const Machine& m, const Result& r, const char* what) {
  std::printf("host /dev/kvm, %s: %s\n", what, answer(m, r).c_str());
  const bool efault = r.ret == -1 && r.err == EFAULT;
  const bool mmio = r.ret == 0 && m.run_page()->exit_reason == KVM_EXIT_MMIO &&
                    m.run_page()->mmio.phys_addr == kDataGpa;
  EXPECT_TRUE(efault || mmio) << what << ": " << answer(m, r);
}

TEST(BadMemory, HostAnswersWithEfaultOrMmio) {
  {
    SKVM_MACHINE(m, kHost);
    uint8_t* data = map_page(PROT_READ | PROT_WRITE);
    ASSERT_EQ(m.set_data(data).ret, 0);
    ASSERT_EQ(m.run(kReadGuest).ret, 0);
    ASSERT_EQ(munmap(data, kPage), 0);
    expect_kvm_answer(m, m.run(kReadGuest), "read after munmap");
  }
  {
    SKVM_MACHINE(m, kHost);
    uint8_t* data = map_page(PROT_READ);
    ASSERT_EQ(m.set_data(data).ret, 0);
    expect_kvm_answer(m, m.run(kWriteGuest), "write to a PROT_READ mapping");
    munmap(data, kPage);
  }
  {
    SKVM_MACHINE(m, kHost);
    uint8_t* data = map_page(PROT_NONE);
    ASSERT_EQ(m.set_data(data).ret, 0);
    expect_kvm_answer(m, m.run(kReadGuest), "read of a PROT_NONE mapping");
    munmap(data, kPage);
  }
}

}  // namespace
}  // namespace skvm::test
