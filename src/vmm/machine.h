// One VM driven through a KvmBackend with the ioctls of <linux/kvm.h> only:
// RAM in one memory slot, N vCPUs (each on its own thread while running),
// and, when the backend has KVM_CAP_IRQCHIP and the config asks for it, the
// in-kernel PIC/IOAPIC/LAPICs and PIT (KVM_CREATE_IRQCHIP, KVM_CREATE_PIT2).
#pragma once

#include "vmm/kvm_abi.h"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

#include "vmm/backend.h"
#include "vmm/boot.h"
#include "vmm/error.h"
#include "vmm/guest_memory.h"
#include "vmm/guest_profile.h"
#include "vmm/io_bus.h"
#include "vmm/x86_setup.h"

namespace skvm::vmm {

struct MachineConfig {
  uint64_t mem_bytes = 64ull << 20;
  uint32_t cpus = 1;
  bool want_irqchip = false;  // kernel boots: in-kernel irqchip + PIT when offered
  bool kernel_mode = false;   // -k: SHUTDOWN = reset, unbacked MMIO reads all ones
  bool stats = false;         // --stats: exit counters on stderr at the end
  std::FILE* trace = nullptr; // --verbose log, or nullptr
  // --guest-profile: sample vCPU 0's RIP every ms of its CPU time and print
  // the top functions named by this map at the end (nullptr: off).
  const SymbolMap* profile_map = nullptr;
};

class Machine {
 public:
  // Opens the backend and creates the VM, its RAM and the vCPUs. Throws
  // VmmError naming the failing step.
  Machine(const KvmBackend& backend, const MachineConfig& config);
  ~Machine();
  Machine(const Machine&) = delete;
  Machine& operator=(const Machine&) = delete;

  GuestMemory memory() const { return GuestMemory{mem_, config_.mem_bytes}; }
  bool has_irqchip() const { return irqchip_; }

  // Flat binaries (--flat): copies `image` to load_address(mode) and sets the
  // entry state of `mode` (x86_setup.h).
  void load_flat(const std::vector<uint8_t>& image, GuestMode mode);

  // Puts the boot vCPU (vCPU 0) in `entry`'s state (KVM_SET_SREGS/REGS).
  void set_entry(const EntryState& entry);

  // Drives the UART's interrupt line (api.rst: KVM_IRQ_LINE) when the
  // irqchip exists; a no-op otherwise.
  void set_irq_line(uint32_t irq, bool level);

  // The KVM_RUN loops (vCPU 0 on the calling thread, the others on their
  // own). Returns the process exit status (exit_status.h); guest failures are
  // described on stderr.
  int run(IoBus& io);

  uint64_t exits() const { return total_exits(); }

 private:
  static constexpr size_t kExitReasons = 40;
  struct Vcpu {
    int fd = -1;
    kvm_run* run = nullptr;
    std::array<std::atomic<uint64_t>, kExitReasons + 1> exits{};
    // --stats: wall time spent handling exits in the VMM (between KVM_RUN
    // calls), and the vCPU thread's CPU time when its loop ended.
    std::atomic<uint64_t> vmm_ns{0};
    std::atomic<uint64_t> thread_cpu_ns{0};
    std::atomic<uint64_t> runqueue_wait_ns{0};  // preempted (schedstat), when known
  };

  void create();
  void release();
  int vm_ioctl(unsigned long request, unsigned long arg, const char* what);
  int vcpu_ioctl(const Vcpu& v, unsigned long request, unsigned long arg, const char* what);
  void setup_irqchip();
  void setup_gsi_routing();
  void setup_cpuid(const Vcpu& v, uint32_t index);
  int run_vcpu(uint32_t index, IoBus& io);
  int run_loop(Vcpu& v, uint32_t index, IoBus& io);
  int report_failure(const Vcpu& v, const char* headline);
  uint64_t total_exits() const;
  void print_stats(std::chrono::steady_clock::duration elapsed, const IoBus& io) const;
  // --stats and --guest-profile output at the end of the run.
  void report(std::chrono::steady_clock::time_point start, const IoBus& io) const;
  void sample_rip(const Vcpu& v);

  const KvmBackend& backend_;
  MachineConfig config_;
  int system_fd_ = -1;
  int vm_fd_ = -1;
  bool irqchip_ = false;
  uint8_t* mem_ = nullptr;
  size_t run_size_ = 0;
  std::vector<std::unique_ptr<Vcpu>> vcpus_;
  std::atomic<bool> entered_{false};
  // Filled by vCPU 0's thread; printed by whichever thread ends the machine.
  mutable std::mutex profile_mu_;
  GuestProfile profile_;
};

// KVM_EXIT_* name for diagnostics ("KVM_EXIT_IO"), or "unknown".
const char* exit_reason_name(uint32_t reason);

}  // namespace skvm::vmm
