// GSI routing (virt/kvm/irqchip.c, arch/x86/kvm/irq_comm.c): a table from
// GSI to irqchip pins and MSI messages, replaced whole by
// KVM_SET_GSI_ROUTING. Immutable once built; the Irqchip swaps snapshots.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace skvm::kvm::irq {

inline constexpr uint32_t kMaxIrqRoutes = 4096;  // KVM_MAX_IRQ_ROUTES (x86)
inline constexpr unsigned kNrIrqchips = 3;       // KVM_NR_IRQCHIPS
inline constexpr unsigned kIrqchipPins = 24;     // KVM_IRQCHIP_NUM_PINS

class RoutingTable {
 public:
  // irqchip.c: kvm_set_irq_routing + setup_routing_entry +
  // irq_comm.c: kvm_set_routing_entry. 0 or -EINVAL.
  static int build(const kvm_irq_routing_entry* entries, uint32_t nr,
                   std::shared_ptr<const RoutingTable>* out);
  // irq_comm.c: kvm_setup_default_irq_routing.
  static std::shared_ptr<const RoutingTable> make_default();

  // kvm_irq_map_gsi: the entries of `gsi` (empty when unrouted).
  const std::vector<kvm_irq_routing_entry>& entries(uint32_t gsi) const;
  // kvm_irq_map_chip_pin: the GSI routed to (irqchip, pin), or -1.
  int gsi_of(unsigned irqchip, unsigned pin) const;

 private:
  std::vector<std::vector<kvm_irq_routing_entry>> map_;
  int chip_[kNrIrqchips][kIrqchipPins];
};

}  // namespace skvm::kvm::irq
