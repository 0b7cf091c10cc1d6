/*
 * kvm_signal: a KVM client that kicks its vCPU out of KVM_RUN with signals,
 * the way QEMU does, written only against <linux/kvm.h>. The guest spins
 * forever (jmp $); a periodic SIGALRM must make KVM_RUN return -1/EINTR with
 * exit_reason KVM_EXIT_INTR. Checked for a handler installed by sigaction()
 * with SA_SIGINFO and one installed by signal(), plus sigaction()'s oldact
 * (the client's handler, never a wrapper) and kvm_run.immediate_exit.
 * Under `softkvm exec` this exercises the preload shim's handler wrapping.
 *
 * Exit status: 0 when every check passed, 77 when /dev/kvm is unusable,
 * 1 otherwise. The output is compared with the host's by the ctest.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <unistd.h>

#define MEM_SIZE 0x10000
#define GUEST_ADDR 0x1000

static volatile sig_atomic_t g_siginfo_calls;
static volatile sig_atomic_t g_plain_calls;
static volatile sig_atomic_t g_usr1_calls;

static void on_usr1(int sig) {
  if (sig == SIGUSR1) g_usr1_calls++;
}

static void on_alarm_siginfo(int sig, siginfo_t* info, void* context) {
  (void)context;
  if (sig == SIGALRM && info != NULL && info->si_signo == SIGALRM) g_siginfo_calls++;
}

static void on_alarm_plain(int sig) {
  if (sig == SIGALRM) g_plain_calls++;
}

static void set_timer(long usec) {
  struct itimerval t;
  memset(&t, 0, sizeof t);
  t.it_value.tv_usec = usec;
  t.it_interval.tv_usec = usec;  /* periodic: a tick before KVM_RUN is not lost */
  setitimer(ITIMER_REAL, &t, NULL);
}

static const char* errno_name(int err) {
  switch (err) {
    case EINTR: return "EINTR";
    case EAGAIN: return "EAGAIN";
    default: return "other";
  }
}

