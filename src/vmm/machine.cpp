// The KVM client sequence of api.rst sections 4 and 5: KVM_GET_API_VERSION,
// KVM_CREATE_VM, KVM_SET_USER_MEMORY_REGION, KVM_CREATE_VCPU,
// KVM_GET_VCPU_MMAP_SIZE, KVM_SET_CPUID2, KVM_SET_SREGS/REGS, KVM_RUN.
#include "vmm/machine.h"

#include <fcntl.h>
#include <sys/mman.h>

#include <cerrno>
#include <cinttypes>
#include <cstring>
#include <iterator>
#include <memory>

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
  vm_ioctl(KVM_SET_USER_MEMORY_REGION, ptr_arg(&region),
           "KVM_SET_USER_MEMORY_REGION");

  vcpu_fd_ = vm_ioctl(KVM_CREATE_VCPU, 0, "KVM_CREATE_VCPU");
  const int run_size = backend_.ioctl(system_fd_, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (run_size < static_cast<int>(sizeof(kvm_run))) {
    throw VmmError(who + "KVM_GET_VCPU_MMAP_SIZE returned " + std::to_string(run_size));
  }
  run_size_ = static_cast<size_t>(run_size);
  void* run = mmap(nullptr, run_size_, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd_, 0);
  if (run == MAP_FAILED) throw VmmError(who + "mmap of the vCPU fd failed: " + errno_text(errno));
  // SAFETY: api.rst 4.5: page 0 of the vCPU mapping is struct kvm_run, and
  // the mapping is at least sizeof(kvm_run) bytes (checked above).
  run_ = static_cast<kvm_run*>(run);

  setup_cpuid();
  setup_vcpu_state();
}

Machine::~Machine() { release(); }

void Machine::release() {
  if (run_) munmap(run_, run_size_);
  if (vcpu_fd_ >= 0) backend_.close(vcpu_fd_);
  if (vm_fd_ >= 0) backend_.close(vm_fd_);
  if (mem_) munmap(mem_, config_.mem_bytes);
  if (system_fd_ >= 0) backend_.close(system_fd_);
  run_ = nullptr;
  mem_ = nullptr;
  vcpu_fd_ = vm_fd_ = system_fd_ = -1;
}

int Machine::vm_ioctl(unsigned long request, unsigned long arg, const char* what) {
  const int r = backend_.ioctl(vm_fd_, request, arg);
  if (r < 0) throw VmmError(std::string("--backend ") + backend_.name + ": " + what + " failed: " + errno_text(errno));
  return r;
}

int Machine::vcpu_ioctl(unsigned long request, unsigned long arg, const char* what) {
  const int r = backend_.ioctl(vcpu_fd_, request, arg);
  if (r < 0) throw VmmError(std::string("--backend ") + backend_.name + ": " + what + " failed: " + errno_text(errno));
  return r;
}

void Machine::setup_cpuid() {
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
  vcpu_ioctl(KVM_SET_CPUID2, ptr_arg(cpuid), "KVM_SET_CPUID2");
}

void Machine::setup_vcpu_state() {
  kvm_sregs sregs{};
  vcpu_ioctl(KVM_GET_SREGS, ptr_arg(&sregs), "KVM_GET_SREGS");
  if (config_.mode == GuestMode::kLong) {
    write_long_mode_tables(mem_, config_.mem_bytes);
    set_long_mode_sregs(sregs);
  } else {
    set_real_mode_sregs(sregs);
  }
  vcpu_ioctl(KVM_SET_SREGS, ptr_arg(&sregs), "KVM_SET_SREGS");
  kvm_regs regs = entry_regs(config_.mode, config_.mem_bytes);
  vcpu_ioctl(KVM_SET_REGS, ptr_arg(&regs), "KVM_SET_REGS");
}

void Machine::load(const std::vector<uint8_t>& image) {
  const uint64_t addr = load_address(config_.mode);
  // The CLI checked image.size() <= max_image_size(mode, mem_bytes).
  if (image.size() > max_image_size(config_.mode, config_.mem_bytes)) {
    throw VmmError("image does not fit in guest memory");
  }
  // SAFETY: addr + image.size() <= mem_bytes (max_image_size above).
  std::memcpy(mem_ + addr, image.data(), image.size());
}

