// x86.c: kvm_vm_ioctl_get/set_irqchip; irqchip.c: kvm_set_irq;
// irq_comm.c: kvm_set_pic_irq, kvm_set_ioapic_irq, kvm_set_msi,
// kvm_notify_acked_irq.
#include "kvm/irqchip/irqchip.h"

#include <cerrno>
#include <cstring>

namespace skvm::kvm::irq {

Irqchip::Irqchip(ApicBus* bus) : bus_(bus) {
  base::MutexLock lock(mu_);
  ioapic_.set_bus(bus);
  base::MutexLock rlock(routing_mu_);
  routing_ = RoutingTable::make_default();
}

std::shared_ptr<const RoutingTable> Irqchip::routing() {
  base::MutexLock lock(routing_mu_);
  return routing_;
}

void Irqchip::drain(Deferred* d) {
  d->pic_acked |= pic_.take_acked();
  d->wakeup |= pic_.take_wakeup() && pic_.output();
  uint16_t pu, pm;
  pic_.take_mask_changes(&pu, &pm);
  d->pic_unmasked = static_cast<uint16_t>((d->pic_unmasked & ~pm) | pu);
  d->pic_masked = static_cast<uint16_t>((d->pic_masked & ~pu) | pm);
  uint32_t iu, im;
  ioapic_.take_mask_changes(&iu, &im);
  d->ioapic_unmasked = (d->ioapic_unmasked & ~im) | iu;
  d->ioapic_masked = (d->ioapic_masked & ~iu) | im;
}

// irq_comm.c: kvm_fire_mask_notifiers for one pin.
void Irqchip::fire_mask_notifiers(const RoutingTable& rt, unsigned irqchip, unsigned pin, bool masked) {
  const int gsi = rt.gsi_of(irqchip, pin);
  if (gsi < 0) return;
  std::vector<std::function<void(bool)>> run;
  {
    base::MutexLock lock(notifier_mu_);
    for (const auto& n : mask_notifiers_)
      if (static_cast<int>(n.gsi) == gsi) run.push_back(n.fn);
  }
  for (auto& fn : run) fn(masked);
}

// irq_comm.c: kvm_notify_acked_irq for every acked pin and
// kvm_fire_mask_notifiers for every pin whose mask changed, then
// pic_unlock's kick of the vCPU that takes PIC interrupts.
void Irqchip::after_unlock(const Deferred& d) {
  const bool masks = d.pic_unmasked || d.pic_masked || d.ioapic_unmasked || d.ioapic_masked;
  if (d.pic_acked || d.ioapic_acked || masks) {
    auto rt = routing();
    std::vector<std::function<void()>> run;
    if (d.pic_acked || d.ioapic_acked) {
      base::MutexLock lock(notifier_mu_);
      for (const auto& n : notifiers_) {
        bool hit = false;
        for (unsigned pin = 0; pin < 16 && !hit; pin++)
          if (d.pic_acked & (1u << pin))
            hit = rt->gsi_of(pin < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE, pin) ==
                  static_cast<int>(n.gsi);
        for (unsigned pin = 0; pin < Ioapic::kPins && !hit; pin++)
          if (d.ioapic_acked & (1u << pin))
            hit = rt->gsi_of(KVM_IRQCHIP_IOAPIC, pin) == static_cast<int>(n.gsi);
        if (hit) run.push_back(n.fn);
      }
    }
    for (auto& fn : run) fn();
    if (masks) {
      // The slave's pins are 8-15 in the routing table (irq_comm.c).
      for (unsigned pin = 0; pin < 16; pin++) {
        const unsigned chip = pin < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE;
        if (d.pic_unmasked & (1u << pin)) fire_mask_notifiers(*rt, chip, pin, false);
        if (d.pic_masked & (1u << pin)) fire_mask_notifiers(*rt, chip, pin, true);
      }
      for (unsigned pin = 0; pin < Ioapic::kPins; pin++) {
        if (d.ioapic_unmasked & (1u << pin)) fire_mask_notifiers(*rt, KVM_IRQCHIP_IOAPIC, pin, false);
        if (d.ioapic_masked & (1u << pin)) fire_mask_notifiers(*rt, KVM_IRQCHIP_IOAPIC, pin, true);
      }
    }
  }
  if (d.wakeup && bus_) bus_->pic_output_changed();
}

// irq_comm.c: kvm_set_msi / kvm_set_msi_irq (xAPIC MSI format: no x2APIC
// extended destination, KVM_CAP_X2APIC_API is not offered).
int Irqchip::msi(const kvm_irq_routing_entry& e, int level) {
  if (!level) return -1;
  ApicIrq irq;
  uint32_t lo = e.u.msi.address_lo, data = e.u.msi.data;
  irq.dest_id = (lo >> 12) & 0xff;
  irq.vector = static_cast<uint8_t>(data & 0xff);
  irq.logical = (lo >> 2) & 1;
  irq.msi_redir_hint = (lo >> 3) & 1;
  irq.level_trigger = (data >> 15) & 1;
  irq.delivery_mode = static_cast<uint8_t>((data >> 8) & 7);
  irq.level_assert = true;
  irq.shorthand = kShorthandNone;
  return bus_ ? bus_->deliver(irq, -1) : -1;
}

int Irqchip::set_irq(int source, uint32_t gsi, int level, bool line_status) {
  auto rt = routing();
  int ret = -1;
  Deferred d;
  const auto& entries = rt->entries(gsi);
  // irqchip.c: kvm_set_irq walks the entries last to first and sums the
  // non-negative results.
  for (size_t i = entries.size(); i-- > 0;) {
    const kvm_irq_routing_entry& e = entries[i];
    int r;
    if (e.type == KVM_IRQ_ROUTING_MSI) {
      r = msi(e, level);
    } else {
      base::MutexLock lock(mu_);
      if (e.u.irqchip.irqchip == KVM_IRQCHIP_IOAPIC)
        r = ioapic_.set_irq(e.u.irqchip.pin, source, level, line_status);
      else
        r = pic_.set_irq(e.u.irqchip.pin + (e.u.irqchip.irqchip == KVM_IRQCHIP_PIC_SLAVE ? 8 : 0),
                         source, level);
      drain(&d);
    }
    if (r < 0) continue;
    ret = r + (ret < 0 ? 0 : ret);
  }
  after_unlock(d);
  return ret;
}

void Irqchip::clear_source(int source) {
  base::MutexLock lock(mu_);
  pic_.clear_source(source);
  ioapic_.clear_source(source);
}

int Irqchip::set_routing(const kvm_irq_routing_entry* entries, uint32_t nr) {
  std::shared_ptr<const RoutingTable> t;
  int r = RoutingTable::build(entries, nr, &t);
  if (r) return r;
  base::MutexLock lock(routing_mu_);
  routing_ = std::move(t);
  return 0;
}

// irqchip.c: kvm_send_userspace_msi.
int Irqchip::signal_msi(const kvm_msi& m) {
  if (m.flags & ~KVM_MSI_VALID_DEVID) return -EINVAL;
  kvm_irq_routing_entry e{};
  e.type = KVM_IRQ_ROUTING_MSI;
  e.u.msi.address_lo = m.address_lo;
  e.u.msi.address_hi = m.address_hi;
  e.u.msi.data = m.data;
  return msi(e, 1);
}

// x86.c: kvm_vm_ioctl_get_irqchip.
int Irqchip::get_chip(kvm_irqchip* chip) {
  base::MutexLock lock(mu_);
  switch (chip->chip_id) {
    case KVM_IRQCHIP_PIC_MASTER:
    case KVM_IRQCHIP_PIC_SLAVE:
      chip->chip.pic = pic_.state(chip->chip_id);
      return 0;
    case KVM_IRQCHIP_IOAPIC:
      ioapic_.get_state(&chip->chip.ioapic);
      return 0;
    default:
      return -EINVAL;
  }
}

// x86.c: kvm_vm_ioctl_set_irqchip (then kvm_pic_update_irq).
int Irqchip::set_chip(const kvm_irqchip& chip) {
  Deferred d;
  {
    base::MutexLock lock(mu_);
    switch (chip.chip_id) {
      case KVM_IRQCHIP_PIC_MASTER:
      case KVM_IRQCHIP_PIC_SLAVE:
        pic_.set_state(chip.chip_id, chip.chip.pic);
        break;
      case KVM_IRQCHIP_IOAPIC:
        ioapic_.set_state(chip.chip.ioapic);
        break;
      default:
        return -EINVAL;
    }
    pic_.update();
    drain(&d);
  }
  after_unlock(d);
  return 0;
}

// i8259.c: picdev_read/picdev_write — ranges 0x20-0x21, 0xa0-0xa1,
// 0x4d0-0x4d1; a non-byte access inside a range is claimed and ignored
// (reads return 0).
bool Irqchip::pio(uint16_t port, bool is_write, unsigned size, void* data) {
  uint16_t base;
  if (port >= 0x20 && port < 0x22)
    base = 0x20;
  else if (port >= 0xa0 && port < 0xa2)
    base = 0xa0;
  else if (port >= 0x4d0 && port < 0x4d2)
    base = 0x4d0;
  else
    return false;
  if (port + size > base + 2u) return false;
  if (size != 1) {
    // SAFETY: `data` holds `size` bytes (the PIO access width).
    if (!is_write) std::memset(data, 0, size);
    return true;
  }
  Deferred d;
  {
    base::MutexLock lock(mu_);
    uint8_t* b = static_cast<uint8_t*>(data);
    if (is_write)
      pic_.write(port, *b);
    else
      pic_.read(port, b);
    drain(&d);
  }
  after_unlock(d);
  return true;
}

bool Irqchip::mmio(uint64_t gpa, bool is_write, unsigned size, void* data) {
  Deferred d;
  {
    base::MutexLock lock(mu_);
    if (!ioapic_.in_range(gpa) || !ioapic_.in_range(gpa + size - 1)) return false;
    if (is_write)
      ioapic_.mmio_write(gpa, size, data);
    else
      ioapic_.mmio_read(gpa, size, data);
    drain(&d);
  }
  after_unlock(d);
  return true;
}

void Irqchip::add_mask_notifier(uint32_t gsi, std::function<void(bool masked)> fn) {
  base::MutexLock lock(notifier_mu_);
  mask_notifiers_.push_back({gsi, std::move(fn)});
}

int Irqchip::add_ack_notifier(uint32_t gsi, std::function<void()> fn) {
  base::MutexLock lock(notifier_mu_);
  int id = next_notifier_id_++;
  notifiers_.push_back({id, gsi, std::move(fn)});
  return id;
}

void Irqchip::remove_ack_notifier(int id) {
  base::MutexLock lock(notifier_mu_);
  for (auto it = notifiers_.begin(); it != notifiers_.end(); ++it)
    if (it->id == id) {
      notifiers_.erase(it);
      return;
    }
}

bool Irqchip::pic_has_interrupt() {
  base::MutexLock lock(mu_);
  return pic_.output();
}

uint8_t Irqchip::pic_acknowledge() {
  Deferred d;
  uint8_t v;
  {
    base::MutexLock lock(mu_);
    v = pic_.acknowledge();
    drain(&d);
  }
  after_unlock(d);
  return v;
}

void Irqchip::eoi_broadcast(uint8_t vector, bool level_triggered) {
  uint32_t pins;
  {
    base::MutexLock lock(mu_);
    pins = ioapic_.pins_with_vector(vector);
  }
  if (!pins) return;
  Deferred acked;
  acked.ioapic_acked = pins;
  after_unlock(acked);
  Deferred d;
  {
    base::MutexLock lock(mu_);
    ioapic_.eoi(pins, level_triggered);
    drain(&d);
  }
  after_unlock(d);
}

}  // namespace skvm::kvm::irq
