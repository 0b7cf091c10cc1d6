// The VM-wide in-kernel irqchip (KVM_CREATE_IRQCHIP): the PIC pair, the
// IOAPIC and the GSI routing, behind one lock. set_irq is kvm_set_irq;
// EOIs and INTA cycles come from the local APICs through IrqchipPort;
// ack notifiers (irqfd resample, PIT reinjection) run without the lock.
// Every method may be called from any thread.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "base/mutex.h"
#include "kvm/irqchip/apic_bus.h"
#include "kvm/irqchip/ioapic.h"
#include "kvm/irqchip/pic.h"
#include "kvm/irqchip/routing.h"

namespace skvm::kvm::irq {

// kvm_host.h: irq source ids (bits of each pin's line state).
inline constexpr int kUserspaceSourceId = 0;  // KVM_USERSPACE_IRQ_SOURCE_ID
inline constexpr int kResampleSourceId = 1;   // KVM_IRQFD_RESAMPLE_IRQ_SOURCE_ID
inline constexpr int kPitSourceId = 2;        // the PIT's kvm_request_irq_source_id

class Irqchip final : public IrqchipPort {
 public:
  // `bus` (may be null) receives IOAPIC and MSI messages; not owned.
  explicit Irqchip(ApicBus* bus);

  // irqchip.c: kvm_set_irq. >0 delivered, 0 coalesced, <0 ignored.
  int set_irq(int source, uint32_t gsi, int level, bool line_status);
  // irq_comm.c: kvm_free_irq_source_id's clearing.
  void clear_source(int source);
  // api.rst: KVM_SET_GSI_ROUTING (entries already copied in).
  int set_routing(const kvm_irq_routing_entry* entries, uint32_t nr);
  // api.rst: KVM_SIGNAL_MSI (irqchip.c: kvm_send_userspace_msi).
  int signal_msi(const kvm_msi& msi);
  // api.rst: KVM_GET_IRQCHIP / KVM_SET_IRQCHIP: 0 or -EINVAL (chip_id).
  int get_chip(kvm_irqchip* chip);
  int set_chip(const kvm_irqchip& chip);

  // The PIC ports and the IOAPIC page (kvm_io_bus semantics: claimed when
  // the whole access lies in the device's range).
  bool pio(uint16_t port, bool is_write, unsigned size, void* data);
  bool mmio(uint64_t gpa, bool is_write, unsigned size, void* data);

  // kvm_register_irq_ack_notifier: `fn` runs (without the irqchip lock)
  // when the guest EOIs / INTAs the pin routed to `gsi`. Returns an id.
  int add_ack_notifier(uint32_t gsi, std::function<void()> fn);
  void remove_ack_notifier(int id);
  // kvm_register_irq_mask_notifier: `fn(masked)` runs (without the irqchip
  // lock) when the guest masks or unmasks, in the PIC's IMR or an IOAPIC
  // redirection entry, a pin routed to `gsi`. Lives as long as the Irqchip.
  void add_mask_notifier(uint32_t gsi, std::function<void(bool masked)> fn);

  // IrqchipPort.
  bool pic_has_interrupt() override;
  uint8_t pic_acknowledge() override;
  void eoi_broadcast(uint8_t vector, bool level_triggered) override;

 private:
  struct AckNotifier {
    int id;
    uint32_t gsi;
    std::function<void()> fn;
  };
  struct MaskNotifier {
    uint32_t gsi;
    std::function<void(bool)> fn;
  };
  // What the devices did under mu_ that is reported after it is released.
  struct Deferred {
    uint16_t pic_acked = 0;
    uint32_t ioapic_acked = 0;
    bool wakeup = false;
    uint16_t pic_unmasked = 0, pic_masked = 0;
    uint32_t ioapic_unmasked = 0, ioapic_masked = 0;
  };
  std::shared_ptr<const RoutingTable> routing();
  int msi(const kvm_irq_routing_entry& e, int level);
  // Runs ack and mask notifiers and the PIC wakeup; call without mu_.
  void after_unlock(const Deferred& d);
  void drain(Deferred* d) SKVM_REQUIRES(mu_);
  void fire_mask_notifiers(const RoutingTable& rt, unsigned irqchip, unsigned pin, bool masked);

  ApicBus* const bus_;
  base::Mutex mu_;
  Pic pic_ SKVM_GUARDED_BY(mu_);
  Ioapic ioapic_ SKVM_GUARDED_BY(mu_);
  base::Mutex routing_mu_;
  std::shared_ptr<const RoutingTable> routing_ SKVM_GUARDED_BY(routing_mu_);
  base::Mutex notifier_mu_;
  std::vector<AckNotifier> notifiers_ SKVM_GUARDED_BY(notifier_mu_);
  int next_notifier_id_ SKVM_GUARDED_BY(notifier_mu_) = 1;
  std::vector<MaskNotifier> mask_notifiers_ SKVM_GUARDED_BY(notifier_mu_);
};

}  // namespace skvm::kvm::irq