int Machine::run(IoBus& io) {
  for (;;) {
    const int r = backend_.ioctl(vcpu_fd_, KVM_RUN, 0);
    if (r < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      const int err = errno;
      std::fflush(stdout);
      std::fprintf(stderr, "softkvm: KVM_RUN failed: %s\n", std::strerror(err));
      return kExitGuestFailed;
    }
    ++exits_;
    switch (run_->exit_reason) {
      case KVM_EXIT_IO: {
        if (run_->io.data_offset + static_cast<uint64_t>(run_->io.count) * run_->io.size > run_size_) {
          return report_failure("KVM_EXIT_IO data outside the vCPU mapping");
        }
        // SAFETY: api.rst: data_offset is an offset into the kvm_run mapping
        // (the PIO page) holding count * size bytes, bounds-checked above.
        uint8_t* data = reinterpret_cast<uint8_t*>(run_) + run_->io.data_offset;
        const auto status = io.handle(run_->io.direction == KVM_EXIT_IO_IN, run_->io.port,
                                      run_->io.size, run_->io.count, data);
        if (status) {
          std::fflush(stdout);
          return *status;
        }
        break;
      }
      case KVM_EXIT_HLT:
        std::fflush(stdout);
        if (config_.trace) std::fprintf(config_.trace, "softkvm: guest halted after %" PRIu64 " exits\n", exits_);
        return kExitGuestHalted;
      case KVM_EXIT_INTR:
        break;
      case KVM_EXIT_MMIO:
        return report_failure("unexpected MMIO (no device at this address)");
      case KVM_EXIT_SHUTDOWN:
        return report_failure("the guest shut down (triple fault)");
      case KVM_EXIT_INTERNAL_ERROR:
        return report_failure("KVM could not run the guest");
      case KVM_EXIT_FAIL_ENTRY:
        return report_failure("VM entry failed");
      default:
        return report_failure("unexpected exit");
    }
  }
}

int Machine::report_failure(const char* headline) {
  std::fflush(stdout);
  FILE* e = stderr;
  const uint32_t reason = run_->exit_reason;
  std::fprintf(e, "softkvm: guest stopped: %s: %s (exit reason %u)\n", headline,
               exit_reason_name(reason), reason);
  switch (reason) {
    case KVM_EXIT_MMIO: {
      uint64_t value = 0;
      // SAFETY: mmio.data is 8 bytes; len is clamped to it.
      std::memcpy(&value, run_->mmio.data, std::min<uint32_t>(run_->mmio.len, 8));
      std::fprintf(e, "  mmio: %s of %u bytes at gpa %#" PRIx64 "%s", run_->mmio.is_write ? "write" : "read",
                   run_->mmio.len, static_cast<uint64_t>(run_->mmio.phys_addr),
                   run_->mmio.is_write ? "" : "\n");
      if (run_->mmio.is_write) std::fprintf(e, ", value %#" PRIx64 "\n", value);
      break;
    }
    case KVM_EXIT_INTERNAL_ERROR:
      std::fprintf(e, "  suberror: %s (%u)\n", suberror_name(run_->internal.suberror),
                   run_->internal.suberror);
      for (uint32_t i = 0; i < run_->internal.ndata && i < std::size(run_->internal.data); ++i) {
        std::fprintf(e, "  data[%u] = %#llx\n", i, static_cast<unsigned long long>(run_->internal.data[i]));
      }
      break;
    case KVM_EXIT_FAIL_ENTRY:
      std::fprintf(e, "  hardware_entry_failure_reason: %#llx\n",
                   static_cast<unsigned long long>(run_->fail_entry.hardware_entry_failure_reason));
      break;
    default:
      break;
  }
  kvm_regs regs{};
  kvm_sregs sregs{};
  if (backend_.ioctl(vcpu_fd_, KVM_GET_REGS, ptr_arg(&regs)) < 0 ||
      backend_.ioctl(vcpu_fd_, KVM_GET_SREGS, ptr_arg(&sregs)) < 0) {
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
