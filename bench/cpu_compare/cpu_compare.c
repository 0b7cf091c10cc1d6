// Guest MIPS of issue 3's CPU workloads on three runners, same instructions:
//   soft    softkvm through its public C ABI (KVM_RUN of the guest image)
//   qemu    qemu-system-x86_64 -accel tcg booting the same image (multiboot)
//   native  the loops (loops.inc) called natively
// Usage: cpu_compare --image guest.bin --workload a|b|b2|c|c2 --runner soft|qemu|native
//                    [--iters N]
// Prints `workload=W runner=R mips=M seconds=S`. Wall-clock: a benchmark,
// never a test. QEMU's start-up is subtracted by timing a second run with a
// tenth of the iterations and using the difference.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "softkvm/softkvm.h"

extern char** environ;

uint64_t skvm_bench_alu(uint64_t iters, uint8_t* begin, uint8_t* end);
uint64_t skvm_bench_mem(uint64_t iters, uint8_t* begin, uint8_t* end);
uint64_t skvm_bench_mem_page(uint64_t iters, uint8_t* begin, uint8_t* end);
uint64_t skvm_bench_call(uint64_t iters, uint8_t* begin, uint8_t* end);
uint64_t skvm_bench_indirect(uint64_t iters, uint8_t* begin, uint8_t* end);

enum { kA, kB, kB2, kC, kC2, kNumWorkloads };
static const char* const kNames[kNumWorkloads] = {"a", "b", "b2", "c", "c2"};
static const uint64_t kMemBytes = 16u << 20;
static const uint64_t kLoadAddr = 0x100000;
static const uint64_t kRamBytes = 128u << 20;

// Guest instructions executed by `iters` iterations (loops.inc).
static double insns(int w, uint64_t iters) {
  switch (w) {
    case kA: return 2.0 * iters;
    case kB: return (double)iters * (3 + 6.0 * (kMemBytes / 8));
    case kB2: return (double)iters * (3 + 6.0 * (kMemBytes / 4096));
    default: return 4.0 * iters;
  }
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static uint8_t* g_image;
static size_t g_image_size;

static void load_image(const char* path) {
  FILE* f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "cpu_compare: cannot open %s: %s\n", path, strerror(errno));
    exit(2);
  }
  g_image = malloc(1 << 20);
  g_image_size = fread(g_image, 1, 1 << 20, f);
  fclose(f);
  if (g_image_size < 64) {
    fprintf(stderr, "cpu_compare: %s is not the guest image\n", path);
    exit(2);
  }
}

// The image's parameter block (guest.asm `params`, offset 32).
static void patch(int w, uint64_t iters) {
  uint32_t w32 = (uint32_t)w;
  memcpy(g_image + 32, &w32, 4);
  memcpy(g_image + 36, &iters, 8);
}

#define CHECK(x)                                                                 \
  do {                                                                           \
    if ((x) < 0) {                                                               \
      fprintf(stderr, "cpu_compare: %s: %s\n", #x, strerror(errno));             \
      exit(2);                                                                   \
    }                                                                            \
  } while (0)

// One run on softkvm: seconds spent in KVM_RUN until the guest writes 0xf4.
static double run_soft(int w, uint64_t iters) {
  patch(w, iters);
  int sys = skvm_open(O_RDWR);
  CHECK(sys);
  int vm = skvm_ioctl(sys, KVM_CREATE_VM, 0);
  CHECK(vm);
  uint8_t* ram = mmap(NULL, kRamBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (ram == MAP_FAILED) exit(2);
  struct kvm_userspace_memory_region region = {0, 0, 0, kRamBytes, (uint64_t)(uintptr_t)ram};
  CHECK(skvm_ioctl(vm, KVM_SET_USER_MEMORY_REGION, (unsigned long)&region));
  memcpy(ram + kLoadAddr, g_image, g_image_size);
  int vcpu = skvm_ioctl(vm, KVM_CREATE_VCPU, 0);
  CHECK(vcpu);
  int run_size = skvm_ioctl(sys, KVM_GET_VCPU_MMAP_SIZE, 0);
  CHECK(run_size);
  struct kvm_run* run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
  if (run == MAP_FAILED) exit(2);
  // Clients set a CPUID first (long mode needs CPUID.LM).
  size_t cpuid_size = sizeof(struct kvm_cpuid2) + 256 * sizeof(struct kvm_cpuid_entry2);
  struct kvm_cpuid2* cpuid = calloc(1, cpuid_size);
  cpuid->nent = 256;
  CHECK(skvm_ioctl(sys, KVM_GET_SUPPORTED_CPUID, (unsigned long)cpuid));
  CHECK(skvm_ioctl(vcpu, KVM_SET_CPUID2, (unsigned long)cpuid));
  free(cpuid);
  // The multiboot entry state: flat 32-bit protected mode, paging off.
  struct kvm_sregs sregs;
  CHECK(skvm_ioctl(vcpu, KVM_GET_SREGS, (unsigned long)&sregs));
  struct kvm_segment flat = {.base = 0, .limit = 0xffffffff, .selector = 0x10, .type = 3, .present = 1,
                             .dpl = 0, .db = 1, .s = 1, .l = 0, .g = 1};
  sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = flat;
  flat.type = 0xb;
  flat.selector = 0x08;
  sregs.cs = flat;
  sregs.cr0 = 0x11;
  CHECK(skvm_ioctl(vcpu, KVM_SET_SREGS, (unsigned long)&sregs));
  uint32_t entry;
  memcpy(&entry, g_image + 28, 4);
  struct kvm_regs regs = {.rip = entry, .rflags = 2, .rax = 0x2badb002};
  CHECK(skvm_ioctl(vcpu, KVM_SET_REGS, (unsigned long)&regs));
  double t0 = now();
  for (;;) {
    CHECK(skvm_ioctl(vcpu, KVM_RUN, 0));
    if (run->exit_reason == KVM_EXIT_IO && run->io.port == 0xf4) break;
    if (run->exit_reason != KVM_EXIT_IO) {
      fprintf(stderr, "cpu_compare: softkvm stopped with exit reason %u\n", run->exit_reason);
      exit(1);
    }
  }
  double t = now() - t0;
  munmap(run, (size_t)run_size);
  skvm_close(vcpu);
  skvm_close(vm);
  skvm_close(sys);
  munmap(ram, kRamBytes);
  return t;
}

// One QEMU TCG boot of the image: wall seconds of the whole process.
static double run_qemu(int w, uint64_t iters) {
  patch(w, iters);
  char path[] = "/tmp/cpu_compare_XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd);
  if (write(fd, g_image, g_image_size) != (ssize_t)g_image_size) exit(2);
  close(fd);
  char* argv[] = {"qemu-system-x86_64", "-accel", "tcg", "-m", "128", "-display", "none", "-nodefaults",
                  "-no-reboot", "-device", "isa-debug-exit,iobase=0xf4,iosize=1", "-kernel", path, NULL};
  double t0 = now();
  pid_t pid;
  if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ) != 0) {
    fprintf(stderr, "cpu_compare: cannot run qemu-system-x86_64 (tools/install-deps.sh bench)\n");
    exit(2);
  }
  int status;
  waitpid(pid, &status, 0);
  double t = now() - t0;
  unlink(path);
  // isa-debug-exit: exit status (0 << 1) | 1.
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 1) {
    fprintf(stderr, "cpu_compare: qemu ended with status %d\n", status);
    exit(1);
  }
  return t;
}

