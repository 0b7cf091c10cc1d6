// virt/kvm/irqchip.c: kvm_set_irq_routing; irq_comm.c: default_routing.
#include "kvm/irqchip/routing.h"

#include <cerrno>

namespace skvm::kvm::irq {

namespace {

const std::vector<kvm_irq_routing_entry> kNoEntries;

// irq_comm.c: kvm_set_routing_entry (x86, full in-kernel irqchip).
int check_entry(const kvm_irq_routing_entry& ue) {
  switch (ue.type) {
    case KVM_IRQ_ROUTING_IRQCHIP:
      switch (ue.u.irqchip.irqchip) {
        case KVM_IRQCHIP_PIC_MASTER:
        case KVM_IRQCHIP_PIC_SLAVE:
          return ue.u.irqchip.pin >= 8 ? -EINVAL : 0;
        case KVM_IRQCHIP_IOAPIC:
          return ue.u.irqchip.pin >= KVM_IOAPIC_NUM_PINS ? -EINVAL : 0;
        default:
          return -EINVAL;
      }
    case KVM_IRQ_ROUTING_MSI:
      return 0;  // kvm_msi_route_invalid needs the x2APIC API: never here
    default:
      // KVM_IRQ_ROUTING_HV_SINT / XEN_EVTCHN need Hyper-V / Xen
      // emulation, which softkvm does not have (DEVIATION: KVM accepts
      // HV_SINT entries here and fails at delivery).
      return -EINVAL;
  }
}

}  // namespace

int RoutingTable::build(const kvm_irq_routing_entry* ue, uint32_t nr,
                        std::shared_ptr<const RoutingTable>* out) {
  uint32_t nr_rt_entries = 0;
  for (uint32_t i = 0; i < nr; ++i) {
    if (ue[i].gsi >= kMaxIrqRoutes) return -EINVAL;
    if (ue[i].gsi > nr_rt_entries) nr_rt_entries = ue[i].gsi;
  }
  auto t = std::make_shared<RoutingTable>();
  t->map_.resize(nr_rt_entries + 1);
  for (auto& c : t->chip_)
    for (int& g : c) g = -1;
  for (uint32_t i = 0; i < nr; ++i) {
    const kvm_irq_routing_entry& e = ue[i];
    // kvm_set_irq_routing: only MSI entries take a flag (KVM_MSI_VALID_DEVID).
    if (e.type == KVM_IRQ_ROUTING_MSI ? (e.flags & ~KVM_MSI_VALID_DEVID) != 0 : e.flags != 0)
      return -EINVAL;
    // setup_routing_entry: one entry per irqchip per GSI, and a non-irqchip
    // entry is the only one for its GSI.
    for (const auto& ei : t->map_[e.gsi])
      if (ei.type != KVM_IRQ_ROUTING_IRQCHIP || e.type != KVM_IRQ_ROUTING_IRQCHIP ||
          e.u.irqchip.irqchip == ei.u.irqchip.irqchip)
        return -EINVAL;
    int r = check_entry(e);
    if (r) return r;
    if (e.type == KVM_IRQ_ROUTING_IRQCHIP) {
      // irq_comm.c: slave pins are 8-15 of the PIC's 16.
      unsigned pin = e.u.irqchip.pin + (e.u.irqchip.irqchip == KVM_IRQCHIP_PIC_SLAVE ? 8 : 0);
      t->chip_[e.u.irqchip.irqchip][pin] = static_cast<int>(e.gsi);
    }
    t->map_[e.gsi].push_back(e);
  }
  *out = std::move(t);
  return 0;
}

// irq_comm.c: default_routing — GSI 0-15 to the IOAPIC pin of the same
// number and to the PIC, GSI 16-23 to the IOAPIC only. (The ISA IRQ 0 ->
// IOAPIC pin 2 override is the firmware's MADT business, not routing.)
std::shared_ptr<const RoutingTable> RoutingTable::make_default() {
  std::vector<kvm_irq_routing_entry> v;
  for (uint32_t irq = 0; irq < 24; irq++) {
    kvm_irq_routing_entry e{};
    e.gsi = irq;
    e.type = KVM_IRQ_ROUTING_IRQCHIP;
    e.u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
    e.u.irqchip.pin = irq;
    v.push_back(e);
    if (irq < 16) {
      e.u.irqchip.irqchip = irq < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE;
      e.u.irqchip.pin = irq % 8;
      v.push_back(e);
    }
  }
  std::shared_ptr<const RoutingTable> t;
  build(v.data(), static_cast<uint32_t>(v.size()), &t);
  return t;
}

const std::vector<kvm_irq_routing_entry>& RoutingTable::entries(uint32_t gsi) const {
  return gsi < map_.size() ? map_[gsi] : kNoEntries;
}

int RoutingTable::gsi_of(unsigned irqchip, unsigned pin) const {
  if (irqchip >= kNrIrqchips || pin >= kIrqchipPins) return -1;
  return chip_[irqchip][pin];
}

}  // namespace skvm::kvm::irq
