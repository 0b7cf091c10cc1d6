// The IOAPIC (ioapic.c semantics): 24 pins, IOREGSEL/IOWIN at 0xfec00000,
// ID/VER/ARB registers, the redirection table with level-triggered remote
// IRR and re-assertion after EOI. The state is a struct kvm_ioapic_state
// plus the irr_delivered bitmap KVM keeps beside it. Not thread-safe: the
// Irqchip serialises every call; interrupt messages go out through ApicBus.
#pragma once

#include <linux/kvm.h>

#include <cstdint>

#include "kvm/irqchip/apic_bus.h"

namespace skvm::kvm::irq {

class Ioapic {
 public:
  static constexpr unsigned kPins = KVM_IOAPIC_NUM_PINS;  // 24
  static constexpr uint64_t kDefaultBase = 0xfec00000;
  static constexpr uint64_t kMmioLength = 0x100;  // IOAPIC_MEM_LENGTH
  static constexpr uint32_t kVersion = 0x11;      // IOAPIC_VERSION_ID

  Ioapic();

  // Where interrupt messages go (may be null: nothing accepts them).
  void set_bus(ApicBus* bus) { bus_ = bus; }

  // ioapic.c: kvm_ioapic_set_irq. Returns >0 (delivered to that many
  // LAPICs), 0 (coalesced) or -1 (masked / not delivered), as KVM.
  int set_irq(unsigned pin, int source, int level, bool line_status);
  void clear_source(int source);
  // ioapic.c: kvm_ioapic_update_eoi, in two steps because KVM runs the ack
  // notifiers (which may de-assert the line) between them: the pins whose
  // vector is `vector`, then for those pins (level-triggered EOI) drop
  // remote IRR and re-deliver when the line is still asserted.
  uint32_t pins_with_vector(uint8_t vector) const;
  void eoi(uint32_t pins, bool level_triggered);

  bool in_range(uint64_t gpa) const {
    return gpa >= state_.base_address && gpa < state_.base_address + kMmioLength;
  }
  // ioapic_mmio_read / ioapic_mmio_write (len 1, 2, 4 or 8).
  void mmio_read(uint64_t gpa, unsigned len, void* data);
  void mmio_write(uint64_t gpa, unsigned len, const void* data);

  // kvm_get_ioapic / kvm_set_ioapic.
  void get_state(kvm_ioapic_state* s) const;
  void set_state(const kvm_ioapic_state& s);

  // Pins whose mask bit a redirection-entry write cleared / set since the
  // last call (the last change of a pin wins): the mask notifications
  // (kvm_fire_mask_notifiers) the Irqchip runs without its lock.
  void take_mask_changes(uint32_t* unmasked, uint32_t* masked) {
    *unmasked = unmasked_;
    *masked = masked_;
    unmasked_ = masked_ = 0;
  }

 private:
  int service(unsigned pin, bool line_status);
  int raise(unsigned pin, bool level, bool line_status);
  uint32_t read_indirect() const;
  void write_indirect(uint32_t val);

  kvm_ioapic_state state_{};
  uint32_t irr_delivered_ = 0;
  uint32_t unmasked_ = 0;
  uint32_t masked_ = 0;
  uint32_t irq_states_[kPins]{};
  ApicBus* bus_ = nullptr;
};

}  // namespace skvm::kvm::irq
