// ioapic.c (KVM's IOAPIC); Intel 82093AA IOAPIC data sheet.
#include "kvm/irqchip/ioapic.h"

#include <cstring>

namespace skvm::kvm::irq {

namespace {

// 82093AA, 3.2.4: redirection table entry fields.
constexpr uint64_t kRemoteIrr = 1ull << 14;
constexpr uint64_t kDeliveryStatus = 1ull << 12;
constexpr uint64_t kTrigLevel = 1ull << 15;
constexpr uint64_t kMask = 1ull << 16;

uint8_t vector_of(uint64_t e) { return static_cast<uint8_t>(e & 0xff); }
uint8_t delivery_mode_of(uint64_t e) { return static_cast<uint8_t>((e >> 8) & 7); }
bool logical_of(uint64_t e) { return (e >> 11) & 1; }
bool level_of(uint64_t e) { return (e & kTrigLevel) != 0; }
uint8_t dest_of(uint64_t e) { return static_cast<uint8_t>(e >> 56); }

}  // namespace

// ioapic.c: kvm_ioapic_reset — every pin masked.
Ioapic::Ioapic() {
  for (auto& e : state_.redirtbl) e.bits = kMask;
  state_.base_address = kDefaultBase;
}

// ioapic.c: ioapic_service — one message for `pin` unless masked or a
// level interrupt still awaits its EOI (remote IRR).
int Ioapic::service(unsigned pin, bool) {
  __u64& e = state_.redirtbl[pin].bits;
  if ((e & kMask) || (level_of(e) && (e & kRemoteIrr))) return -1;
  ApicIrq irq;
  irq.dest_id = dest_of(e);
  irq.vector = vector_of(e);
  irq.logical = logical_of(e);
  irq.level_trigger = level_of(e);
  irq.delivery_mode = delivery_mode_of(e);
  irq.level_assert = true;
  irq.shorthand = kShorthandNone;
  if (!irq.level_trigger) irr_delivered_ |= 1u << pin;
  int ret = bus_ ? bus_->deliver(irq, -1) : -1;
  if (ret && irq.level_trigger) e |= kRemoteIrr;
  return ret;
}

// ioapic.c: ioapic_set_irq (with the line already OR-ed over sources).
int Ioapic::raise(unsigned pin, bool level, bool line_status) {
  uint32_t mask = 1u << pin;
  bool edge = !level_of(state_.redirtbl[pin].bits);
  if (!level) {
    state_.irr &= ~mask;
    return 1;
  }
  uint32_t old_irr = state_.irr;
  state_.irr |= mask;
  if (edge) {
    irr_delivered_ &= ~mask;
    if (old_irr == state_.irr) return 0;  // coalesced
  }
  return service(pin, line_status);
}

int Ioapic::set_irq(unsigned pin, int source, int level, bool line_status) {
  if (pin >= kPins) return -1;
  if (level)
    irq_states_[pin] |= 1u << source;
  else
    irq_states_[pin] &= ~(1u << source);
  return raise(pin, irq_states_[pin] != 0, line_status);
}

void Ioapic::clear_source(int source) {
  for (uint32_t& st : irq_states_) st &= ~(1u << source);
}

uint32_t Ioapic::pins_with_vector(uint8_t vector) const {
  uint32_t pins = 0;
  for (unsigned pin = 0; pin < kPins; pin++)
    if (vector_of(state_.redirtbl[pin].bits) == vector) pins |= 1u << pin;
  return pins;
}

// ioapic.c: kvm_ioapic_update_eoi_one. DEVIATION: KVM defers the
// re-injection by 10 ms after 10000 back-to-back EOIs of a stuck level
// line (a storm guard); softkvm always re-injects at once.
void Ioapic::eoi(uint32_t pins, bool level_triggered) {
  if (!level_triggered) return;
  for (unsigned pin = 0; pin < kPins; pin++) {
    if (!(pins & (1u << pin))) continue;
    __u64& e = state_.redirtbl[pin].bits;
    if (!level_of(e)) continue;
    e &= ~kRemoteIrr;
    if (!(e & kMask) && (state_.irr & (1u << pin))) service(pin, false);
  }
}

// ioapic.c: ioapic_read_indirect.
uint32_t Ioapic::read_indirect() const {
  switch (state_.ioregsel) {
    case 0x01:  // IOAPIC_REG_VERSION: max redirection entry, version
      return ((kPins - 1) << 16) | kVersion;
    case 0x00:  // IOAPIC_REG_APIC_ID
    case 0x02:  // IOAPIC_REG_ARB_ID
      return (state_.id & 0xf) << 24;
    default: {
      uint32_t index = (state_.ioregsel - 0x10) >> 1;
      uint64_t content = ~0ull;
      if (state_.ioregsel >= 0x10 && index < kPins) content = state_.redirtbl[index].bits;
      return static_cast<uint32_t>((state_.ioregsel & 1) ? content >> 32 : content);
    }
  }
}

// ioapic.c: ioapic_write_indirect.
void Ioapic::write_indirect(uint32_t val) {
  switch (state_.ioregsel) {
    case 0x01:
    case 0x02:
      return;  // read-only
    case 0x00:
      state_.id = (val >> 24) & 0xf;
      return;
    default:
      break;
  }
  if (state_.ioregsel < 0x10) return;
  uint32_t index = (state_.ioregsel - 0x10) >> 1;
  if (index >= kPins) return;
  __u64& e = state_.redirtbl[index].bits;
  const bool was_masked = (e & kMask) != 0;
  uint64_t keep = e & (kRemoteIrr | kDeliveryStatus);  // read-only bits
  if (state_.ioregsel & 1)
    e = (e & 0xffffffffull) | (uint64_t{val} << 32);
  else
    e = (e & ~0xffffffffull) | val;
  e = (e & ~(kRemoteIrr | kDeliveryStatus)) | keep;
  if (!level_of(e)) e &= ~kRemoteIrr;
  // ioapic.c: ioapic_write_indirect fires the mask notifiers when the mask
  // bit changed (kvm_fire_mask_notifiers).
  if (was_masked != ((e & kMask) != 0)) {
    const uint32_t bit = 1u << index;
    unmasked_ = was_masked ? unmasked_ | bit : unmasked_ & ~bit;
    masked_ = was_masked ? masked_ & ~bit : masked_ | bit;
  }
  if (level_of(e) && (state_.irr & (1u << index))) service(index, false);
}

void Ioapic::mmio_read(uint64_t gpa, unsigned len, void* data) {
  uint32_t result = 0;
  switch (gpa & 0xff) {
    case 0x00:  // IOAPIC_REG_SELECT
      result = state_.ioregsel;
      break;
    case 0x10:  // IOAPIC_REG_WINDOW
      result = read_indirect();
      break;
    default:
      break;
  }
  // ioapic_mmio_read: an 8-byte read leaves the buffer untouched.
  // SAFETY: the caller's buffer holds `len` bytes; len <= 4 copies part
  // of `result`.
  if (len == 1 || len == 2 || len == 4) std::memcpy(data, &result, len);
}

void Ioapic::mmio_write(uint64_t gpa, unsigned len, const void* data) {
  uint32_t v = 0;
  // SAFETY: the caller's buffer holds `len` bytes (1, 2, 4 or 8); only
  // the low 4 bytes are read.
  switch (len) {
    case 8:
    case 4:
      std::memcpy(&v, data, 4);
      break;
    case 2: {
      uint16_t h;
      std::memcpy(&h, data, 2);
      v = h;
      break;
    }
    case 1:
      v = *static_cast<const uint8_t*>(data);
      break;
    default:
      return;
  }
  switch (gpa & 0xff) {
    case 0x00:
      state_.ioregsel = v & 0xff;  // an 8-bit register
      break;
    case 0x10:
      write_indirect(v);
      break;
    default:
      break;
  }
}

void Ioapic::get_state(kvm_ioapic_state* s) const {
  *s = state_;
  s->irr &= ~irr_delivered_;
}

// ioapic.c: kvm_set_ioapic — copy, then re-inject every pin in irr.
void Ioapic::set_state(const kvm_ioapic_state& s) {
  state_ = s;
  state_.irr = 0;
  irr_delivered_ = 0;
  for (unsigned pin = 0; pin < kPins; pin++)
    if (s.irr & (1u << pin)) raise(pin, true, true);
}

}  // namespace skvm::kvm::irq
