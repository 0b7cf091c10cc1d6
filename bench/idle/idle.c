/*
 * idle: the host CPU an idle guest costs (issue 4, Performance: < 2% of one
 * core with a 250 Hz tick). One vCPU idles in HLT with a periodic tick, the
 * LAPIC timer or the PIT, for --seconds; the process's CPU time
 * (getrusage(RUSAGE_SELF): every thread, vCPU, timer and PIT threads
 * included) is reported as a percentage of that wall time.
 *
 *   idle --backend soft|dev [--tick lapic|pit] [--hz 250] [--seconds 2]
 *        [--label NAME] [--image GUEST.bin]
 *
 * Prints: label, tick, ticks taken per second (the guest's count), and
 * cpu_percent. Not a test: bench/run.sh runs it (docs/performance.md).
 */
#define _GNU_SOURCE
#include <sys/resource.h>

#include "../irq_latency/rm_vm.h"

#ifndef IDLE_GUEST
#define IDLE_GUEST "idle_guest.bin"
#endif

enum { kIdleLapic, kIdlePit, kHLapicTick, kHPitTick };
#define COUNT 0x9008
#define TICKS 0x900c
#define PERIOD 0x9010
#define PIT_COUNT 0x9014

static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
         (double)ru.ru_stime.tv_usec * 1e-6;
}

int main(int argc, char** argv) {
  const char* backend = NULL;
  const char* label = NULL;
  const char* tick = "lapic";
  const char* image = IDLE_GUEST;
  unsigned hz = 250;
  double seconds = 2;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--backend") && i + 1 < argc) backend = argv[++i];
    else if (!strcmp(argv[i], "--tick") && i + 1 < argc) tick = argv[++i];
    else if (!strcmp(argv[i], "--hz") && i + 1 < argc) hz = (unsigned)strtoul(argv[++i], NULL, 0);
    else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = strtod(argv[++i], NULL);
    else if (!strcmp(argv[i], "--label") && i + 1 < argc) label = argv[++i];
    else if (!strcmp(argv[i], "--image") && i + 1 < argc) image = argv[++i];
    else {
      fprintf(stderr, "usage: idle --backend soft|dev [--tick lapic|pit] [--hz N] [--seconds S] [--label NAME]\n");
      return 2;
    }
  }
  const struct RmBackend* b;
  int pit = !strcmp(tick, "pit");
  if (rm_backend(backend, &b) || (!pit && strcmp(tick, "lapic")) || hz < 20 || hz > 10000 || seconds <= 0) {
    fprintf(stderr, "idle: --backend soft|dev, --tick lapic|pit, --hz 20..10000, --seconds > 0\n");
    return 2;
  }
  if (!label) label = backend;
  struct RmVm vm;
  if (rm_create(&vm, b, image, 1, pit)) return 1;
  rm_set_gate(&vm, 0x60, rm_table(&vm, kHLapicTick));
  rm_set_gate(&vm, 0x20, rm_table(&vm, kHPitTick));
  const uint32_t count = (uint32_t)(seconds * hz + 0.5);
  rm_write32(&vm, COUNT, count);
  rm_write32(&vm, PERIOD, 1000000000u / hz);           /* LAPIC bus cycles of 1 ns */
  rm_write32(&vm, PIT_COUNT, (1193182u + hz / 2) / hz); /* i8254 input 1.193182 MHz */
  if (rm_start(&vm, 0, rm_table(&vm, pit ? kIdlePit : kIdleLapic), 0x8000)) return 1;
  int port = rm_run_to_io(&vm, 0);
  if (port != 0xf0) {
    fprintf(stderr, "idle: stopped at port %#x, expected 0xf0\n", port);
    return 1;
  }
  const double t0 = rm_now(), c0 = cpu_seconds();
  port = rm_run_to_io(&vm, 0);
  const double t1 = rm_now(), c1 = cpu_seconds();
  if (port != 0xf1) {
    fprintf(stderr, "idle: stopped at port %#x, expected 0xf1\n", port);
    return 1;
  }
  const double wall = t1 - t0;
  printf("%s tick=%s hz=%u seconds=%.3f ticks_per_second=%.1f cpu_percent=%.2f\n", label, tick, hz, wall,
         (double)rm_read32(&vm, TICKS) / wall, (c1 - c0) * 100.0 / wall);
  rm_destroy(&vm);
  return 0;
}
