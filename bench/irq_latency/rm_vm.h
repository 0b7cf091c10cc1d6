/*
 * A small real-mode VM for the interrupt benchmarks (bench/irq_latency,
 * bench/idle), the same calls on softkvm (C ABI) and on the host /dev/kvm:
 * in-kernel irqchip (and PIT), 640 KiB of RAM with the guest image at
 * 0x1000 and the real-mode IVT the client fills. Real mode because the host
 * KVM here emulates guest code and its emulator has IRET only in real mode;
 * the guests move their LAPIC to 0xa0000 (IA32_APIC_BASE, SDM Vol. 3A,
 * 10.4.5), in the hole above RAM, to reach it with a segment.
 * Header-only: each benchmark is one C file.
 */
#ifndef SKVM_BENCH_RM_VM_H
#define SKVM_BENCH_RM_VM_H

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

#define RM_MEM_SIZE 0xa0000
#define RM_IMAGE 0x1000
#define RM_MAX_VCPUS 2

struct RmBackend {
  int (*open)(int flags);
  int (*ioctl)(int fd, unsigned long request, unsigned long arg);
  int (*close)(int fd);
};

static inline int rm_dev_open(int flags) { return open("/dev/kvm", flags); }
static inline int rm_dev_ioctl(int fd, unsigned long request, unsigned long arg) { return ioctl(fd, request, arg); }
static inline int rm_dev_close(int fd) { return close(fd); }
static const struct RmBackend kRmDev = {rm_dev_open, rm_dev_ioctl, rm_dev_close};
static const struct RmBackend kRmSoft = {skvm_open, skvm_ioctl, skvm_close};

struct RmVm {
  const struct RmBackend* b;
  int kvm, vm;
  uint8_t* mem;
  int nvcpus;
  int vcpu[RM_MAX_VCPUS];
  struct kvm_run* run[RM_MAX_VCPUS];
  size_t run_size;
};

static inline int rm_fail(const char* what) {
  fprintf(stderr, "%s: %s\n", what, strerror(errno));
  return -1;
}

static inline double rm_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The dword at index `i` of the image's table (entry points, handlers). */
static inline uint32_t rm_table(const struct RmVm* v, int i) {
  uint32_t x;
  /* SAFETY: the table lies in the first bytes of the image, inside mem. */
  memcpy(&x, v->mem + RM_IMAGE + 4 * i, 4);
  return x;
}

static inline void rm_write32(struct RmVm* v, uint32_t gpa, uint32_t value) {
  /* SAFETY: callers pass data addresses below RM_MEM_SIZE. */
  memcpy(v->mem + gpa, &value, 4);
}

static inline uint32_t rm_read32(const struct RmVm* v, uint32_t gpa) {
  uint32_t x;
  memcpy(&x, v->mem + gpa, 4);
  return x;
}

/* A real-mode IVT entry: segment 0, offset `handler`. */
static inline void rm_set_gate(struct RmVm* v, unsigned vector, uint32_t handler) {
  rm_write32(v, vector * 4, handler & 0xffff);
}

/* Creates the VM: irqchip, optional PIT, memory with `image`, `nvcpus`
 * vCPUs with the supported CPUID, all RUNNABLE, in real mode with CS = 0. */
