// One VM with one vCPU and one memory slot, driven through a KvmBackend with
// the ioctls of <linux/kvm.h> only: the flat-binary machine of `softkvm run`.
#pragma once

#include "vmm/kvm_abi.h"

#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "vmm/backend.h"
#include "vmm/io_bus.h"
#include "vmm/x86_setup.h"

namespace skvm::vmm {

// A failure the VMM reports and exits on; `what()` is the whole message.
class VmmError : public std::runtime_error {
 public:
  explicit VmmError(const std::string& message) : std::runtime_error(message) {}
};

struct MachineConfig {
  GuestMode mode = GuestMode::kLong;
  uint64_t mem_bytes = 64ull << 20;
  std::FILE* trace = nullptr;  // --verbose log, or nullptr
};

class Machine {
 public:
  // Opens the backend and creates the VM, its RAM and the vCPU in the entry
  // state of `config.mode`. Throws VmmError naming the failing step.
  Machine(const KvmBackend& backend, const MachineConfig& config);
  ~Machine();
  Machine(const Machine&) = delete;
  Machine& operator=(const Machine&) = delete;

  // Copies `image` into guest RAM at load_address(mode).
  void load(const std::vector<uint8_t>& image);

  // The KVM_RUN loop. Returns the process exit status (exit_status.h);
  // guest failures are described on stderr.
  int run(IoBus& io);

  uint64_t exits() const { return exits_; }

 private:
  void create();
  void release();
  int vm_ioctl(unsigned long request, unsigned long arg, const char* what);
  int vcpu_ioctl(unsigned long request, unsigned long arg, const char* what);
  void setup_cpuid();
  void setup_vcpu_state();
  int report_failure(const char* headline);

  const KvmBackend& backend_;
  MachineConfig config_;
  int system_fd_ = -1;
  int vm_fd_ = -1;
  int vcpu_fd_ = -1;
  uint8_t* mem_ = nullptr;
  kvm_run* run_ = nullptr;
  size_t run_size_ = 0;
  uint64_t exits_ = 0;
};

// KVM_EXIT_* name for diagnostics ("KVM_EXIT_IO"), or "unknown".
const char* exit_reason_name(uint32_t reason);

}  // namespace skvm::vmm
