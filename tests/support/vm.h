// A small KVM client over a Backend: system/VM/vCPU fds, guest RAM slots,
// the mapped kvm_run page, and the CPU-mode setup the guest tests use
// (flat real mode, flat 32-bit protected mode, 64-bit long mode with an
// identity map of the low 1 GiB). Every step records its failure instead of
// aborting, so a test can report what broke on which backend.
#pragma once

#include "kvm_abi.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend.h"

namespace skvm::test {

// The result of one ioctl: return value and errno (0 on success).
struct Result {
  int ret = 0;
  int err = 0;
};

enum class Mode { kReal, kProt32, kLong };

// Fixed guest-physical layout used by the mode setup (inside slot 0).
inline constexpr uint64_t kGdtGpa = 0x1000;   // 4 descriptors
inline constexpr uint64_t kPml4Gpa = 0x2000;  // long mode: PML4, PDPT, PD
inline constexpr uint64_t kPdptGpa = 0x3000;
inline constexpr uint64_t kPdGpa = 0x4000;
inline constexpr uint64_t kRealEntry = 0x7c00;
inline constexpr uint64_t kFlatEntry = 0x10000;
inline constexpr uint64_t kRealStack = 0x7000;
inline constexpr uint64_t kFlatStack = 0x80000;

class Vm;

class Vcpu {
 public:
  Vcpu(Vm& vm, int fd, kvm_run* run, size_t run_size);
  ~Vcpu();
  Vcpu(const Vcpu&) = delete;
  Vcpu& operator=(const Vcpu&) = delete;

  int fd() const { return fd_; }
  kvm_run* run() const { return run_; }
  Result ioctl(unsigned long request, const void* arg) const;
  Result ioctl(unsigned long request, unsigned long arg) const;

  // KVM_GET_SUPPORTED_CPUID -> KVM_SET_CPUID2 (clients always do this first;
  // the host refuses long mode without CPUID.LM).
  std::string set_supported_cpuid();
  // Sets sregs/regs for `mode` (writing GDT and page tables into RAM) so the
  // next KVM_RUN starts at `entry`. Empty string on success.
  std::string enter_mode(Mode mode, uint64_t entry);

 private:
  Vm& vm_;
  int fd_;
  kvm_run* run_;
  size_t run_size_;
};

class Vm {
 public:
  explicit Vm(const Backend& backend);
  ~Vm();
  Vm(const Vm&) = delete;
  Vm& operator=(const Vm&) = delete;

  const Backend& backend() const { return backend_; }
  const std::string& error() const { return error_; }  // empty when open
  int sys_fd() const { return sys_; }
  int vm_fd() const { return vm_; }

  Result sys_ioctl(unsigned long request, unsigned long arg) const;
  Result vm_ioctl(unsigned long request, const void* arg) const;
  Result vm_ioctl(unsigned long request, unsigned long arg) const;

  // mmaps `size` bytes of host memory (kept until the Vm dies) and registers
  // it with KVM_SET_USER_MEMORY_REGION. Returns the host pointer or null
  // (reason in *why).
  uint8_t* add_ram(uint32_t slot, uint64_t gpa, uint64_t size, uint32_t flags, std::string* why);
  // Host pointer of guest-physical `gpa` inside RAM added with add_ram.
  uint8_t* host(uint64_t gpa, uint64_t len = 1) const;

  // KVM_CREATE_VCPU + mmap of the run area. Null on failure (reason in *why).
  std::unique_ptr<Vcpu> create_vcpu(unsigned long id, std::string* why);

 private:
  struct Ram {
    uint64_t gpa;
    uint64_t size;
    uint8_t* mem;
  };
  const Backend& backend_;
  int sys_ = -1;
  int vm_ = -1;
  std::string error_;
  std::vector<Ram> ram_;
};

std::string errno_string(int err);

}  // namespace skvm::test
