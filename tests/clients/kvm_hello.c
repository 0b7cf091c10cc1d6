/*
 * kvm_hello: the smallest complete KVM client, written only against
 * <linux/kvm.h> (no softkvm header). It creates a VM with 64 KiB of RAM and
 * one vCPU, runs a real-mode guest that prints "Hello, KVM!" and a computed
 * sum on port 0x3f8 and halts, and prints to stdout what the guest wrote and
 * every exit it saw. The ctest `clients.kvm_hello` runs it on the host's
 * /dev/kvm and under `softkvm exec --` and compares the two outputs.
 *
 * Exit status: 0 on HLT, 77 when /dev/kvm cannot be opened or a VM cannot be
 * created (the test's "host unusable" case), 1 on any other failure.
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
#include <unistd.h>

#define GUEST_ADDR 0x1000
#define MEM_SIZE 0x10000

/* nasm -f bin, org 0x1000, bits 16:
 *   mov si, msg / call puts / mov si, sum_msg / call puts
 *   xor ax, ax / mov cx, 10 / .sum: add ax, cx / dec cx / jnz .sum
 *   mov bx, 10 / xor cx, cx
 *   .div: xor dx, dx / div bx / add dl, '0' / push dx / inc cx / test ax, ax / jnz .div
 *   mov dx, 0x3f8 / .print: pop ax / out dx, al / dec cx / jnz .print
 *   mov al, 10 / out dx, al / hlt
 *   puts: mov dx, 0x3f8 / .next: mov al, [si] / test al, al / jz .done
 *         out dx, al / inc si / jmp .next / .done: ret
 *   msg: "Hello, KVM!\n", 0      sum_msg: "sum(1..10) = ", 0
 */
static const uint8_t guest_code[] = {
    0xbe, 0x42, 0x10, 0xe8, 0x2e, 0x00, 0xbe, 0x4f, 0x10, 0xe8, 0x28, 0x00, 0x31, 0xc0,
    0xb9, 0x0a, 0x00, 0x01, 0xc8, 0x49, 0x75, 0xfb, 0xbb, 0x0a, 0x00, 0x31, 0xc9, 0x31,
    0xd2, 0xf7, 0xf3, 0x80, 0xc2, 0x30, 0x52, 0x41, 0x85, 0xc0, 0x75, 0xf3, 0xba, 0xf8,
    0x03, 0x58, 0xee, 0x49, 0x75, 0xfb, 0xb0, 0x0a, 0xee, 0xf4, 0xba, 0xf8, 0x03, 0x8a,
    0x04, 0x84, 0xc0, 0x74, 0x04, 0xee, 0x46, 0xeb, 0xf6, 0xc3, 0x48, 0x65, 0x6c, 0x6c,
    0x6f, 0x2c, 0x20, 0x4b, 0x56, 0x4d, 0x21, 0x0a, 0x00, 0x73, 0x75, 0x6d, 0x28, 0x31,
    0x2e, 0x2e, 0x31, 0x30, 0x29, 0x20, 0x3d, 0x20, 0x00,
};

static int fail(const char* what) {
  fprintf(stderr, "kvm_hello: %s: %s\n", what, strerror(errno));
  return 1;
}

/* Run-length log of the exits, printed after the guest's output. */
struct ExitLog {
  unsigned reason[64];
  unsigned count[64];
  unsigned n;
};

static void log_exit(struct ExitLog* log, unsigned reason) {
  if (log->n > 0 && log->reason[log->n - 1] == reason) {
    log->count[log->n - 1]++;
  } else if (log->n < 64) {
    log->reason[log->n] = reason;
    log->count[log->n] = 1;
    log->n++;
  }
}

static const char* reason_name(unsigned reason) {
  switch (reason) {
    case KVM_EXIT_IO: return "KVM_EXIT_IO";
    case KVM_EXIT_HLT: return "KVM_EXIT_HLT";
    case KVM_EXIT_MMIO: return "KVM_EXIT_MMIO";
    case KVM_EXIT_SHUTDOWN: return "KVM_EXIT_SHUTDOWN";
    case KVM_EXIT_INTERNAL_ERROR: return "KVM_EXIT_INTERNAL_ERROR";
    case KVM_EXIT_FAIL_ENTRY: return "KVM_EXIT_FAIL_ENTRY";
    case KVM_EXIT_INTR: return "KVM_EXIT_INTR";
    default: return "other";
  }
}

int main(void) {
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) {
    fprintf(stderr, "kvm_hello: open /dev/kvm: %s\n", strerror(errno));
    return 77;
  }
  int version = ioctl(kvm, KVM_GET_API_VERSION, 0);
  if (version != KVM_API_VERSION) {
    fprintf(stderr, "kvm_hello: KVM_GET_API_VERSION = %d, expected 12\n", version);
    return 1;
  }
  int vm = ioctl(kvm, KVM_CREATE_VM, 0UL);
  if (vm < 0) {
    fprintf(stderr, "kvm_hello: KVM_CREATE_VM: %s\n", strerror(errno));
    return 77;
  }

  uint8_t* mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return fail("mmap guest memory");
  memcpy(mem + GUEST_ADDR, guest_code, sizeof guest_code);
  struct kvm_userspace_memory_region region = {
      .slot = 0,
      .flags = 0,
      .guest_phys_addr = 0,
      .memory_size = MEM_SIZE,
      .userspace_addr = (uint64_t)(uintptr_t)mem,
  };
  if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) return fail("KVM_SET_USER_MEMORY_REGION");

  int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0UL);
  if (vcpu < 0) return fail("KVM_CREATE_VCPU");
  int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (run_size < (int)sizeof(struct kvm_run)) return fail("KVM_GET_VCPU_MMAP_SIZE");
  struct kvm_run* run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
  if (run == MAP_FAILED) return fail("mmap vcpu");

  struct kvm_sregs sregs;
  if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) return fail("KVM_GET_SREGS");
  sregs.cs.base = 0;
  sregs.cs.selector = 0;
  if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) return fail("KVM_SET_SREGS");
  struct kvm_regs regs;
  memset(&regs, 0, sizeof regs);
  regs.rip = GUEST_ADDR;
  regs.rsp = GUEST_ADDR;
  regs.rflags = 0x2;
  if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) return fail("KVM_SET_REGS");

  struct ExitLog log;
  memset(&log, 0, sizeof log);
  for (;;) {
    if (ioctl(vcpu, KVM_RUN, 0UL) < 0) return fail("KVM_RUN");
    log_exit(&log, run->exit_reason);
    if (run->exit_reason == KVM_EXIT_IO && run->io.direction == KVM_EXIT_IO_OUT &&
        run->io.port == 0x3f8 && run->io.size == 1) {
      const uint8_t* data = (const uint8_t*)run + run->io.data_offset;
      fwrite(data, 1, run->io.count, stdout);
      continue;
    }
    break;
  }
  const unsigned last_reason = run->exit_reason;
  if (ioctl(vcpu, KVM_GET_REGS, &regs) < 0) return fail("KVM_GET_REGS");
  printf("exits:");
  for (unsigned i = 0; i < log.n; i++) printf(" %s x %u", reason_name(log.reason[i]), log.count[i]);
  printf("\nlast exit at rip=%#llx ax=%#llx\n", (unsigned long long)regs.rip,
         (unsigned long long)(regs.rax & 0xffff));

  munmap(run, (size_t)run_size);
  munmap(mem, MEM_SIZE);
  close(vcpu);
  close(vm);
  close(kvm);
  return last_reason == KVM_EXIT_HLT ? 0 : 1;
}
