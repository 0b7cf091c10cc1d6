// The dual 8259A PIC (i8259.c semantics): master (IRQ 0-7, cascade on 2)
// and slave (IRQ 8-15), ELCR edge/level selection (ports 0x4d0/0x4d1).
// The state of each chip is a struct kvm_pic_state, so KVM_GET/SET_IRQCHIP
// is a copy. Not thread-safe: the Irqchip serialises every call.
#pragma once

#include <linux/kvm.h>

#include <cstdint>

namespace skvm::kvm::irq {

class Pic {
 public:
  static constexpr unsigned kPins = 16;

  Pic();

  // i8259.c: kvm_pic_set_irq. `source` is a KVM irq source id (bit in the
  // per-pin line state, OR-ed). Returns 1 (delivered), 0 (coalesced) or -1
  // (masked), as KVM.
  int set_irq(unsigned irq, int source, int level);
  // i8259.c: kvm_pic_clear_all.
  void clear_source(int source);
  // i8259.c: kvm_pic_read_irq (the INTA cycle): the vector.
  uint8_t acknowledge();
  // The master's INTR output.
  bool output() const { return output_; }

  // picdev_write / picdev_read: ports 0x20/0x21/0xa0/0xa1/0x4d0/0x4d1.
  // Returns false when `port` is not the PIC's.
  bool write(uint16_t port, uint8_t value);
  bool read(uint16_t port, uint8_t* value);
  static bool owns_port(uint16_t port);

  // api.rst: KVM_GET_IRQCHIP / KVM_SET_IRQCHIP (chip 0 master, 1 slave).
  const kvm_pic_state& state(unsigned chip) const { return pics_[chip]; }
  void set_state(unsigned chip, const kvm_pic_state& s);
  // kvm_pic_update_irq (after set_state).
  void update();

  // Pins (0-15) whose ISR bit was cleared since the last call: the ack
  // notifications (kvm_notify_acked_irq) the Irqchip runs without its lock.
  uint16_t take_acked() {
    uint16_t a = acked_;
    acked_ = 0;
    return a;
  }
  // Pins (0-15) whose IMR bit an OCW1 write cleared / set since the last
  // call (the last change of a pin wins): the mask notifications
  // (kvm_fire_mask_notifiers) the Irqchip runs without its lock.
  void take_mask_changes(uint16_t* unmasked, uint16_t* masked) {
    *unmasked = unmasked_;
    *masked = masked_;
    unmasked_ = masked_ = 0;
  }
  // Whether the INTR output went 0 -> 1 since the last call (pic_unlock's
  // wakeup_needed).
  bool take_wakeup() {
    bool w = wakeup_needed_;
    wakeup_needed_ = false;
    return w;
  }
  // kvm_pic_reset clears the ISR of pending edge IRQs only when some vCPU
  // accepts PIC interrupts (kvm_apic_accept_pic_intr).
  void set_accepts_pic(bool v) { accepts_pic_ = v; }

 private:
  int set_irq1(unsigned chip, unsigned irq, int level);
  int get_priority(unsigned chip, unsigned mask) const;
  int get_irq(unsigned chip) const;
  void update_irq();
  void intack(unsigned chip, unsigned irq);
  void clear_isr(unsigned chip, unsigned irq);
  void reset(unsigned chip);
  void ioport_write(unsigned chip, unsigned addr, uint8_t val);
  uint8_t ioport_read(unsigned chip, unsigned addr);
  uint8_t poll_read(unsigned chip, unsigned addr1);

  kvm_pic_state pics_[2]{};
  unsigned long irq_states_[kPins]{};
  bool output_ = false;
  bool wakeup_needed_ = false;
  bool accepts_pic_ = true;
  uint16_t acked_ = 0;
  uint16_t unmasked_ = 0;
  uint16_t masked_ = 0;
};

}  // namespace skvm::kvm::irq
