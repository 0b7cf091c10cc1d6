/*
 * irq_latency: interrupt delivery costs through the KVM ABI (issue 4,
 * Performance), on softkvm and on the host /dev/kvm with the same guest.
 *
 *   irq_latency --test ipi   --backend soft|dev [--iterations N]
 *       two vCPUs on two threads: vCPU 0 sends a fixed IPI (vector 0x40)
 *       to APIC 1, whose handler IPIs back (0x41); vCPU 0 waits in HLT.
 *       Prints the mean round trip over N.
 *   irq_latency --test irqfd --backend soft|dev [--iterations N]
 *       one vCPU idle in HLT; another client thread writes an eventfd bound
 *       with KVM_IRQFD to GSI 10, routed as an MSI to vector 0x50; the
 *       guest's handler does OUT 0xf3. Prints the median and mean time from
 *       write() to the KVM_EXIT_IO on the vCPU thread.
 *   [--label NAME] [--image GUEST.bin]
 *
 * `--backend dev` opens /dev/kvm: the host's KVM, or softkvm under
 * `softkvm exec --`. Not a test: bench/run.sh runs it (docs/performance.md).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <sys/eventfd.h>

#include "rm_vm.h"

#ifndef IRQ_LATENCY_GUEST
#define IRQ_LATENCY_GUEST "irq_latency_guest.bin"
#endif

enum { kBspIpi, kApIpi, kIrqfdMain, kHPong, kHPing, kHQuit, kHIrqfd };
#define COUNT 0x9008
#define STACK0 0x8000
#define STACK1 0x7000

static struct RmVm vm;

static void* ap_thread(void* arg) {
  (void)arg;
  int port = rm_run_to_io(&vm, 1);
  return (void*)(intptr_t)(port == 0xf2 ? 0 : 1);
}

static int bench_ipi(unsigned long n, const char* label) {
  rm_set_gate(&vm, 0x40, rm_table(&vm, kHPing));
  rm_set_gate(&vm, 0x41, rm_table(&vm, kHPong));
  rm_set_gate(&vm, 0x42, rm_table(&vm, kHQuit));
  rm_write32(&vm, COUNT, (uint32_t)n);
  if (rm_start(&vm, 0, rm_table(&vm, kBspIpi), STACK0) || rm_start(&vm, 1, rm_table(&vm, kApIpi), STACK1))
    return 1;
  pthread_t ap;
  pthread_create(&ap, NULL, ap_thread, NULL);
  int port = rm_run_to_io(&vm, 0);
  double t0 = rm_now();
  if (port != 0xf0) {
    fprintf(stderr, "irq_latency: vCPU 0 stopped at port %#x, expected 0xf0\n", port);
    return 1;
  }
  port = rm_run_to_io(&vm, 0);
  double t1 = rm_now();
  void* ap_rc;
  pthread_join(ap, &ap_rc);
  if (port != 0xf1 || ap_rc != NULL) {
    fprintf(stderr, "irq_latency: vCPU 0 port %#x, vCPU 1 %s\n", port, ap_rc ? "failed" : "ok");
    return 1;
  }
  printf("%s test=ipi iterations=%lu seconds=%.6f us_per_round_trip=%.3f\n", label, n, t1 - t0,
         (t1 - t0) * 1e6 / (double)n);
  return 0;
}

static sem_t ready;
static _Atomic double write_time;
static int efd;
static unsigned long irqfd_n;
static useconds_t settle_us;

static void* writer_thread(void* arg) {
  (void)arg;
  for (unsigned long i = 0; i < irqfd_n; i++) {
    sem_wait(&ready);
    usleep(settle_us);  /* let the vCPU reach HLT again */
    uint64_t one = 1;
    atomic_store(&write_time, rm_now());
    if (write(efd, &one, sizeof one) != sizeof one) return (void*)1;
  }
  return NULL;
}

