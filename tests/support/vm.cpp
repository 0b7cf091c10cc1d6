#include "vm.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace skvm::test {
namespace {

// SDM Vol. 3A, 3.4.5 Segment Descriptors: flat 4 GiB descriptors.
constexpr uint64_t kGdt[4] = {
    0,
    0x00cf9b000000ffffULL,  // 0x08: 32-bit code, DPL0, accessed
    0x00cf93000000ffffULL,  // 0x10: data, read/write, accessed
    0x00af9b000000ffffULL,  // 0x18: 64-bit code (L=1)
};

kvm_segment flat_segment(uint16_t selector, uint8_t type, bool db, bool l, bool g,
                         uint32_t limit) {
  kvm_segment s{};
  s.base = 0;
  s.limit = limit;
  s.selector = selector;
  s.type = type;
  s.present = 1;
  s.dpl = 0;
  s.db = db;
  s.s = 1;
  s.l = l;
  s.g = g;
  return s;
}

}  // namespace

std::string errno_string(int err) {
  return std::string(strerrorname_np(err) ? strerrorname_np(err) : "E?") + " (" +
         std::to_string(err) + ")";
}

// ---- Vm ----

Vm::Vm(const Backend& backend) : backend_(backend) {
  const std::string& why = backend_unusable_reason(backend);
  if (!why.empty()) {
    error_ = why;
    return;
  }
  sys_ = backend.open(O_RDWR | O_CLOEXEC);
  if (sys_ < 0) {
    error_ = "open: " + errno_string(errno);
    return;
  }
  vm_ = backend.ioctl(sys_, KVM_CREATE_VM, 0);
  if (vm_ < 0) error_ = "KVM_CREATE_VM: " + errno_string(errno);
}

Vm::~Vm() {
  if (vm_ >= 0) backend_.close(vm_);
  if (sys_ >= 0) backend_.close(sys_);
  for (const Ram& r : ram_) munmap(r.mem, r.size);
}

Result Vm::sys_ioctl(unsigned long request, unsigned long arg) const {
  errno = 0;
  int ret = backend_.ioctl(sys_, request, arg);
  return {ret, ret < 0 ? errno : 0};
}

Result Vm::vm_ioctl(unsigned long request, unsigned long arg) const {
  errno = 0;
  int ret = backend_.ioctl(vm_, request, arg);
  return {ret, ret < 0 ? errno : 0};
}

Result Vm::vm_ioctl(unsigned long request, const void* arg) const {
  // SAFETY: pointer-to-integer conversion only (the ioctl argument).
  return vm_ioctl(request, reinterpret_cast<unsigned long>(arg));
}

uint8_t* Vm::add_ram(uint32_t slot, uint64_t gpa, uint64_t size, uint32_t flags,
                     std::string* why) {
  void* mem = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) {
    *why = "mmap: " + errno_string(errno);
    return nullptr;
  }
  kvm_userspace_memory_region region{};
  region.slot = slot;
  region.flags = flags;
  region.guest_phys_addr = gpa;
  region.memory_size = size;
  region.userspace_addr = reinterpret_cast<uint64_t>(mem);  // SAFETY: address only
  Result r = vm_ioctl(KVM_SET_USER_MEMORY_REGION, &region);
  if (r.ret != 0) {
    *why = "KVM_SET_USER_MEMORY_REGION: " + errno_string(r.err);
    munmap(mem, size);
    return nullptr;
  }
  ram_.push_back({gpa, size, static_cast<uint8_t*>(mem)});
  return static_cast<uint8_t*>(mem);
}

uint8_t* Vm::host(uint64_t gpa, uint64_t len) const {
  for (const Ram& r : ram_) {
    if (gpa >= r.gpa && gpa + len <= r.gpa + r.size) return r.mem + (gpa - r.gpa);
  }
  return nullptr;
}

