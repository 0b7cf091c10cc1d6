// The APIC bus: routes ApicIrq messages (IOAPIC, MSI, IPIs) to the local
// APICs of one VM (irq_comm.c: kvm_irq_delivery_to_apic, slow path:
// kvm_apic_match_dest on every LAPIC, lowest priority by vector hashing).
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "kvm/irqchip/apic_bus.h"

namespace skvm::kvm::irq {

class Lapic;

class LapicBus final : public ApicBus {
 public:
  // A vCPU's LAPIC joins the bus when the vCPU is created (KVM_CREATE_VCPU
  // after KVM_CREATE_IRQCHIP), in vCPU creation order; the bus shares
  // ownership so a LAPIC outlives any delivery in flight.
  void attach(std::shared_ptr<Lapic> lapic);

  int deliver(const ApicIrq& irq, int source_vcpu) override;
  // i8259.c: pic_unlock: wake the first vCPU whose LAPIC accepts PIC
  // interrupts (kvm_apic_accept_pic_intr).
  void pic_output_changed() override;

  size_t size() const;

  // The bus of a VM (Vm::apic_bus(), made by make_apic_bus()).
  static LapicBus& of(ApicBus& bus);

 private:
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<Lapic>> lapics_;
};

}  // namespace skvm::kvm::irq