static int cmp_double(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

static int bench_irqfd(unsigned long n, const char* label, int host) {
  efd = eventfd(0, EFD_CLOEXEC);
  if (efd < 0) {
    rm_fail("eventfd");
    return 1;
  }
  struct kvm_irq_routing* routing = calloc(1, sizeof *routing + sizeof(struct kvm_irq_routing_entry));
  routing->nr = 1;
  routing->entries[0].gsi = 10;
  routing->entries[0].type = KVM_IRQ_ROUTING_MSI;
  routing->entries[0].u.msi.address_lo = 0xfee00000; /* APIC 0, physical */
  routing->entries[0].u.msi.data = 0x50;             /* fixed, edge, vector 0x50 */
  int r = vm.b->ioctl(vm.vm, KVM_SET_GSI_ROUTING, (unsigned long)routing);
  free(routing);
  if (r < 0) {
    rm_fail("KVM_SET_GSI_ROUTING");
    return 1;
  }
  struct kvm_irqfd irqfd = {.fd = (uint32_t)efd, .gsi = 10};
  if (vm.b->ioctl(vm.vm, KVM_IRQFD, (unsigned long)&irqfd) < 0) {
    rm_fail("KVM_IRQFD");
    return 1;
  }
  rm_set_gate(&vm, 0x50, rm_table(&vm, kHIrqfd));
  if (rm_start(&vm, 0, rm_table(&vm, kIrqfdMain), STACK0)) return 1;
  sem_init(&ready, 0, 0);
  irqfd_n = n;
  settle_us = host ? 5000 : 500;
  double* lat = calloc(n, sizeof *lat);
  pthread_t w;
  pthread_create(&w, NULL, writer_thread, NULL);
  unsigned long got = 0;
  while (got < n) {
    int port = rm_run_to_io(&vm, 0);
    if (port == 0xf4) {
      sem_post(&ready);
    } else if (port == 0xf3) {
      lat[got++] = rm_now() - atomic_load(&write_time);
    } else {
      fprintf(stderr, "irq_latency: unexpected port %#x\n", port);
      return 1;
    }
  }
  void* rc;
  pthread_join(w, &rc);
  double sum = 0;
  for (unsigned long i = 0; i < n; i++) sum += lat[i];
  qsort(lat, n, sizeof *lat, cmp_double);
  printf("%s test=irqfd iterations=%lu us_median=%.3f us_mean=%.3f us_min=%.3f\n", label, n, lat[n / 2] * 1e6,
         sum * 1e6 / (double)n, lat[0] * 1e6);
  free(lat);
  close(efd);
  return rc != NULL;
}

int main(int argc, char** argv) {
  const char* backend = NULL;
  const char* label = NULL;
  const char* test = "ipi";
  const char* image = IRQ_LATENCY_GUEST;
  unsigned long n = 1000;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--backend") && i + 1 < argc) backend = argv[++i];
    else if (!strcmp(argv[i], "--test") && i + 1 < argc) test = argv[++i];
    else if (!strcmp(argv[i], "--iterations") && i + 1 < argc) n = strtoul(argv[++i], NULL, 0);
    else if (!strcmp(argv[i], "--label") && i + 1 < argc) label = argv[++i];
    else if (!strcmp(argv[i], "--image") && i + 1 < argc) image = argv[++i];
    else {
      fprintf(stderr, "usage: irq_latency --test ipi|irqfd --backend soft|dev [--iterations N] [--label NAME] [--image BIN]\n");
      return 2;
    }
  }
  const struct RmBackend* b;
  if (rm_backend(backend, &b) || n == 0 || (strcmp(test, "ipi") && strcmp(test, "irqfd"))) {
    fprintf(stderr, "irq_latency: --backend soft|dev, --test ipi|irqfd, --iterations > 0\n");
    return 2;
  }
  if (!label) label = backend;
  int ipi = !strcmp(test, "ipi");
  if (rm_create(&vm, b, image, ipi ? 2 : 1, 0)) return 1;
  int rc = ipi ? bench_ipi(n, label) : bench_irqfd(n, label, b == &kRmDev);
  rm_destroy(&vm);
  return rc;
}