static inline int rm_create(struct RmVm* v, const struct RmBackend* b, const char* image, int nvcpus, int pit) {
  memset(v, 0, sizeof *v);
  v->b = b;
  v->nvcpus = nvcpus;
  v->kvm = b->open(O_RDWR | O_CLOEXEC);
  if (v->kvm < 0) return rm_fail("open /dev/kvm");
  v->vm = b->ioctl(v->kvm, KVM_CREATE_VM, 0);
  if (v->vm < 0) return rm_fail("KVM_CREATE_VM");
  b->ioctl(v->vm, KVM_SET_TSS_ADDR, 0xfffbd000);  /* VMX needs one; softkvm ignores it */
  if (b->ioctl(v->vm, KVM_CREATE_IRQCHIP, 0) < 0) return rm_fail("KVM_CREATE_IRQCHIP");
  if (pit) {
    struct kvm_pit_config pc = {.flags = KVM_PIT_SPEAKER_DUMMY};
    if (b->ioctl(v->vm, KVM_CREATE_PIT2, (unsigned long)&pc) < 0) return rm_fail("KVM_CREATE_PIT2");
  }
  v->mem = mmap(NULL, RM_MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (v->mem == MAP_FAILED) return rm_fail("mmap");
  FILE* f = fopen(image, "rb");
  if (!f) return rm_fail(image);
  size_t n = fread(v->mem + RM_IMAGE, 1, 0x8000, f);
  fclose(f);
  if (n < 16) {
    fprintf(stderr, "%s: too short\n", image);
    return -1;
  }
  struct kvm_userspace_memory_region region = {
      .slot = 0, .guest_phys_addr = 0, .memory_size = RM_MEM_SIZE,
      .userspace_addr = (uint64_t)(uintptr_t)v->mem,
  };
  if (b->ioctl(v->vm, KVM_SET_USER_MEMORY_REGION, (unsigned long)&region) < 0)
    return rm_fail("KVM_SET_USER_MEMORY_REGION");
  int nent = 128;
  struct kvm_cpuid2* cpuid = calloc(1, sizeof *cpuid + nent * sizeof(struct kvm_cpuid_entry2));
  cpuid->nent = nent;
  if (b->ioctl(v->kvm, KVM_GET_SUPPORTED_CPUID, (unsigned long)cpuid) < 0) return rm_fail("KVM_GET_SUPPORTED_CPUID");
  v->run_size = (size_t)b->ioctl(v->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  for (int i = 0; i < nvcpus; i++) {
    v->vcpu[i] = b->ioctl(v->vm, KVM_CREATE_VCPU, i);
    if (v->vcpu[i] < 0) return rm_fail("KVM_CREATE_VCPU");
    v->run[i] = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->vcpu[i], 0);
    if (v->run[i] == MAP_FAILED) return rm_fail("mmap vcpu");
    if (b->ioctl(v->vcpu[i], KVM_SET_CPUID2, (unsigned long)cpuid) < 0) return rm_fail("KVM_SET_CPUID2");
    struct kvm_mp_state mp = {.mp_state = KVM_MP_STATE_RUNNABLE};
    if (b->ioctl(v->vcpu[i], KVM_SET_MP_STATE, (unsigned long)&mp) < 0) return rm_fail("KVM_SET_MP_STATE");
    struct kvm_sregs sregs;
    if (b->ioctl(v->vcpu[i], KVM_GET_SREGS, (unsigned long)&sregs) < 0) return rm_fail("KVM_GET_SREGS");
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    if (b->ioctl(v->vcpu[i], KVM_SET_SREGS, (unsigned long)&sregs) < 0) return rm_fail("KVM_SET_SREGS");
  }
  free(cpuid);
  return 0;
}

static inline int rm_start(struct RmVm* v, int i, uint32_t eip, uint32_t esp) {
  struct kvm_regs regs;
  memset(&regs, 0, sizeof regs);
  regs.rip = eip;
  regs.rsp = esp;
  regs.rflags = 0x2;
  if (v->b->ioctl(v->vcpu[i], KVM_SET_REGS, (unsigned long)&regs) < 0) return rm_fail("KVM_SET_REGS");
  return 0;
}

/* KVM_RUN until a port-I/O exit; returns the port, or -1. */
static inline int rm_run_to_io(struct RmVm* v, int i) {
  for (;;) {
    if (v->b->ioctl(v->vcpu[i], KVM_RUN, 0) < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      rm_fail("KVM_RUN");
      return -1;
    }
    struct kvm_run* r = v->run[i];
    if (r->exit_reason == KVM_EXIT_IO) return r->io.port;
    if (r->exit_reason == KVM_EXIT_INTR) continue;
    struct kvm_regs regs;
    v->b->ioctl(v->vcpu[i], KVM_GET_REGS, (unsigned long)&regs);
    fprintf(stderr, "vCPU %d: unexpected exit %u (suberror %u) at rip %#llx\n", i, r->exit_reason,
            r->exit_reason == KVM_EXIT_INTERNAL_ERROR ? r->internal.suberror : 0, (unsigned long long)regs.rip);
    return -1;
  }
}

static inline void rm_destroy(struct RmVm* v) {
  for (int i = 0; i < v->nvcpus; i++) {
    if (v->run[i] && v->run[i] != MAP_FAILED) munmap(v->run[i], v->run_size);
    if (v->vcpu[i] > 0) v->b->close(v->vcpu[i]);
  }
  if (v->mem && v->mem != MAP_FAILED) munmap(v->mem, RM_MEM_SIZE);
  if (v->vm > 0) v->b->close(v->vm);
  if (v->kvm > 0) v->b->close(v->kvm);
}

static inline int rm_backend(const char* name, const struct RmBackend** out) {
  if (name && !strcmp(name, "soft")) *out = &kRmSoft;
  else if (name && !strcmp(name, "dev")) *out = &kRmDev;
  else return -1;
  return 0;
}

#endif
