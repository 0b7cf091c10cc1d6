#include "kvm/vm.h"

#include <unistd.h>

#include <cerrno>

#include "kvm/irqchip/irqchip.h"
#include "kvm/irqchip/pit.h"
#include "kvm/limits.h"
#include "kvm/vcpu.h"

namespace skvm::kvm {

Vm::Vm(const System& system) : system_(system) {}

Vm::~Vm() {
  // The irqfd and PIT threads stop first (they inject through the irqchip
  // into the LAPICs), then the vCPUs (whose LAPICs sit on the APIC bus),
  // then the irqchip and the bus. Destroyed outside mu_: a stopping thread
  // may still be inside a call that reads the VM.
  std::unique_ptr<Irqfds> irqfds;
  std::unique_ptr<irq::PitTimer> pit;
  std::vector<std::unique_ptr<Vcpu>> vcpus;
  std::unique_ptr<irq::Irqchip> chip;
  std::unique_ptr<irq::ApicBus> bus;
  {
    base::MutexLock lock(mu_);
    irqfds.swap(irqfds_);
    pit.swap(pit_owner_);
    vcpus.swap(vcpus_);
    chip.swap(irqchip_owner_);
    bus.swap(apic_bus_owner_);
  }
  irqfds.reset();
  pit_.store(nullptr);
  pit.reset();
  vcpus.clear();
  irqchip_.store(nullptr);
  chip.reset();
  apic_bus_.store(nullptr);
  bus.reset();
}

// kvm_main.c: kvm_vm_ioctl_create_vcpu.
int Vm::create_vcpu(unsigned long id, Vcpu** vcpu, int* fd) {
  if (id >= kMaxVcpuIds) return -EINVAL;
  base::MutexLock lock(mu_);
  if (vcpus_.size() >= kMaxVcpus) return -EINVAL;
  for (const auto& v : vcpus_)
    if (v->id() == id) return -EEXIST;
  std::unique_ptr<Vcpu> created;
  int new_fd = -1;
  int r = Vcpu::create(*this, static_cast<uint32_t>(id), &created, &new_fd);
  if (r < 0) return r;
  *vcpu = created.get();
  *fd = new_fd;
  vcpus_.push_back(std::move(created));
  return 0;
}

// vmx.c: vmx_set_tss_addr: the three TSS pages must lie below 4 GiB
// (addr > 0xffffd000 is EINVAL; the host's KVM does not truncate the
// 64-bit argument, and an unaligned address is accepted).
int Vm::set_tss_addr(unsigned long addr) {
  if (addr > (1ull << 32) - 3 * kPageSize) return -EINVAL;
  base::MutexLock lock(mu_);
  tss_addr_ = addr;
  return 0;
}

// x86.c: kvm_arch_vm_ioctl, KVM_SET_IDENTITY_MAP_ADDR.
int Vm::set_identity_map_addr(uint64_t addr) {
  base::MutexLock lock(mu_);
  if (!vcpus_.empty()) return -EINVAL;
  identity_map_addr_ = addr;
  return 0;
}

uint64_t Vm::tss_addr() const {
  base::MutexLock lock(mu_);
  return tss_addr_;
}

uint64_t Vm::identity_map_addr() const {
  base::MutexLock lock(mu_);
  return identity_map_addr_;
}

size_t Vm::vcpu_count() const {
  base::MutexLock lock(mu_);
  return vcpus_.size();
}

Vcpu* Vm::vcpu_by_index(size_t i) const {
  base::MutexLock lock(mu_);
  return i < vcpus_.size() ? vcpus_[i].get() : nullptr;
}

// x86.c: kvm_arch_vm_ioctl, KVM_CREATE_IRQCHIP: kvm_pic_init,
// kvm_ioapic_init, kvm_setup_default_irq_routing.
int Vm::create_irqchip() {
  base::MutexLock lock(mu_);
  if (irqchip_owner_) return -EEXIST;
  if (!vcpus_.empty()) return -EINVAL;
  apic_bus_owner_ = irq::make_apic_bus();
  irqchip_owner_ = std::make_unique<irq::Irqchip>(apic_bus_owner_.get());
  if (irq::PitTimer* p = pit_owner_.get()) {
    p->enable_timer();
    irqchip_owner_->add_ack_notifier(0, [p] { p->on_ack(); });
  }
  apic_bus_.store(apic_bus_owner_.get(), std::memory_order_release);
  irqchip_.store(irqchip_owner_.get(), std::memory_order_release);
  return 0;
}

// x86.c: KVM_CREATE_PIT2 / i8254.c: kvm_create_pit. The timer raises IRQ 0
// with the PIT's own irq source. Like the host's KVM (6.18), a PIT needs the
// in-kernel irqchip first (ENOENT); the 6.1 sources still allowed it.
int Vm::create_pit2(uint32_t flags) {
  base::MutexLock lock(mu_);
  if (pit_owner_) return -EEXIST;
  irq::Irqchip* chip = irqchip_owner_.get();
  if (!chip) return -ENOENT;
  auto pulse = [this] {
    if (irq::Irqchip* c = irqchip()) {
      c->set_irq(irq::kPitSourceId, 0, 1, false);
      c->set_irq(irq::kPitSourceId, 0, 0, false);
    }
  };
  pit_owner_ = std::make_unique<irq::PitTimer>(system_.clock(), flags, chip != nullptr, pulse);
  irq::PitTimer* p = pit_owner_.get();
  if (chip) chip->add_ack_notifier(0, [p] { p->on_ack(); });
  if (chip) chip->add_mask_notifier(0, [p](bool masked) { p->on_mask(masked); });
  pit_.store(p, std::memory_order_release);
  return 0;
}

// eventfd.c: kvm_irqfd — flags, then (assign) kvm_arch_irqfd_allowed: an
// in-kernel irqchip; deassign needs only a valid eventfd.
int Vm::irqfd(const kvm_irqfd& args) {
  if (args.flags & ~(KVM_IRQFD_FLAG_DEASSIGN | KVM_IRQFD_FLAG_RESAMPLE)) return -EINVAL;
  Irqfds* irqfds;
  {
    base::MutexLock lock(mu_);
    if (!irqfds_) {
      if (args.flags & KVM_IRQFD_FLAG_DEASSIGN) {
        int fd = dup_eventfd(static_cast<int>(args.fd));
        if (fd < 0) return fd;
        close(fd);
        return 0;
      }
      if (!irqchip_owner_) return -EINVAL;
      irqfds_ = std::make_unique<Irqfds>(*irqchip_owner_);
    }
    irqfds = irqfds_.get();  // lives until the VM dies
  }
  return irqfds->ioctl(args);
}

irq::IrqchipPort* Vm::irqchip_port() const { return irqchip(); }

int Vm::set_irq(uint32_t gsi, int level, bool line_status) {
  irq::Irqchip* chip = irqchip();
  if (!chip) return -ENXIO;
  return chip->set_irq(irq::kUserspaceSourceId, gsi, level, line_status);
}

bool Vm::pio(uint16_t port, bool is_write, unsigned size, void* data) {
  irq::Irqchip* chip = irqchip();
  if (chip && chip->pio(port, is_write, size, data)) return true;
  irq::PitTimer* p = pit();
  if (p && p->pio(port, is_write, size, data)) return true;
  return is_write && ioeventfds_.write(true, port, size, data);
}

bool Vm::mmio(uint64_t gpa, bool is_write, unsigned size, void* data) {
  irq::Irqchip* chip = irqchip();
  if (chip && chip->mmio(gpa, is_write, size, data)) return true;
  return is_write && ioeventfds_.write(false, gpa, size, data);
}

}  // namespace skvm::kvm
