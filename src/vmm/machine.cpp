// The KVM client sequence of api.rst sections 4 and 5: KVM_GET_API_VERSION,
// KVM_CREATE_VM, KVM_SET_USER_MEMORY_REGION, KVM_CREATE_VCPU,
// KVM_GET_VCPU_MMAP_SIZE, KVM_SET_CPUID2, KVM_SET_SREGS/REGS, KVM_RUN.
#include "vmm/machine.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <signal.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstring>
#include <iterator>
#include <memory>
#include <thread>
#include <unistd.h>

#include "vmm/console.h"

#include "vmm/disasm.h"
#include "vmm/exit_status.h"

namespace skvm::vmm {
namespace {

constexpr uint64_t kTssAddr = 0xfffbd000;  // QEMU's choice: 3 pages below the BIOS
constexpr uint32_t kMaxCpuidEntries = 256;

std::string errno_text(int err) { return std::string(std::strerror(err)); }

// The ioctl argument for a pointer to an ABI struct.
template <typename T>
unsigned long ptr_arg(T* p) {
  // SAFETY: ioctl(2) takes pointer arguments as one machine word; every
  // caller passes a live struct of the type the request's _IOC size names.
  return reinterpret_cast<unsigned long>(p);
}

const char* const kExitNames[] = {
    "KVM_EXIT_UNKNOWN",        "KVM_EXIT_EXCEPTION",     "KVM_EXIT_IO",
    "KVM_EXIT_HYPERCALL",      "KVM_EXIT_DEBUG",         "KVM_EXIT_HLT",
    "KVM_EXIT_MMIO",           "KVM_EXIT_IRQ_WINDOW_OPEN", "KVM_EXIT_SHUTDOWN",
    "KVM_EXIT_FAIL_ENTRY",     "KVM_EXIT_INTR",          "KVM_EXIT_SET_TPR",
    "KVM_EXIT_TPR_ACCESS",     "KVM_EXIT_S390_SIEIC",    "KVM_EXIT_S390_RESET",
    "KVM_EXIT_DCR",            "KVM_EXIT_NMI",           "KVM_EXIT_INTERNAL_ERROR",
    "KVM_EXIT_OSI",            "KVM_EXIT_PAPR_HCALL",    "KVM_EXIT_S390_UCONTROL",
    "KVM_EXIT_WATCHDOG",       "KVM_EXIT_S390_TSCH",     "KVM_EXIT_EPR",
    "KVM_EXIT_SYSTEM_EVENT",   "KVM_EXIT_S390_STSI",     "KVM_EXIT_IOAPIC_EOI",
    "KVM_EXIT_HYPERV",         "KVM_EXIT_ARM_NISV",      "KVM_EXIT_X86_RDMSR",
    "KVM_EXIT_X86_WRMSR",      "KVM_EXIT_DIRTY_RING_FULL", "KVM_EXIT_AP_RESET_HOLD",
    "KVM_EXIT_X86_BUS_LOCK",   "KVM_EXIT_XEN",           "KVM_EXIT_RISCV_SBI",
    "KVM_EXIT_RISCV_CSR",      "KVM_EXIT_NOTIFY",
};
static_assert(KVM_EXIT_IO == 2 && KVM_EXIT_HLT == 5 && KVM_EXIT_INTERNAL_ERROR == 17 &&
              KVM_EXIT_NOTIFY == 37);

const char* suberror_name(uint32_t suberror) {
  switch (suberror) {
    case KVM_INTERNAL_ERROR_EMULATION: return "KVM_INTERNAL_ERROR_EMULATION";
    case KVM_INTERNAL_ERROR_SIMUL_EX: return "KVM_INTERNAL_ERROR_SIMUL_EX";
    case KVM_INTERNAL_ERROR_DELIVERY_EV: return "KVM_INTERNAL_ERROR_DELIVERY_EV";
    case KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON:
      return "KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON";
    default: return "unknown suberror";
  }
}

kvm_segment flat_segment(uint16_t selector, bool code, bool code64) {
  kvm_segment s{};
  s.base = 0;
  s.limit = 0xffffffff;
  s.selector = selector;
  s.type = code ? 0xb : 0x3;  // execute/read accessed, read/write accessed
  s.present = 1;
  s.db = code64 ? 0 : 1;
  s.s = 1;
  s.l = code64 ? 1 : 0;
  s.g = 1;
  return s;
}

kvm_segment real_segment(uint16_t selector, bool code) {
  kvm_segment s{};
  s.base = static_cast<uint64_t>(selector) << 4;
  s.limit = 0xffff;
  s.selector = selector;
  s.type = code ? 0xb : 0x3;
  s.present = 1;
  s.s = 1;
  return s;
}

}  // namespace

const char* exit_reason_name(uint32_t reason) {
  return reason < std::size(kExitNames) ? kExitNames[reason] : "unknown";
}

Machine::Machine(const KvmBackend& backend, const MachineConfig& config)
    : backend_(backend), config_(config) {
  try {
    create();
  } catch (...) {
    release();
    throw;
  }
}

void Machine::create() {
  const std::string who = std::string("--backend ") + backend_.name + ": ";
  system_fd_ = backend_.open(O_RDWR | O_CLOEXEC);
  if (system_fd_ < 0) {
    const int err = errno;
    throw VmmError(who + "cannot open " +
                   (&backend_ == &host_backend() ? "/dev/kvm" : "the softkvm system handle") +
                   ": " + errno_text(err));
  }
  // api.rst 4.1: KVM_GET_API_VERSION must return 12.
  const int version = backend_.ioctl(system_fd_, KVM_GET_API_VERSION, 0);
  if (version != KVM_API_VERSION) {
    throw VmmError(who + "KVM_GET_API_VERSION returned " + std::to_string(version) +
                   (version < 0 ? " (" + errno_text(errno) + ")" : "") + ", expected 12");
  }
  vm_fd_ = backend_.ioctl(system_fd_, KVM_CREATE_VM, 0);
  if (vm_fd_ < 0) throw VmmError(who + "KVM_CREATE_VM failed: " + errno_text(errno));

  // api.rst: KVM_SET_TSS_ADDR is required on Intel hosts without unrestricted
  // guest support; harmless elsewhere.
  if (backend_.ioctl(vm_fd_, KVM_CHECK_EXTENSION, KVM_CAP_SET_TSS_ADDR) > 0) {
    vm_ioctl(KVM_SET_TSS_ADDR, kTssAddr, "KVM_SET_TSS_ADDR");
  }
  if (config_.want_irqchip) setup_irqchip();
  if (config_.cpus > 1 && !irqchip_) {
    throw VmmError(who + "-c " + std::to_string(config_.cpus) +
                   " needs the in-kernel irqchip (KVM_CAP_IRQCHIP) to start the other CPUs; "
                   "this backend lacks it: use -c 1");
  }

  void* mem = mmap(nullptr, config_.mem_bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) {
    throw VmmError("--mem: cannot allocate " + std::to_string(config_.mem_bytes >> 20) +
                   " MiB of guest RAM: " + errno_text(errno));
  }
  mem_ = static_cast<uint8_t*>(mem);
  kvm_userspace_memory_region region{};
  region.slot = 0;
  region.guest_phys_addr = 0;
  region.memory_size = config_.mem_bytes;
  // SAFETY: api.rst: userspace_addr is the client's mapping of the slot;
  // mem_ stays mapped, mem_bytes long, until the VM is closed (release()).
  region.userspace_addr = reinterpret_cast<uintptr_t>(mem_);
  vm_ioctl(KVM_SET_USER_MEMORY_REGION, ptr_arg(&region), "KVM_SET_USER_MEMORY_REGION");

  const int run_size = backend_.ioctl(system_fd_, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (run_size < static_cast<int>(sizeof(kvm_run))) {
    throw VmmError(who + "KVM_GET_VCPU_MMAP_SIZE returned " + std::to_string(run_size));
  }
  run_size_ = static_cast<size_t>(run_size);
  for (uint32_t i = 0; i < config_.cpus; ++i) {
    auto v = std::make_unique<Vcpu>();
    v->fd = vm_ioctl(KVM_CREATE_VCPU, i, "KVM_CREATE_VCPU");
    void* run = mmap(nullptr, run_size_, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
    if (run == MAP_FAILED) {
      backend_.close(v->fd);
      throw VmmError(who + "mmap of the vCPU fd failed: " + errno_text(errno));
    }
    // SAFETY: api.rst 4.5: page 0 of the vCPU mapping is struct kvm_run, and
    // the mapping is at least sizeof(kvm_run) bytes (checked above).
    v->run = static_cast<kvm_run*>(run);
    setup_cpuid(*v, i);
    vcpus_.push_back(std::move(v));
  }
}

void Machine::setup_irqchip() {
  // api.rst: KVM_CREATE_IRQCHIP (PIC pair + IOAPIC, LAPIC per vCPU created
  // afterwards) and KVM_CREATE_PIT2, both before any KVM_CREATE_VCPU.
  if (backend_.ioctl(vm_fd_, KVM_CHECK_EXTENSION, KVM_CAP_IRQCHIP) <= 0) {
    if (config_.trace) {
      std::fprintf(config_.trace,
                   "softkvm: --backend %s lacks KVM_CAP_IRQCHIP: no interrupts, the console is polled\n",
                   backend_.name);
    }
    return;
  }
  vm_ioctl(KVM_CREATE_IRQCHIP, 0, "KVM_CREATE_IRQCHIP");
  irqchip_ = true;
  setup_gsi_routing();
  if (backend_.ioctl(vm_fd_, KVM_CHECK_EXTENSION, KVM_CAP_PIT2) > 0) {
    // KVM_PIT_SPEAKER_DUMMY: port 0x61 (channel 2 gate and OUT) stays in
    // the kernel; Linux calibrates the TSC through it.
    kvm_pit_config pit{};
    pit.flags = KVM_PIT_SPEAKER_DUMMY;
    vm_ioctl(KVM_CREATE_PIT2, ptr_arg(&pit), "KVM_CREATE_PIT2");
  } else if (config_.trace) {
    std::fprintf(config_.trace, "softkvm: --backend %s lacks KVM_CAP_PIT2: no i8254 timer\n", backend_.name);
  }
  if (config_.trace) std::fprintf(config_.trace, "softkvm: in-kernel irqchip and PIT created\n");
}

// The ISA interrupts as a PC wires them and as the MADT describes them (an
// interrupt source override sends IRQ 0 to IOAPIC pin 2): GSI 0-15 to the
// PIC pins (2 is the cascade), GSI 0 to IOAPIC pin 2 and every other GSI
// 1-23 to its own pin. KVM's default routing sends GSI 0 to pin 0, where
// Linux, reading the MADT, does not look for the timer (QEMU's
// kvm_pc_setup_irq_routing makes the same change). api.rst:
// KVM_SET_GSI_ROUTING replaces the whole table.
void Machine::setup_gsi_routing() {
  if (backend_.ioctl(vm_fd_, KVM_CHECK_EXTENSION, KVM_CAP_IRQ_ROUTING) <= 0) return;
  constexpr unsigned kMaxRoutes = 16 + 24;
  const size_t bytes = sizeof(kvm_irq_routing) + kMaxRoutes * sizeof(kvm_irq_routing_entry);
  auto storage = std::make_unique<uint64_t[]>((bytes + 7) / 8);
  // SAFETY: storage is zeroed, 8-byte aligned and large enough for the
  // header plus kMaxRoutes entries (C layout: vmm/kvm_abi.h).
  auto* table = reinterpret_cast<kvm_irq_routing*>(storage.get());
  unsigned n = 0;
  auto add = [&](uint32_t gsi, uint32_t chip, uint32_t pin) {
    kvm_irq_routing_entry& e = table->entries[n++];
    e.gsi = gsi;
    e.type = KVM_IRQ_ROUTING_IRQCHIP;
    e.u.irqchip.irqchip = chip;
    e.u.irqchip.pin = pin;
  };
  for (uint32_t gsi = 0; gsi < 16; ++gsi) {
    if (gsi != 2) add(gsi, gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE, gsi % 8);
  }
  for (uint32_t gsi = 0; gsi < 24; ++gsi) {
    if (gsi == 0) add(0, KVM_IRQCHIP_IOAPIC, 2);
    else if (gsi != 2) add(gsi, KVM_IRQCHIP_IOAPIC, gsi);
  }
  table->nr = n;
  vm_ioctl(KVM_SET_GSI_ROUTING, ptr_arg(table), "KVM_SET_GSI_ROUTING");
}

Machine::~Machine() { release(); }

void Machine::release() {
  for (auto& v : vcpus_) {
    if (v->run) munmap(v->run, run_size_);
    if (v->fd >= 0) backend_.close(v->fd);
  }
  vcpus_.clear();
  if (vm_fd_ >= 0) backend_.close(vm_fd_);
  if (mem_) munmap(mem_, config_.mem_bytes);
  if (system_fd_ >= 0) backend_.close(system_fd_);
  mem_ = nullptr;
  vm_fd_ = system_fd_ = -1;
}

int Machine::vm_ioctl(unsigned long request, unsigned long arg, const char* what) {
  const int r = backend_.ioctl(vm_fd_, request, arg);
  if (r < 0) throw VmmError(std::string("--backend ") + backend_.name + ": " + what + " failed: " + errno_text(errno));
  return r;
}

int Machine::vcpu_ioctl(const Vcpu& v, unsigned long request, unsigned long arg, const char* what) {
  const int r = backend_.ioctl(v.fd, request, arg);
  if (r < 0) throw VmmError(std::string("--backend ") + backend_.name + ": " + what + " failed: " + errno_text(errno));
  return r;
}

void Machine::setup_cpuid(const Vcpu& v, uint32_t index) {
  // api.rst: KVM_SET_CPUID2 before the first KVM_RUN, with what
  // KVM_GET_SUPPORTED_CPUID offers (what every real client does).
  if (backend_.ioctl(system_fd_, KVM_CHECK_EXTENSION, KVM_CAP_EXT_CPUID) <= 0) return;
  const size_t bytes = sizeof(kvm_cpuid2) + kMaxCpuidEntries * sizeof(kvm_cpuid_entry2);
  auto storage = std::make_unique<uint64_t[]>((bytes + 7) / 8);
  // SAFETY: storage is zeroed, 8-byte aligned and sized for the header plus
  // kMaxCpuidEntries entries of the flexible array.
  auto* cpuid = reinterpret_cast<kvm_cpuid2*>(storage.get());
  cpuid->nent = kMaxCpuidEntries;
  if (backend_.ioctl(system_fd_, KVM_GET_SUPPORTED_CPUID, ptr_arg(cpuid)) < 0) {
    throw VmmError(std::string("--backend ") + backend_.name +
                   ": KVM_GET_SUPPORTED_CPUID failed: " + errno_text(errno));
  }
  // Each vCPU reports its own initial APIC ID (SDM Vol. 2A, CPUID leaf 01H
  // EBX[31:24]; leaves 0BH/1FH EDX), as QEMU and kvmtool set it.
  for (uint32_t i = 0; i < cpuid->nent; ++i) {
    kvm_cpuid_entry2& e = cpuid->entries[i];
    if (e.function == 1) e.ebx = (e.ebx & 0x00ffffffu) | (index << 24);
    if (e.function == 0xb || e.function == 0x1f) e.edx = index;
  }
  vcpu_ioctl(v, KVM_SET_CPUID2, ptr_arg(cpuid), "KVM_SET_CPUID2");
}

void Machine::load_flat(const std::vector<uint8_t>& image, GuestMode mode) {
  const uint64_t addr = load_address(mode);
  // The CLI checked image.size() <= max_image_size(mode, mem_bytes).
  if (image.size() > max_image_size(mode, config_.mem_bytes)) {
    throw VmmError("image does not fit in guest memory");
  }
  memory().write(addr, image.data(), image.size());
  EntryState entry;
  const kvm_regs regs = entry_regs(mode, config_.mem_bytes);
  entry.rip = regs.rip;
  entry.rsp = regs.rsp;
  if (mode == GuestMode::kLong) {
    write_long_mode_tables(mem_, config_.mem_bytes);
    entry.mode = EntryMode::kLong64;
    entry.code_selector = kCode64Selector;
    entry.data_selector = kData64Selector;
  } else {
    entry.mode = EntryMode::kReal16;
  }
  set_entry(entry);
}

void Machine::set_entry(const EntryState& entry) {
  const Vcpu& v = *vcpus_.at(0);
  kvm_sregs sregs{};
  vcpu_ioctl(v, KVM_GET_SREGS, ptr_arg(&sregs), "KVM_GET_SREGS");
  kvm_regs regs{};
  regs.rflags = 0x2;
  regs.rip = entry.rip;
  regs.rsp = entry.rsp;
  regs.rax = entry.rax;
  regs.rbx = entry.rbx;
  regs.rsi = entry.rsi;
  if (entry.mode == EntryMode::kReal16) {
    sregs.cs = real_segment(entry.real_code_segment, true);
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = real_segment(entry.real_segment, false);
  } else {
    const bool long64 = entry.mode == EntryMode::kLong64;
    sregs.cs = flat_segment(entry.code_selector, true, long64);
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = flat_segment(entry.data_selector, false, false);
    sregs.gdt.base = kGdtAddr;
    sregs.gdt.limit = 4 * 8 - 1;
    if (long64) {
      sregs.cr3 = kPml4Addr;
      sregs.cr4 = kCr4Pae;
      sregs.cr0 = kCr0Pe | kCr0Mp | kCr0Et | kCr0Ne | kCr0Wp | kCr0Pg;
      sregs.efer = kEferLme | kEferLma;
    } else {
      // Multiboot 3.2: CR0.PE set, paging off.
      sregs.cr0 = kCr0Pe | kCr0Et;
      sregs.cr4 = 0;
      sregs.efer = 0;
    }
  }
  vcpu_ioctl(v, KVM_SET_SREGS, ptr_arg(&sregs), "KVM_SET_SREGS");
  vcpu_ioctl(v, KVM_SET_REGS, ptr_arg(&regs), "KVM_SET_REGS");
}

void Machine::set_irq_line(uint32_t irq, bool level) {
  if (!irqchip_) return;
  kvm_irq_level line{};
  line.irq = irq;
  line.level = level ? 1 : 0;
  // api.rst: KVM_IRQ_LINE; a failure here is not fatal for the guest.
  if (backend_.ioctl(vm_fd_, KVM_IRQ_LINE, ptr_arg(&line)) < 0 && config_.trace) {
    std::fprintf(config_.trace, "softkvm: KVM_IRQ_LINE %u failed: %s\n", irq, std::strerror(errno));
  }
}

uint64_t Machine::total_exits() const {
  uint64_t n = 0;
  for (const auto& v : vcpus_) {
    for (const auto& c : v->exits) n += c.load(std::memory_order_relaxed);
  }
  return n;
}

namespace {
double timeval_seconds(const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; }
// --guest-profile: the SIGPROF handler makes the KVM_RUN in progress return
// (EINTR), so the loop can read RIP; the backend says how (backend.h).
std::atomic<void (*)()> g_profile_notify{nullptr};
void on_profile_signal(int) {
  if (auto notify = g_profile_notify.load(std::memory_order_relaxed)) notify();
}

// A CPU-time timer of the calling thread that sends it SIGPROF every ms
// (timer_create(2), SIGEV_THREAD_ID), removed at scope exit.
class ProfileTimer {
 public:
  explicit ProfileTimer(const KvmBackend& backend) {
    g_profile_notify = backend.signal_notify;
    struct sigaction sa {};
    sa.sa_handler = on_profile_signal;
    sigemptyset(&sa.sa_mask);
    // SA_RESTART for the thread's other system calls (console writes);
    // KVM_RUN still returns EINTR (api.rst: KVM_EXIT_INTR is never restarted).
    sa.sa_flags = SA_RESTART;
    sigaction(SIGPROF, &sa, nullptr);
    sigevent sev{};
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = SIGPROF;
    sev._sigev_un._tid = gettid();
    if (timer_create(CLOCK_THREAD_CPUTIME_ID, &sev, &timer_) != 0) {
      std::fprintf(stderr, "softkvm: --guest-profile: timer_create failed: %s\n", std::strerror(errno));
      return;
    }
    armed_ = true;
    itimerspec period{};
    period.it_interval.tv_nsec = 1000000;
    period.it_value.tv_nsec = 1000000;
    timer_settime(timer_, 0, &period, nullptr);
  }
  ~ProfileTimer() {
    if (armed_) timer_delete(timer_);
    signal(SIGPROF, SIG_IGN);
  }
  ProfileTimer(const ProfileTimer&) = delete;
  ProfileTimer& operator=(const ProfileTimer&) = delete;

 private:
  timer_t timer_{};
  bool armed_ = false;
};

uint64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}
// Documentation/scheduler/sched-stats.rst, /proc/<pid>/task/<tid>/schedstat:
// time on the CPU, time spent waiting on a runqueue (ns), timeslices. The
// second is the time the thread was runnable but preempted by host load.
uint64_t thread_runqueue_wait_ns() {
  std::FILE* f = std::fopen("/proc/thread-self/schedstat", "r");
  if (!f) return 0;
  unsigned long long on_cpu = 0, waiting = 0;
  const int n = std::fscanf(f, "%llu %llu", &on_cpu, &waiting);
  std::fclose(f);
  return n == 2 ? waiting : 0;
}
}  // namespace

void Machine::print_stats(std::chrono::steady_clock::duration elapsed, const IoBus& io) const {
  const double secs = std::chrono::duration<double>(elapsed).count();
  std::fprintf(stderr, "softkvm: --stats: %.3f s, %u vCPU(s), %" PRIu64 " exits\n", secs, config_.cpus,
               total_exits());
  // Where the wall time went: a vCPU thread that is not on a host CPU is
  // halted (HLT, waiting for an interrupt: timers, the disk, input) or
  // preempted by other host load; time between KVM_RUN calls is the VMM's.
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::fprintf(stderr, "  process CPU time: user %.3f s, sys %.3f s (%.0f %% of wall)\n",
               timeval_seconds(ru.ru_utime), timeval_seconds(ru.ru_stime),
               secs > 0 ? 100 * (timeval_seconds(ru.ru_utime) + timeval_seconds(ru.ru_stime)) / secs : 0.0);
  for (size_t i = 0; i < vcpus_.size(); ++i) {
    const double cpu = static_cast<double>(vcpus_[i]->thread_cpu_ns.load()) / 1e9;
    const double vmm = static_cast<double>(vcpus_[i]->vmm_ns.load()) / 1e9;
    const double wait = static_cast<double>(vcpus_[i]->runqueue_wait_ns.load()) / 1e9;
    if (cpu == 0) continue;  // still running (another vCPU ended the machine)
    // Wall = running + preempted (runnable, waiting for a host CPU) +
    // blocked (the guest halted with nothing to do: timers, disk, input).
    std::fprintf(stderr, "  vCPU %zu: running %.3f s (of which exit handling in the VMM %.3f s), "
                 "preempted %.3f s, halted %.3f s\n", i, cpu, vmm, wait, std::max(0.0, secs - cpu - wait));
  }
  const IoBus::Stats d = io.stats();
  std::fprintf(stderr, "  devices: COM1 %" PRIu64 " port accesses, %" PRIu64 " bytes out; virtio-console %" PRIu64
               " bytes out, %" PRIu64 " in; virtio-blk %" PRIu64 " requests; %" PRIu64 " virtio-mmio accesses\n",
               d.uart_accesses, d.uart_bytes_out, d.hvc_bytes_out, d.hvc_bytes_in, d.blk_requests, d.mmio_accesses);
  for (size_t r = 0; r <= kExitReasons; ++r) {
    uint64_t n = 0;
    for (const auto& v : vcpus_) n += v->exits[r].load(std::memory_order_relaxed);
    if (n == 0) continue;
    std::fprintf(stderr, "  %-26s %12" PRIu64 "  (%.0f/s)\n",
                 r == kExitReasons ? "other" : exit_reason_name(static_cast<uint32_t>(r)), n,
                 secs > 0 ? static_cast<double>(n) / secs : 0.0);
  }
  // DEVIATION: the KVM ABI reports no retired-instruction count, so guest
  // MIPS cannot be measured by a plain KVM client.
  std::fprintf(stderr, "  guest MIPS: unavailable (no instruction counter in the KVM ABI)\n");
}

int Machine::run(IoBus& io) {
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (uint32_t i = 1; i < config_.cpus; ++i) {
    threads.emplace_back([this, i, &io, start] {
      const int status = run_vcpu(i, io);
      // One vCPU ending ends the machine: the others may be blocked in KVM_RUN.
      report(start, io);
      std::fflush(stdout);
      Console::restore_terminal();
      _exit(status);
    });
  }
  const int status = run_vcpu(0, io);
  report(start, io);
  if (!threads.empty()) {
    std::fflush(stdout);
    Console::restore_terminal();
    _exit(status);
  }
  return status;
}

void Machine::report(std::chrono::steady_clock::time_point start, const IoBus& io) const {
  if (config_.stats) print_stats(std::chrono::steady_clock::now() - start, io);
  if (config_.profile_map) {
    std::lock_guard lock(profile_mu_);
    profile_.print(stderr, *config_.profile_map, 40);
  }
}

void Machine::sample_rip(const Vcpu& v) {
  kvm_regs regs{};
  if (backend_.ioctl(v.fd, KVM_GET_REGS, ptr_arg(&regs)) != 0) return;
  std::lock_guard lock(profile_mu_);
  profile_.add(regs.rip);
}

int Machine::run_vcpu(uint32_t index, IoBus& io) {
  Vcpu& v = *vcpus_[index];
  const int status = run_loop(v, index, io);
  v.thread_cpu_ns = thread_cpu_ns();
  v.runqueue_wait_ns = thread_runqueue_wait_ns();
  return status;
}

int Machine::run_loop(Vcpu& v, uint32_t index, IoBus& io) {
  kvm_run* run = v.run;
  if (index == 0 && config_.trace) {
    std::fprintf(config_.trace, "softkvm: [stage] entry: vCPU 0 enters the guest\n");
  }
  std::chrono::steady_clock::time_point exit_time{};
  const bool profile = index == 0 && config_.profile_map != nullptr;
  std::unique_ptr<ProfileTimer> profile_timer;
  if (profile) profile_timer = std::make_unique<ProfileTimer>(backend_);
  for (;;) {
    if (config_.stats && exit_time != std::chrono::steady_clock::time_point{}) {
      const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - exit_time);
      v.vmm_ns.fetch_add(static_cast<uint64_t>(ns.count()), std::memory_order_relaxed);
    }
    const int r = backend_.ioctl(v.fd, KVM_RUN, 0);
    if (config_.stats) exit_time = std::chrono::steady_clock::now();
    if (r < 0) {
      if (errno == EINTR && profile) sample_rip(v);
      if (errno == EINTR || errno == EAGAIN) continue;
      const int err = errno;
      std::fflush(stdout);
      std::fprintf(stderr, "softkvm: vCPU %u: KVM_RUN failed: %s\n", index, std::strerror(err));
      return kExitGuestFailed;
    }
    v.exits[std::min<size_t>(run->exit_reason, kExitReasons)].fetch_add(1, std::memory_order_relaxed);
    switch (run->exit_reason) {
      case KVM_EXIT_IO: {
        if (run->io.data_offset + static_cast<uint64_t>(run->io.count) * run->io.size > run_size_) {
          return report_failure(v, "KVM_EXIT_IO data outside the vCPU mapping");
        }
        // SAFETY: api.rst: data_offset is an offset into the kvm_run mapping
        // (the PIO page) holding count * size bytes, bounds-checked above.
        uint8_t* data = reinterpret_cast<uint8_t*>(run) + run->io.data_offset;
        const auto status = io.handle(run->io.direction == KVM_EXIT_IO_IN, run->io.port,
                                      run->io.size, run->io.count, data);
        if (status) {
          std::fflush(stdout);
          return *status;
        }
        break;
      }
      case KVM_EXIT_HLT:
        std::fflush(stdout);
        if (config_.trace) {
          std::fprintf(config_.trace, "softkvm: guest halted after %" PRIu64 " exits (vCPU %u)%s\n", total_exits(), index,
                       config_.kernel_mode && !irqchip_ ? " (no irqchip: no interrupt can wake it)" : "");
        }
        return kExitGuestHalted;
      case KVM_EXIT_INTR:
        if (profile) sample_rip(v);
        break;
      case KVM_EXIT_MMIO:
        if (io.handle_mmio(run->mmio.phys_addr, run->mmio.data, std::min<uint32_t>(run->mmio.len, 8),
                           run->mmio.is_write != 0)) {
          break;
        }
        if (!config_.kernel_mode) return report_failure(v, "unexpected MMIO (no device at this address)");
        // A kernel probes absent devices: reads see all ones, writes vanish.
        if (!run->mmio.is_write) std::memset(run->mmio.data, 0xff, sizeof run->mmio.data);
        if (config_.trace) {
          std::fprintf(config_.trace, "softkvm: unhandled mmio %s of %u bytes at %#llx\n",
                       run->mmio.is_write ? "write" : "read", run->mmio.len,
                       static_cast<unsigned long long>(run->mmio.phys_addr));
        }
        break;
      case KVM_EXIT_SHUTDOWN:
        if (config_.kernel_mode) {
          // A triple fault resets a PC (reboot=t, or a crash).
          report_failure(v, "the guest shut down (triple fault): machine reset");
          return io.reset_status();
        }
        return report_failure(v, "the guest shut down (triple fault)");
      case KVM_EXIT_SYSTEM_EVENT:
        std::fflush(stdout);
        if (run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN) return kExitGuestPowerOff;
        if (run->system_event.type == KVM_SYSTEM_EVENT_RESET) return io.reset_status();
        return report_failure(v, "unexpected system event");
      case KVM_EXIT_INTERNAL_ERROR:
        return report_failure(v, "KVM could not run the guest");
      case KVM_EXIT_FAIL_ENTRY:
        return report_failure(v, "VM entry failed");
      default:
        return report_failure(v, "unexpected exit");
    }
  }
}

int Machine::report_failure(const Vcpu& v, const char* headline) {
  const kvm_run* exit = v.run;  // this vCPU's exit
  std::fflush(stdout);
  FILE* e = stderr;
  const uint32_t reason = exit->exit_reason;
  std::fprintf(e, "softkvm: guest stopped: %s: %s (exit reason %u)\n", headline,
               exit_reason_name(reason), reason);
  switch (reason) {
    case KVM_EXIT_MMIO: {
      uint64_t value = 0;
      // SAFETY: mmio.data is 8 bytes; len is clamped to it.
      std::memcpy(&value, exit->mmio.data, std::min<uint32_t>(exit->mmio.len, 8));
      std::fprintf(e, "  mmio: %s of %u bytes at gpa %#" PRIx64 "%s", exit->mmio.is_write ? "write" : "read",
                   exit->mmio.len, static_cast<uint64_t>(exit->mmio.phys_addr),
                   exit->mmio.is_write ? "" : "\n");
      if (exit->mmio.is_write) std::fprintf(e, ", value %#" PRIx64 "\n", value);
      break;
    }
    case KVM_EXIT_INTERNAL_ERROR:
      std::fprintf(e, "  suberror: %s (%u)\n", suberror_name(exit->internal.suberror),
                   exit->internal.suberror);
      for (uint32_t i = 0; i < exit->internal.ndata && i < std::size(exit->internal.data); ++i) {
        std::fprintf(e, "  data[%u] = %#llx\n", i, static_cast<unsigned long long>(exit->internal.data[i]));
      }
      break;
    case KVM_EXIT_FAIL_ENTRY:
      std::fprintf(e, "  hardware_entry_failure_reason: %#llx\n",
                   static_cast<unsigned long long>(exit->fail_entry.hardware_entry_failure_reason));
      break;
    default:
      break;
  }
  kvm_regs regs{};
  kvm_sregs sregs{};
  if (backend_.ioctl(v.fd, KVM_GET_REGS, ptr_arg(&regs)) < 0 ||
      backend_.ioctl(v.fd, KVM_GET_SREGS, ptr_arg(&sregs)) < 0) {
    std::fprintf(e, "  (registers unavailable: %s)\n", std::strerror(errno));
    return kExitGuestFailed;
  }
  std::fprintf(e, "  rip=%#llx rsp=%#llx rflags=%#llx cs=%#x (base %#llx, l=%u db=%u)\n",
               static_cast<unsigned long long>(regs.rip), static_cast<unsigned long long>(regs.rsp),
               static_cast<unsigned long long>(regs.rflags), sregs.cs.selector,
               static_cast<unsigned long long>(sregs.cs.base), sregs.cs.l, sregs.cs.db);
  std::fprintf(e, "  rax=%#llx rbx=%#llx rcx=%#llx rdx=%#llx rsi=%#llx rdi=%#llx\n",
               static_cast<unsigned long long>(regs.rax), static_cast<unsigned long long>(regs.rbx),
               static_cast<unsigned long long>(regs.rcx), static_cast<unsigned long long>(regs.rdx),
               static_cast<unsigned long long>(regs.rsi), static_cast<unsigned long long>(regs.rdi));
  std::fprintf(e, "  cr0=%#llx cr3=%#llx cr4=%#llx efer=%#llx\n",
               static_cast<unsigned long long>(sregs.cr0), static_cast<unsigned long long>(sregs.cr3),
               static_cast<unsigned long long>(sregs.cr4), static_cast<unsigned long long>(sregs.efer));
  const uint64_t linear = sregs.cs.base + regs.rip;
  const auto gpa = linear_to_physical(mem_, config_.mem_bytes, sregs, linear);
  if (!gpa || *gpa >= config_.mem_bytes) {
    std::fprintf(e, "  code at rip: unavailable (linear %#" PRIx64 " not mapped to guest RAM)\n", linear);
    return kExitGuestFailed;
  }
  const uint64_t n = std::min<uint64_t>(15, config_.mem_bytes - *gpa);
  std::fprintf(e, "  code at rip (gpa %#" PRIx64 "):", *gpa);
  for (uint64_t i = 0; i < n; ++i) std::fprintf(e, " %02x", mem_[*gpa + i]);
  std::fprintf(e, "\n  instruction: %s\n", disassemble(mem_ + *gpa, n, sregs, regs.rip).c_str());
  return kExitGuestFailed;
}

}  // namespace skvm::vmm