static int check(int ok, const char* what) {
  printf("%s: %s\n", what, ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}

/* Runs the vCPU once; reports return value, errno and exit reason (which
 * must become KVM_EXIT_INTR for a signal; real KVM leaves it untouched for
 * immediate_exit, so it is only printed, and compared with the host). */
static int run_once(int vcpu, struct kvm_run* run, const char* label, int want_intr) {
  run->exit_reason = KVM_EXIT_UNKNOWN;
  int r = ioctl(vcpu, KVM_RUN, 0UL);
  int err = errno;
  printf("%s: KVM_RUN = %d (%s), exit_reason %u\n", label, r, r < 0 ? errno_name(err) : "-",
         run->exit_reason);
  return r < 0 && err == EINTR && (!want_intr || run->exit_reason == KVM_EXIT_INTR) ? 0 : 1;
}

int main(void) {
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) {
    fprintf(stderr, "kvm_signal: open /dev/kvm: %s\n", strerror(errno));
    return 77;
  }
  int vm = ioctl(kvm, KVM_CREATE_VM, 0UL);
  if (vm < 0) {
    fprintf(stderr, "kvm_signal: KVM_CREATE_VM: %s\n", strerror(errno));
    return 77;
  }
  uint8_t* mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return 1;
  mem[GUEST_ADDR] = 0xeb; /* jmp $ */
  mem[GUEST_ADDR + 1] = 0xfe;
  struct kvm_userspace_memory_region region = {
      .slot = 0, .guest_phys_addr = 0, .memory_size = MEM_SIZE,
      .userspace_addr = (uint64_t)(uintptr_t)mem,
  };
  int vcpu = -1;
  int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0 ||
      (vcpu = ioctl(vm, KVM_CREATE_VCPU, 0UL)) < 0 || run_size <= 0) {
    fprintf(stderr, "kvm_signal: VM setup: %s\n", strerror(errno));
    return 1;
  }
  struct kvm_run* run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
  struct kvm_sregs sregs;
  struct kvm_regs regs;
  memset(&regs, 0, sizeof regs);
  regs.rip = GUEST_ADDR;
  regs.rflags = 0x2;
  if (run == MAP_FAILED || ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) return 1;
  sregs.cs.base = 0;
  sregs.cs.selector = 0;
  if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0 || ioctl(vcpu, KVM_SET_REGS, &regs) < 0) return 1;

  int failures = 0;

  /* 1. SA_SIGINFO handler installed with sigaction(). */
  struct sigaction act;
  memset(&act, 0, sizeof act);
  act.sa_sigaction = on_alarm_siginfo;
  act.sa_flags = SA_SIGINFO;
  sigemptyset(&act.sa_mask);
  failures += check(sigaction(SIGALRM, &act, NULL) == 0, "sigaction(SIGALRM, SA_SIGINFO)");
  struct sigaction old;
  memset(&old, 0, sizeof old);
  failures += check(sigaction(SIGALRM, NULL, &old) == 0 && (old.sa_flags & SA_SIGINFO) &&
                        old.sa_sigaction == on_alarm_siginfo,
                    "oldact is the client's sa_sigaction");
  set_timer(20000);
  failures += run_once(vcpu, run, "SIGALRM via sigaction", 1);
  set_timer(0);
  failures += check(g_siginfo_calls >= 1, "sa_sigaction handler ran with siginfo");

  /* 2. Plain handler installed with signal(); the old one comes back. */
  void (*previous)(int) = signal(SIGALRM, on_alarm_plain);
  /* signal() returns the handler word, which here holds the sa_sigaction. */
  failures += check((void*)previous == (void*)on_alarm_siginfo,
                    "signal() returns the previous client handler");
  memset(&old, 0, sizeof old);
  failures += check(sigaction(SIGALRM, NULL, &old) == 0 && !(old.sa_flags & SA_SIGINFO) &&
                        old.sa_handler == on_alarm_plain,
                    "oldact is the client's sa_handler");
  set_timer(20000);
  failures += run_once(vcpu, run, "SIGALRM via signal", 1);
  set_timer(0);
  failures += check(g_plain_calls >= 1, "plain handler ran");

  /* 3. SIG_IGN is not wrapped and reads back as SIG_IGN. */
  signal(SIGALRM, SIG_IGN);
  memset(&old, 0, sizeof old);
  failures += check(sigaction(SIGALRM, NULL, &old) == 0 && old.sa_handler == SIG_IGN,
                    "SIG_IGN reads back as SIG_IGN");

  /* 3b. SIG_IGN in the handler word with SA_SIGINFO set is still SIG_IGN:
   * the signal is ignored (a wrapper would call address 1 and crash). */
  memset(&act, 0, sizeof act);
  act.sa_handler = SIG_IGN;
  act.sa_flags = SA_SIGINFO;
  sigemptyset(&act.sa_mask);
  failures += check(sigaction(SIGUSR2, &act, NULL) == 0 && raise(SIGUSR2) == 0,
                    "SA_SIGINFO with SIG_IGN ignores the signal");

  /* 3c. QEMU's SIG_IPI pattern. api.rst: KVM_SET_SIGNAL_MASK: SIGUSR1 is
   * blocked in the thread and already pending; the mask in force during
   * KVM_RUN unblocks it, so KVM_RUN returns -1/EINTR, KVM_EXIT_INTR. */
  memset(&act, 0, sizeof act);
  act.sa_handler = on_usr1;
  sigemptyset(&act.sa_mask);
  sigaction(SIGUSR1, &act, NULL);
  sigset_t block, saved;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &block, &saved);
  raise(SIGUSR1);
  union {
    struct kvm_signal_mask hdr;
    uint8_t bytes[sizeof(struct kvm_signal_mask) + 8];
  } mask;
  memset(&mask, 0, sizeof mask);
  mask.hdr.len = 8; /* the kernel's sigset_t: nothing blocked while running */
  failures += check(ioctl(vcpu, KVM_SET_SIGNAL_MASK, &mask) == 0, "KVM_SET_SIGNAL_MASK");
  failures += run_once(vcpu, run, "pending SIGUSR1 unblocked by KVM_SET_SIGNAL_MASK", 1);
  failures += check(ioctl(vcpu, KVM_SET_SIGNAL_MASK, NULL) == 0, "KVM_SET_SIGNAL_MASK(NULL)");
  pthread_sigmask(SIG_SETMASK, &saved, NULL);
  /* Real KVM leaves the signal pending until the thread unblocks it (just
   * above); softkvm has already delivered it inside KVM_RUN. Either way it
   * has run exactly once now. */
  failures += check(g_usr1_calls == 1, "SIGUSR1 handler ran once");

  /* 4. api.rst: immediate_exit makes KVM_RUN return -1/EINTR at once. */
  if (ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_IMMEDIATE_EXIT) > 0) {
    run->immediate_exit = 1;
    failures += run_once(vcpu, run, "immediate_exit", 0);
    run->immediate_exit = 0;
  } else {
    printf("immediate_exit: KVM_CAP_IMMEDIATE_EXIT missing\n");
    failures++;
  }

  printf("%s\n", failures ? "FAILED" : "all checks passed");
  munmap(run, (size_t)run_size);
  munmap(mem, MEM_SIZE);
  close(vcpu);
  close(vm);
  close(kvm);
  return failures ? 1 : 0;
}
