#include "kvm/irqchip/lapic_bus.h"

#include "kvm/irqchip/lapic.h"

namespace skvm::kvm::irq {

void LapicBus::attach(std::shared_ptr<Lapic> lapic) {
  std::lock_guard lock(mu_);
  lapics_.push_back(std::move(lapic));
}

size_t LapicBus::size() const {
  std::lock_guard lock(mu_);
  return lapics_.size();
}

// irq_comm.c: kvm_irq_delivery_to_apic (the slow path, which the fast path
// of the APIC map reproduces): every present (hw-enabled) LAPIC matching the
// destination takes a fixed/NMI/INIT/SIPI message; a lowest-priority one
// goes to one sw-enabled match chosen by vector hashing
// (kvm_vector_to_index, the module default vector_hashing=1). Returns -1
// when nobody was targeted, else the number of LAPICs that accepted.
// Holding mu_ across accept_irq() is safe: accepting never sends on the bus.
int LapicBus::deliver(const ApicIrq& irq, int source_vcpu) {
  std::lock_guard lock(mu_);
  const Lapic* source = nullptr;
  if (source_vcpu >= 0) {
    for (const auto& l : lapics_)
      if (l->vcpu_id() == static_cast<uint32_t>(source_vcpu)) source = l.get();
  }
  const bool lowest = irq.delivery_mode == kDmLowest || irq.msi_redir_hint;
  int r = -1;
  Lapic* candidates[256];
  unsigned n = 0;
  for (const auto& l : lapics_) {
    if (!l->hw_enabled()) continue;
    if (!l->match_dest(irq, source)) continue;
    if (!lowest) {
      if (r < 0) r = 0;
      r += l->accept_irq(irq);
    } else if (l->reg(kApicSpiv) & kSpivEnabled) {
      if (n < 256) candidates[n++] = l.get();
    }
  }
  if (n != 0) r = candidates[irq.vector % n]->accept_irq(irq);
  return r;
}

void LapicBus::pic_output_changed() {
  std::lock_guard lock(mu_);
  for (const auto& l : lapics_) {
    if (l->accepts_pic_interrupt()) {
      l->wake_owner();
      return;
    }
  }
}

// SAFETY: make_apic_bus() below is the only factory of ApicBus objects in
// the library: every ApicBus is a LapicBus.
LapicBus& LapicBus::of(ApicBus& bus) { return static_cast<LapicBus&>(bus); }

std::unique_ptr<ApicBus> make_apic_bus() { return std::make_unique<LapicBus>(); }

}  // namespace skvm::kvm::irq