static double run_native(int w, uint64_t iters) {
  static uint8_t* buf;
  if (!buf) {
    buf = mmap(NULL, kMemBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED) exit(2);
    madvise(buf, kMemBytes, MADV_NOHUGEPAGE);  // 4 KiB pages, as the guest
    memset(buf, 0, kMemBytes);
  }
  uint64_t (*const fns[kNumWorkloads])(uint64_t, uint8_t*, uint8_t*) = {
      skvm_bench_alu, skvm_bench_mem, skvm_bench_mem_page, skvm_bench_call, skvm_bench_indirect};
  double t0 = now();
  fns[w](iters, buf, buf + kMemBytes);
  return now() - t0;
}

int main(int argc, char** argv) {
  const char* image = NULL;
  const char* runner = "soft";
  int w = -1;
  uint64_t iters = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--image")) image = argv[i + 1];
    else if (!strcmp(argv[i], "--runner")) runner = argv[i + 1];
    else if (!strcmp(argv[i], "--iters")) iters = strtoull(argv[i + 1], NULL, 0);
    else if (!strcmp(argv[i], "--workload")) {
      for (int k = 0; k < kNumWorkloads; ++k) {
        if (!strcmp(argv[i + 1], kNames[k])) w = k;
      }
    }
  }
  if (w < 0 || (strcmp(runner, "native") && !image)) {
    fprintf(stderr, "usage: cpu_compare --image guest.bin --workload a|b|b2|c|c2 --runner soft|qemu|native [--iters N]\n");
    return 2;
  }
  if (image) load_image(image);
  if (!iters) {
    // Default sizes: about a second per run on QEMU TCG (~300 MIPS, ~20 on
    // b2), a quarter of that work on softkvm, ten times more natively.
    static const uint64_t kDefault[kNumWorkloads] = {200000000, 30, 2000, 50000000, 50000000};
    iters = kDefault[w];
    if (!strcmp(runner, "native")) iters *= 10;
    if (!strcmp(runner, "soft")) iters /= 4;
  }
  double sec;
  double n = insns(w, iters);
  if (!strcmp(runner, "soft")) {
    sec = run_soft(w, iters);
  } else if (!strcmp(runner, "qemu")) {
    uint64_t small = iters / 10;
    double t_small = run_qemu(w, small);
    double t_big = run_qemu(w, iters);
    sec = t_big - t_small;
    n -= insns(w, small);
  } else if (!strcmp(runner, "native")) {
    run_native(w, iters / 10 + 1);  // warm up (page faults, caches)
    sec = run_native(w, iters);
  } else {
    fprintf(stderr, "cpu_compare: unknown runner %s\n", runner);
    return 2;
  }
  printf("workload=%s runner=%s mips=%.1f seconds=%.3f\n", kNames[w], runner, n / sec / 1e6, sec);
  return 0;
}
