// i8259.c (KVM's 8259A model, itself from QEMU); Intel 8259A data sheet.
#include "kvm/irqchip/pic.h"

namespace skvm::kvm::irq {

Pic::Pic() {
  // kvm_pic_init: ELCR masks (IRQ 0, 1, 2, 8, 13 are always edge).
  pics_[0].elcr_mask = 0xf8;
  pics_[1].elcr_mask = 0xde;
}

// i8259.c: pic_set_irq1 — level or edge detection into IRR.
int Pic::set_irq1(unsigned chip, unsigned irq, int level) {
  kvm_pic_state& s = pics_[chip];
  uint8_t mask = static_cast<uint8_t>(1u << irq);
  int ret = 1;
  if (s.elcr & mask) {  // level triggered
    if (level) {
      ret = !(s.irr & mask);
      s.irr |= mask;
      s.last_irr |= mask;
    } else {
      s.irr &= static_cast<uint8_t>(~mask);
      s.last_irr &= static_cast<uint8_t>(~mask);
    }
  } else {  // edge triggered
    if (level) {
      if ((s.last_irr & mask) == 0) {
        ret = !(s.irr & mask);
        s.irr |= mask;
      }
      s.last_irr |= mask;
    } else {
      s.last_irr &= static_cast<uint8_t>(~mask);
    }
  }
  return (s.imr & mask) ? -1 : ret;
}

// i8259.c: get_priority — 8 when `mask` is empty.
int Pic::get_priority(unsigned chip, unsigned mask) const {
  if (mask == 0) return 8;
  int priority = 0;
  while ((mask & (1u << ((priority + pics_[chip].priority_add) & 7))) == 0) priority++;
  return priority;
}

// i8259.c: pic_get_irq — the IRQ the chip wants to raise, or -1.
int Pic::get_irq(unsigned chip) const {
  const kvm_pic_state& s = pics_[chip];
  int priority = get_priority(chip, s.irr & ~s.imr & 0xff);
  if (priority == 8) return -1;
  unsigned mask = s.isr;
  // Special fully nested mode: the slave's in-service IRQ does not block it.
  if (s.special_fully_nested_mode && chip == 0) mask &= ~(1u << 2);
  int cur_priority = get_priority(chip, mask);
  if (priority < cur_priority) return (priority + s.priority_add) & 7;
  return -1;
}

// i8259.c: pic_update_irq — cascade the slave, then the master's INTR.
void Pic::update_irq() {
  if (get_irq(1) >= 0) {
    set_irq1(0, 2, 1);
    set_irq1(0, 2, 0);
  }
  bool level = get_irq(0) >= 0;
  if (!output_) wakeup_needed_ = true;  // pic_irq_request
  output_ = level;
}

void Pic::update() { update_irq(); }

int Pic::set_irq(unsigned irq, int source, int level) {
  if (irq >= kPins) return -1;
  // irq.h: __kvm_irq_line_state — the line is the OR of its sources.
  if (level)
    irq_states_[irq] |= 1ul << source;
  else
    irq_states_[irq] &= ~(1ul << source);
  int ret = set_irq1(irq >> 3, irq & 7, irq_states_[irq] != 0);
  update_irq();
  return ret;
}

void Pic::clear_source(int source) {
  for (unsigned long& st : irq_states_) st &= ~(1ul << source);
}

void Pic::clear_isr(unsigned chip, unsigned irq) {
  pics_[chip].isr &= static_cast<uint8_t>(~(1u << irq));
  acked_ |= static_cast<uint16_t>(1u << (irq + chip * 8));
}

// i8259.c: pic_intack.
void Pic::intack(unsigned chip, unsigned irq) {
  kvm_pic_state& s = pics_[chip];
  s.isr |= static_cast<uint8_t>(1u << irq);
  // A level-sensitive request stays in IRR.
  if (!(s.elcr & (1u << irq))) s.irr &= static_cast<uint8_t>(~(1u << irq));
  if (s.auto_eoi) {
    if (s.rotate_on_auto_eoi) s.priority_add = (irq + 1) & 7;
    clear_isr(chip, irq);
  }
}

// i8259.c: kvm_pic_read_irq — spurious IRQ 7 (master) or 15 (slave).
uint8_t Pic::acknowledge() {
  output_ = false;
  int irq = get_irq(0);
  int intno;
  if (irq >= 0) {
    intack(0, static_cast<unsigned>(irq));
    if (irq == 2) {
      int irq2 = get_irq(1);
      if (irq2 >= 0)
        intack(1, static_cast<unsigned>(irq2));
      else
        irq2 = 7;
      intno = pics_[1].irq_base + irq2;
    } else {
      intno = pics_[0].irq_base + irq;
    }
  } else {
    intno = pics_[0].irq_base + 7;
  }
  update_irq();
  return static_cast<uint8_t>(intno);
}

// i8259.c: kvm_pic_reset (ICW1).
void Pic::reset(unsigned chip) {
  kvm_pic_state& s = pics_[chip];
  uint8_t edge_irr = s.irr & ~s.elcr;
  s.last_irr = 0;
  s.irr &= s.elcr;
  s.imr = 0;
  s.priority_add = 0;
  s.special_mask = 0;
  s.read_reg_select = 0;
  if (!s.init4) {
    s.special_fully_nested_mode = 0;
    s.auto_eoi = 0;
  }
  s.init_state = 1;
  if (!accepts_pic_) return;
  for (unsigned irq = 0; irq < 8; irq++)
    if (edge_irr & (1u << irq)) clear_isr(chip, irq);
}

// i8259.c: pic_ioport_write — ICW1..4, OCW1..3.
void Pic::ioport_write(unsigned chip, unsigned addr, uint8_t val) {
  kvm_pic_state& s = pics_[chip];
  if ((addr & 1) == 0) {
    if (val & 0x10) {  // ICW1 (single mode and level-triggered mode are
                       // not implemented by KVM either: ignored)
      s.init4 = val & 1;
      reset(chip);
    } else if (val & 0x08) {  // OCW3
      if (val & 0x04) s.poll = 1;
      if (val & 0x02) s.read_reg_select = val & 1;
      if (val & 0x40) s.special_mask = (val >> 5) & 1;
    } else {  // OCW2
      unsigned cmd = val >> 5;
      switch (cmd) {
        case 0:
        case 4:  // (clear / set) rotate in automatic EOI mode
          s.rotate_on_auto_eoi = static_cast<uint8_t>(cmd >> 2);
          break;
        case 1:    // non-specific EOI
        case 5: {  // rotate on non-specific EOI
          int priority = get_priority(chip, s.isr);
          if (priority != 8) {
            unsigned irq = (priority + s.priority_add) & 7;
            if (cmd == 5) s.priority_add = (irq + 1) & 7;
            clear_isr(chip, irq);
            update_irq();
          }
          break;
        }
        case 3:  // specific EOI
          clear_isr(chip, val & 7);
          update_irq();
          break;
        case 6:  // set priority
          s.priority_add = (val + 1) & 7;
          update_irq();
          break;
        case 7: {  // rotate on specific EOI
          unsigned irq = val & 7;
          s.priority_add = (irq + 1) & 7;
          clear_isr(chip, irq);
          update_irq();
          break;
        }
        default:  // 2: no operation
          break;
      }
    }
    return;
  }
  switch (s.init_state) {
    case 0: {  // OCW1: the mask
      // i8259.c: pic_ioport_write fires the mask notifiers of the pins
      // whose IMR bit changed (kvm_fire_mask_notifiers).
      const uint8_t cleared = static_cast<uint8_t>(s.imr & ~val);
      const uint8_t set = static_cast<uint8_t>(~s.imr & val);
      unmasked_ = static_cast<uint16_t>((unmasked_ & ~(set << (chip * 8))) | (cleared << (chip * 8)));
      masked_ = static_cast<uint16_t>((masked_ & ~(cleared << (chip * 8))) | (set << (chip * 8)));
      s.imr = val;
      update_irq();
      break;
    }
    case 1:  // ICW2
      s.irq_base = val & 0xf8;
      s.init_state = 2;
      break;
    case 2:  // ICW3 (cascade wiring: fixed)
      s.init_state = s.init4 ? 3 : 0;
      break;
    case 3:  // ICW4
      s.special_fully_nested_mode = (val >> 4) & 1;
      s.auto_eoi = (val >> 1) & 1;
      s.init_state = 0;
      break;
    default:
      break;
  }
}

// i8259.c: pic_poll_read — the poll command's INTA-like read.
uint8_t Pic::poll_read(unsigned chip, unsigned addr1) {
  kvm_pic_state& s = pics_[chip];
  int ret = get_irq(chip);
  if (ret >= 0) {
    if (addr1 >> 7) {
      pics_[0].isr &= static_cast<uint8_t>(~(1u << 2));
      pics_[0].irr &= static_cast<uint8_t>(~(1u << 2));
    }
    s.irr &= static_cast<uint8_t>(~(1u << ret));
    clear_isr(chip, static_cast<unsigned>(ret));
    if (addr1 >> 7 || ret != 2) update_irq();
  } else {
    ret = 0x07;
    update_irq();
  }
  return static_cast<uint8_t>(ret);
}

uint8_t Pic::ioport_read(unsigned chip, unsigned addr) {
  kvm_pic_state& s = pics_[chip];
  if (s.poll) {
    uint8_t r = poll_read(chip, addr);
    s.poll = 0;
    return r;
  }
  if ((addr & 1) == 0) return s.read_reg_select ? s.isr : s.irr;
  return s.imr;
}

bool Pic::owns_port(uint16_t port) {
  return port == 0x20 || port == 0x21 || port == 0xa0 || port == 0xa1 || port == 0x4d0 ||
         port == 0x4d1;
}

bool Pic::write(uint16_t port, uint8_t value) {
  switch (port) {
    case 0x20:
    case 0x21:
      ioport_write(0, port, value);
      return true;
    case 0xa0:
    case 0xa1:
      ioport_write(1, port, value);
      return true;
    case 0x4d0:
    case 0x4d1:  // elcr_ioport_write
      pics_[port & 1].elcr = value & pics_[port & 1].elcr_mask;
      return true;
    default:
      return false;
  }
}

bool Pic::read(uint16_t port, uint8_t* value) {
  switch (port) {
    case 0x20:
    case 0x21:
    case 0xa0:
    case 0xa1:
      *value = ioport_read(port >> 7, port);
      return true;
    case 0x4d0:
    case 0x4d1:
      *value = pics_[port & 1].elcr;
      return true;
    default:
      return false;
  }
}

// x86.c: kvm_vm_ioctl_set_irqchip — a plain copy (update() follows).
void Pic::set_state(unsigned chip, const kvm_pic_state& s) { pics_[chip] = s; }

}  // namespace skvm::kvm::irq
