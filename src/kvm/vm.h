// A KVM VM (the fd KVM_CREATE_VM returns): memslots, vCPUs, TSS and
// identity-map addresses. Kept alive by its fd and by each vCPU fd (the ABI
// layer holds shared_ptr<Vm> in both kinds of handle); it owns its vCPUs,
// which live until the VM dies, as in KVM.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "base/mutex.h"
#include "cpu/cache/shared_code.h"
#include "kvm/eventfd.h"
#include "kvm/irqchip/apic_bus.h"
#include "kvm/kvmclock.h"
#include "kvm/memslots.h"
#include "kvm/system.h"

namespace skvm::kvm {

class Vcpu;
namespace irq {
class Irqchip;
class PitTimer;
}

class Vm {
 public:
  explicit Vm(const System& system);
  ~Vm();
  Vm(const Vm&) = delete;
  Vm& operator=(const Vm&) = delete;

  const System& system() const { return system_; }
  // api.rst: KVM_GET/SET_CLOCK; MSR_KVM_WALL_CLOCK_NEW (kvm/kvmclock.h).
  KvmClock& kvmclock() { return kvmclock_; }
  Memslots& memslots() { return memslots_; }
  // Code pages decoded by any vCPU: cross-vCPU code invalidation.
  cpu::SharedCode& shared_code() { return shared_code_; }

  // api.rst: KVM_CREATE_VCPU. On success *vcpu is the new vCPU (owned by the
  // VM) and *fd its new O_CLOEXEC fd (a memfd holding the kvm_run pages), to
  // be owned by the caller. Returns 0 or -errno (EINVAL for an id >=
  // KVM_MAX_VCPU_IDS or beyond KVM_MAX_VCPUS vCPUs, EEXIST for a duplicate).
  int create_vcpu(unsigned long id, Vcpu** vcpu, int* fd);

  // api.rst: KVM_SET_TSS_ADDR (vmx.c: vmx_set_tss_addr, 3 pages below 4 GiB).
  int set_tss_addr(unsigned long addr);
  // api.rst: KVM_SET_IDENTITY_MAP_ADDR (EINVAL once a vCPU exists).
  int set_identity_map_addr(uint64_t addr);

  uint64_t tss_addr() const;
  uint64_t identity_map_addr() const;
  size_t vcpu_count() const;
  // The i-th vCPU in creation order, or nullptr (for the APIC bus).
  Vcpu* vcpu_by_index(size_t i) const;

  // api.rst: KVM_CREATE_IRQCHIP (x86.c: EEXIST when present, EINVAL once a
  // vCPU exists).
  int create_irqchip();
  // The in-kernel irqchip's two halves (nullptr before KVM_CREATE_IRQCHIP).
  // Published once, never replaced: safe to read from any thread.
  irq::ApicBus* apic_bus() const { return apic_bus_.load(std::memory_order_acquire); }
  irq::IrqchipPort* irqchip_port() const;
  irq::Irqchip* irqchip() const { return irqchip_.load(std::memory_order_acquire); }
  bool irqchip_in_kernel() const { return irqchip() != nullptr; }
  // irqchip.c: kvm_set_irq from user space (KVM_USERSPACE_IRQ_SOURCE_ID):
  // >0 delivered to that many targets, 0 coalesced, <0 masked/ignored;
  // -ENXIO without an in-kernel irqchip. Callable from any thread.
  int set_irq(uint32_t gsi, int level, bool line_status);

  // api.rst: KVM_CREATE_PIT2 (x86.c: EEXIST when present, ENOENT without
  // an in-kernel irqchip; flags are not checked).
  int create_pit2(uint32_t flags);
  // nullptr before KVM_CREATE_PIT2; published once.
  irq::PitTimer* pit() const { return pit_.load(std::memory_order_acquire); }

  // api.rst: KVM_IOEVENTFD / KVM_IRQFD (eventfd.c). 0 or -errno.
  int ioeventfd(const kvm_ioeventfd& args) { return ioeventfds_.ioctl(args); }
  int irqfd(const kvm_irqfd& args);

  // The in-kernel devices on the PIO and MMIO buses (PIC, ELCR, PIT, port
  // 0x61, IOAPIC, ioeventfds). False when nothing claims the access (the
  // vCPU then exits to user space). `data` holds `size` bytes. Any thread.
  bool pio(uint16_t port, bool is_write, unsigned size, void* data);
  bool mmio(uint64_t gpa, bool is_write, unsigned size, void* data);

 private:
  const System& system_;
  Memslots memslots_;
  KvmClock kvmclock_{system_.clock()};
  cpu::SharedCode shared_code_;
  mutable base::Mutex mu_;
  std::vector<std::unique_ptr<Vcpu>> vcpus_ SKVM_GUARDED_BY(mu_);
  uint64_t tss_addr_ SKVM_GUARDED_BY(mu_) = 0;
  uint64_t identity_map_addr_ SKVM_GUARDED_BY(mu_) = 0xfffbc000;  // KVM's default
  // Owned here, published through the atomics below (created once).
  std::unique_ptr<irq::ApicBus> apic_bus_owner_ SKVM_GUARDED_BY(mu_);
  std::unique_ptr<irq::Irqchip> irqchip_owner_ SKVM_GUARDED_BY(mu_);
  std::unique_ptr<irq::PitTimer> pit_owner_ SKVM_GUARDED_BY(mu_);
  std::unique_ptr<Irqfds> irqfds_ SKVM_GUARDED_BY(mu_);  // from the first KVM_IRQFD
  Ioeventfds ioeventfds_;
  std::atomic<irq::ApicBus*> apic_bus_{nullptr};
  std::atomic<irq::PitTimer*> pit_{nullptr};
  std::atomic<irq::Irqchip*> irqchip_{nullptr};
};

}  // namespace skvm::kvm
