// The seam between the two halves of the in-kernel irqchip:
//   - the VM-wide devices (PIC pair, IOAPIC, GSI routing, MSI, PIT:
//     irqchip.*, pic.*, ioapic.*, routing.*, pit.*) send interrupt messages
//     to the local APICs through ApicBus;
//   - the local APICs (lapic.*, lapic_bus.*, one Lapic per vCPU) read the
//     PIC through IrqchipPort (LINT0 in ExtINT mode) and broadcast EOIs of
//     level-triggered vectors to the IOAPIC through it.
// Both objects belong to the Vm from KVM_CREATE_IRQCHIP on (Vm::apic_bus(),
// Vm::irqchip_port(); nullptr before). Every method may be called from any
// thread (vCPU threads, irqfd/timer threads): implementations lock inside.
#pragma once

#include <cstdint>
#include <memory>

namespace skvm::kvm::irq {

// lapic.h: struct kvm_lapic_irq — one interrupt message on the APIC bus.
struct ApicIrq {
  uint32_t dest_id = 0;       // APIC ID (physical) or logical destination
  uint8_t vector = 0;
  uint8_t delivery_mode = 0;  // kDm* below (ICR / redirection entry bits 10:8)
  bool logical = false;       // destination mode
  bool level_assert = true;   // ICR level bit (INIT level de-assert is false)
  bool level_trigger = false; // trigger mode: level (true) or edge
  uint8_t shorthand = 0;      // kShorthand* (ICR bits 19:18); 0 from devices
  bool msi_redir_hint = false;
};

inline constexpr uint8_t kDmFixed = 0, kDmLowest = 1, kDmSmi = 2, kDmNmi = 4, kDmInit = 5,
                         kDmStartup = 6, kDmExtInt = 7;
inline constexpr uint8_t kShorthandNone = 0, kShorthandSelf = 1, kShorthandAllIncSelf = 2,
                         kShorthandAllExcSelf = 3;

// Implemented by the local-APIC side (lapic_bus.cpp).
class ApicBus {
 public:
  virtual ~ApicBus() = default;
  // irq_comm.c: kvm_irq_delivery_to_apic. `source_vcpu` is the sending vCPU
  // for IPIs (shorthands need it), -1 for devices. Returns the number of
  // LAPICs that accepted the message, or -1 when none was targeted (KVM's
  // convention, which KVM_IRQ_LINE_STATUS / KVM_SIGNAL_MSI report).
  virtual int deliver(const ApicIrq& irq, int source_vcpu) = 0;
  // The PIC's INTR output may have changed: wake the vCPU whose LINT0 is in
  // ExtINT mode (or the BSP when its LAPIC is disabled) so it re-reads it.
  virtual void pic_output_changed() = 0;
};

// Implemented by the VM-wide irqchip (irqchip.cpp).
class IrqchipPort {
 public:
  virtual ~IrqchipPort() = default;
  // i8259.c: kvm_pic_read_irq preconditions — the master PIC's INTR output.
  virtual bool pic_has_interrupt() = 0;
  // i8259.c: kvm_pic_read_irq — the INTA cycle: returns the vector and
  // updates ISR/IRR (spurious IRQ 7/15 as the PIC gives it).
  virtual uint8_t pic_acknowledge() = 0;
  // ioapic.c: kvm_ioapic_update_eoi — a LAPIC EOI'd `vector` that was
  // level-triggered in its TMR (or any EOI when directed EOI is not used).
  virtual void eoi_broadcast(uint8_t vector, bool level_triggered) = 0;
};

// Created by the Vm at KVM_CREATE_IRQCHIP (defined in lapic_bus.cpp).
std::unique_ptr<ApicBus> make_apic_bus();

}  // namespace skvm::kvm::irq