std::unique_ptr<Vcpu> Vm::create_vcpu(unsigned long id, std::string* why) {
  Result r = vm_ioctl(KVM_CREATE_VCPU, id);
  if (r.ret < 0) {
    *why = "KVM_CREATE_VCPU: " + errno_string(r.err);
    return nullptr;
  }
  int fd = r.ret;
  Result size = sys_ioctl(KVM_GET_VCPU_MMAP_SIZE, 0);
  if (size.ret <= 0) {
    *why = "KVM_GET_VCPU_MMAP_SIZE: " + errno_string(size.err);
    backend_.close(fd);
    return nullptr;
  }
  void* run = mmap(nullptr, size.ret, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (run == MAP_FAILED) {
    *why = "mmap(vcpu fd): " + errno_string(errno);
    backend_.close(fd);
    return nullptr;
  }
  return std::make_unique<Vcpu>(*this, fd, static_cast<kvm_run*>(run), size.ret);
}

// ---- Vcpu ----

Vcpu::Vcpu(Vm& vm, int fd, kvm_run* run, size_t run_size)
    : vm_(vm), fd_(fd), run_(run), run_size_(run_size) {}

Vcpu::~Vcpu() {
  munmap(run_, run_size_);
  vm_.backend().close(fd_);
}

Result Vcpu::ioctl(unsigned long request, unsigned long arg) const {
  errno = 0;
  int ret = vm_.backend().ioctl(fd_, request, arg);
  return {ret, ret < 0 ? errno : 0};
}

Result Vcpu::ioctl(unsigned long request, const void* arg) const {
  // SAFETY: pointer-to-integer conversion only (the ioctl argument).
  return ioctl(request, reinterpret_cast<unsigned long>(arg));
}

std::string Vcpu::set_supported_cpuid() {
  constexpr uint32_t kMax = 256;
  std::vector<uint8_t> buf(sizeof(kvm_cpuid2) + kMax * sizeof(kvm_cpuid_entry2));
  // SAFETY: buf is sized for the header plus kMax entries and zeroed.
  auto* cpuid = reinterpret_cast<kvm_cpuid2*>(buf.data());
  cpuid->nent = kMax;
  Result r = vm_.sys_ioctl(KVM_GET_SUPPORTED_CPUID, reinterpret_cast<unsigned long>(cpuid));
  if (r.ret != 0) return "KVM_GET_SUPPORTED_CPUID: " + errno_string(r.err);
  r = ioctl(KVM_SET_CPUID2, cpuid);
  if (r.ret != 0) return "KVM_SET_CPUID2: " + errno_string(r.err);
  return {};
}

std::string Vcpu::enter_mode(Mode mode, uint64_t entry) {
  kvm_sregs sregs{};
  Result r = ioctl(KVM_GET_SREGS, &sregs);
  if (r.ret != 0) return "KVM_GET_SREGS: " + errno_string(r.err);
  kvm_regs regs{};
  regs.rflags = 0x2;
  regs.rip = entry;

  if (mode == Mode::kReal) {
    kvm_segment code = flat_segment(0, 0xb, false, false, false, 0xffff);
    kvm_segment data = flat_segment(0, 0x3, false, false, false, 0xffff);
    sregs.cs = code;
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
    regs.rsp = kRealStack;
  } else {
    uint8_t* gdt = vm_.host(kGdtGpa, sizeof kGdt);
    if (gdt == nullptr) return "no RAM at the GDT address";
    std::memcpy(gdt, kGdt, sizeof kGdt);
    sregs.gdt.base = kGdtGpa;
    sregs.gdt.limit = sizeof kGdt - 1;
    kvm_segment data = flat_segment(0x10, 0x3, true, false, true, 0xffffffff);
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
    sregs.cr0 = 0x11;  // PE | ET
    regs.rsp = kFlatStack;
    if (mode == Mode::kProt32) {
      sregs.cs = flat_segment(0x08, 0xb, true, false, true, 0xffffffff);
    } else {
      uint8_t* pml4 = vm_.host(kPml4Gpa, 0x3000);
      if (pml4 == nullptr) return "no RAM at the page-table address";
      std::memset(pml4, 0, 0x3000);
      // SDM Vol. 3A, 4.5 4-Level Paging: PML4[0] -> PDPT, PDPT[0] -> PD,
      // PD[i] = 2 MiB page i (P | RW | PS): identity map of 0..1 GiB.
      uint64_t e = kPdptGpa | 0x3;
      std::memcpy(pml4, &e, 8);
      e = kPdGpa | 0x3;
      std::memcpy(pml4 + 0x1000, &e, 8);
      for (uint64_t i = 0; i < 512; ++i) {
        e = (i << 21) | 0x83;
        std::memcpy(pml4 + 0x2000 + i * 8, &e, 8);
      }
      sregs.cs = flat_segment(0x18, 0xb, false, true, true, 0xffffffff);
      sregs.cr3 = kPml4Gpa;
      sregs.cr4 = 0x20;                 // PAE
      sregs.cr0 = 0x80000011;           // PG | ET | PE
      sregs.efer = 0x500;               // LME | LMA
    }
  }
  r = ioctl(KVM_SET_SREGS, &sregs);
  if (r.ret != 0) return "KVM_SET_SREGS: " + errno_string(r.err);
  r = ioctl(KVM_SET_REGS, &regs);
  if (r.ret != 0) return "KVM_SET_REGS: " + errno_string(r.err);
  return {};
}

}  // namespace skvm::test
