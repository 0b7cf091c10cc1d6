/*
 * exit_latency: the cost of one KVM_RUN round trip that ends in a port-I/O
 * exit (guest `out 0x80, al; jmp` in a loop: every KVM_RUN executes two
 * instructions and returns KVM_EXIT_IO).
 *
 *   exit_latency --backend soft [--iterations N]   softkvm through its C ABI
 *   exit_latency --backend dev  [--iterations N]   open("/dev/kvm") + ioctl():
 *       the host's KVM when run directly, softkvm when run under
 *       `softkvm exec --` (the preload shim)
 *   [--label NAME] names the result line (default: the backend).
 *
 * Prints one line: label, iterations, seconds, microseconds per round trip.
 * Not a test: bench/run.sh runs it against its anchors (docs/performance.md).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "softkvm/softkvm.h"

#define MEM_SIZE 0x10000
#define GUEST_ADDR 0x1000
#define WARMUP 1000

struct Backend {
  int (*open)(int flags);
  int (*ioctl)(int fd, unsigned long request, unsigned long arg);
  int (*close)(int fd);
};

static int dev_open(int flags) { return open("/dev/kvm", flags); }
static int dev_ioctl(int fd, unsigned long request, unsigned long arg) { return ioctl(fd, request, arg); }
static int dev_close(int fd) { return close(fd); }

static const struct Backend kDev = {dev_open, dev_ioctl, dev_close};
static const struct Backend kSoft = {skvm_open, skvm_ioctl, skvm_close};

static int die(const char* what) {
  fprintf(stderr, "exit_latency: %s: %s\n", what, strerror(errno));
  return 1;
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Runs the vCPU n times; every run must end in the guest's OUT to 0x80. */
static int run_loop(const struct Backend* b, int vcpu, struct kvm_run* run, unsigned long n) {
  for (unsigned long i = 0; i < n; i++) {
    if (b->ioctl(vcpu, KVM_RUN, 0) < 0) return die("KVM_RUN");
    if (run->exit_reason != KVM_EXIT_IO || run->io.port != 0x80) {
      fprintf(stderr, "exit_latency: unexpected exit %u (port %#x) at iteration %lu\n",
              run->exit_reason, run->io.port, i);
      return 1;
    }
  }
  return 0;
}

int main(int argc, char** argv) {
  const char* backend = NULL;
  const char* label = NULL;
  unsigned long iterations = 100000;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--backend") && i + 1 < argc) {
      backend = argv[++i];
    } else if (!strcmp(argv[i], "--iterations") && i + 1 < argc) {
      iterations = strtoul(argv[++i], NULL, 0);
    } else if (!strcmp(argv[i], "--label") && i + 1 < argc) {
      label = argv[++i];
    } else {
      fprintf(stderr, "usage: exit_latency --backend soft|dev [--iterations N] [--label NAME]\n");
      return 2;
    }
  }
  const struct Backend* b;
  if (backend && !strcmp(backend, "soft")) {
    b = &kSoft;
  } else if (backend && !strcmp(backend, "dev")) {
    b = &kDev;
  } else {
    fprintf(stderr, "exit_latency: --backend must be soft or dev\n");
    return 2;
  }
  if (!label) label = backend;
  if (iterations == 0) {
    fprintf(stderr, "exit_latency: --iterations must be positive\n");
    return 2;
  }

  int kvm = b->open(O_RDWR | O_CLOEXEC);
  if (kvm < 0) return die("open /dev/kvm");
  int vm = b->ioctl(kvm, KVM_CREATE_VM, 0);
  if (vm < 0) return die("KVM_CREATE_VM");
  uint8_t* mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return die("mmap");
  static const uint8_t code[] = {0xe6, 0x80, 0xeb, 0xfc}; /* 1: out 0x80, al ; jmp 1b */
  memcpy(mem + GUEST_ADDR, code, sizeof code);
  struct kvm_userspace_memory_region region = {
      .slot = 0, .guest_phys_addr = 0, .memory_size = MEM_SIZE,
      .userspace_addr = (uint64_t)(uintptr_t)mem,
  };
  if (b->ioctl(vm, KVM_SET_USER_MEMORY_REGION, (unsigned long)&region) < 0) return die("KVM_SET_USER_MEMORY_REGION");
  int vcpu = b->ioctl(vm, KVM_CREATE_VCPU, 0);
  if (vcpu < 0) return die("KVM_CREATE_VCPU");
  int run_size = b->ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (run_size <= 0) return die("KVM_GET_VCPU_MMAP_SIZE");
  struct kvm_run* run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
  if (run == MAP_FAILED) return die("mmap vcpu");
  struct kvm_sregs sregs;
  if (b->ioctl(vcpu, KVM_GET_SREGS, (unsigned long)&sregs) < 0) return die("KVM_GET_SREGS");
  sregs.cs.base = 0;
  sregs.cs.selector = 0;
  if (b->ioctl(vcpu, KVM_SET_SREGS, (unsigned long)&sregs) < 0) return die("KVM_SET_SREGS");
  struct kvm_regs regs;
  memset(&regs, 0, sizeof regs);
  regs.rip = GUEST_ADDR;
  regs.rflags = 0x2;
  if (b->ioctl(vcpu, KVM_SET_REGS, (unsigned long)&regs) < 0) return die("KVM_SET_REGS");

  if (run_loop(b, vcpu, run, WARMUP)) return 1;
  const double start = now_seconds();
  if (run_loop(b, vcpu, run, iterations)) return 1;
  const double seconds = now_seconds() - start;
  printf("%s iterations=%lu seconds=%.6f us_per_exit=%.4f\n", label, iterations, seconds,
         seconds * 1e6 / (double)iterations);

  munmap(run, (size_t)run_size);
  munmap(mem, MEM_SIZE);
  b->close(vcpu);
  b->close(vm);
  b->close(kvm);
  return 0;
}
