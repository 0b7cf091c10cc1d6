/*
 * kvm_irqfd: a KVM client with a "device thread", the way virtio back ends
 * use irqfd and ioeventfd, written only against <linux/kvm.h>.
 *
 * The real-mode guest programs the in-kernel PIC (vector base 0x20, only
 * IRQ 5 unmasked), rings a doorbell (out 0x90) that an ioeventfd absorbs
 * without a VM exit, then HLTs with interrupts on. The device thread blocks
 * in poll() on the ioeventfd, and when it fires signals an irqfd bound to
 * GSI 5; the guest's handler (IVT[0x25]) EOIs and reports on port 0x81.
 * The main thread sees a single KVM_RUN exit: that report.
 *
 * Exit status: 0 when every check passed, 77 when /dev/kvm is unusable,
 * 1 otherwise. The output is compared with the host's by the ctest.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define MEM_SIZE 0x10000
#define GUEST_ADDR 0x1000
#define HANDLER_ADDR 0x1100

/*
 * 0x1000: mov al, 0x11 / out 0x20, al / mov al, 0x20 / out 0x21, al
 *         mov al, 0x04 / out 0x21, al / mov al, 0x01 / out 0x21, al
 *         mov al, 0xdf / out 0x21, al     ; only IRQ 5
 *         mov al, 1 / out 0x90, al        ; doorbell (ioeventfd)
 *         sti / .h: hlt / jmp .h
 * 0x1100: mov al, 0x20 / out 0x20, al     ; EOI
 *         mov al, 0x42 / out 0x81, al / iret
 */
static const uint8_t guest_code[] = {0xb0, 0x11, 0xe6, 0x20, 0xb0, 0x20, 0xe6, 0x21, 0xb0, 0x04,
                                     0xe6, 0x21, 0xb0, 0x01, 0xe6, 0x21, 0xb0, 0xdf, 0xe6, 0x21,
                                     0xb0, 0x01, 0xe6, 0x90, 0xfb, 0xf4, 0xeb, 0xfd};
static const uint8_t handler_code[] = {0xb0, 0x20, 0xe6, 0x20, 0xb0, 0x42, 0xe6, 0x81, 0xcf};

struct Device {
  int doorbell;  /* ioeventfd */
  int irq;       /* irqfd */
  uint64_t rings;
  int ok;
};

static void* device_thread(void* arg) {
  struct Device* d = arg;
  struct pollfd p = {.fd = d->doorbell, .events = POLLIN};
  if (poll(&p, 1, 10000) != 1) return NULL;
  if (read(d->doorbell, &d->rings, sizeof d->rings) != sizeof d->rings) return NULL;
  uint64_t one = 1;
  d->ok = write(d->irq, &one, sizeof one) == sizeof one;
  return NULL;
}

static int fail(const char* what) {
  fprintf(stderr, "kvm_irqfd: %s: %s\n", what, strerror(errno));
  return 1;
}

int main(void) {
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) {
    fprintf(stderr, "kvm_irqfd: open /dev/kvm: %s\n", strerror(errno));
    return 77;
  }
  int vm = ioctl(kvm, KVM_CREATE_VM, 0UL);
  if (vm < 0) {
    fprintf(stderr, "kvm_irqfd: KVM_CREATE_VM: %s\n", strerror(errno));
    return 77;
  }
  printf("KVM_CAP_IRQFD %d, KVM_CAP_IOEVENTFD %d\n", ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_IRQFD) > 0,
         ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD) > 0);
  if (ioctl(vm, KVM_CREATE_IRQCHIP, 0UL) < 0) return fail("KVM_CREATE_IRQCHIP");

  uint8_t* mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return fail("mmap guest memory");
  memcpy(mem + GUEST_ADDR, guest_code, sizeof guest_code);
  memcpy(mem + HANDLER_ADDR, handler_code, sizeof handler_code);
  const uint16_t ivt[2] = {HANDLER_ADDR, 0};
  memcpy(mem + 0x25 * 4, ivt, sizeof ivt);
  struct kvm_userspace_memory_region region = {
      .slot = 0, .guest_phys_addr = 0, .memory_size = MEM_SIZE,
      .userspace_addr = (uint64_t)(uintptr_t)mem};
  if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) return fail("KVM_SET_USER_MEMORY_REGION");

  struct Device dev = {.doorbell = eventfd(0, EFD_CLOEXEC), .irq = eventfd(0, EFD_CLOEXEC)};
  if (dev.doorbell < 0 || dev.irq < 0) return fail("eventfd");
  struct kvm_ioeventfd io = {.addr = 0x90, .len = 1, .fd = dev.doorbell, .flags = KVM_IOEVENTFD_FLAG_PIO};
  if (ioctl(vm, KVM_IOEVENTFD, &io) < 0) return fail("KVM_IOEVENTFD");
  struct kvm_irqfd irqfd = {.fd = (uint32_t)dev.irq, .gsi = 5};
  if (ioctl(vm, KVM_IRQFD, &irqfd) < 0) return fail("KVM_IRQFD");

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
  regs.rsp = 0x8000;
  regs.rflags = 0x2;
  if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) return fail("KVM_SET_REGS");

  pthread_t thread;
  if (pthread_create(&thread, NULL, device_thread, &dev) != 0) return fail("pthread_create");
  int r = ioctl(vcpu, KVM_RUN, 0UL);
  pthread_join(thread, NULL);
  if (r < 0) return fail("KVM_RUN");
  int ok = run->exit_reason == KVM_EXIT_IO && run->io.port == 0x81;
  printf("exit: %s port 0x%x value 0x%x\n", ok ? "KVM_EXIT_IO" : "unexpected", ok ? run->io.port : 0,
         ok ? ((const uint8_t*)run)[run->io.data_offset] : 0);
  printf("doorbell rings seen by the device thread: %llu\n", (unsigned long long)dev.rings);
  printf("irqfd written: %s\n", dev.ok ? "yes" : "no");
  uint64_t left = 0;
  struct pollfd p = {.fd = dev.irq, .events = POLLIN};
  if (poll(&p, 1, 0) == 1) (void)!read(dev.irq, &left, sizeof left);
  printf("irqfd counter left unread: %llu\n", (unsigned long long)left);
  return ok && dev.ok && dev.rings == 1 && left == 0 ? 0 : 1;
}
