// The x2APIC register interface of the local APIC (SDM Vol. 3A, 10.12;
// arch/x86/kvm/lapic.c: kvm_x2apic_msr_read / kvm_x2apic_msr_write,
// kvm_lapic_msr_read / kvm_lapic_msr_write, kvm_x2apic_icr_write). The MSR
// 0x800 + n is the xAPIC register at offset n << 4; in x2APIC mode the ID is
// the 32-bit vCPU id, the LDR is derived from it, ICR is one 64-bit
// register with a 32-bit destination, DFR/ICR2/ARBPRI do not exist and SELF
// IPI (0x83f) is added.
#include "kvm/irqchip/lapic.h"

namespace skvm::kvm::irq {

namespace {

// lapic.h: X2APIC_ICR_RESERVED_BITS — bits 13, 16:17, 20:31 of the low half.
constexpr uint64_t kX2apicIcrReserved = 0xfff32000ull;
constexpr uint32_t kIcrBusy = 1u << 12;

// lapic.c: kvm_lapic_reg_read valid_reg_mask in x2APIC mode (no ARBPRI,
// ICR2; DFR refused by kvm_x2apic_msr_read; no LVT CMCI: 6 LVT entries).
bool readable_in_x2apic(uint32_t off) {
  switch (off) {
    case kApicId:
    case kApicLvr:
    case kApicTaskPri:
    case kApicProcPri:
    case kApicLdr:
    case kApicSpiv:
    case kApicEsr:
    case kApicIcr:
    case kApicLvtt:
    case kApicLvtThmr:
    case kApicLvtPc:
    case kApicLvt0:
    case kApicLvt1:
    case kApicLvtErr:
    case kApicTmict:
    case kApicTmcct:
    case kApicTdcr:
      return true;
    default:
      return (off >= kApicIsr && off < kApicIrr + 0x80);  // ISR, TMR, IRR
  }
}

}  // namespace

bool Lapic::x2apic_mode() const {
  std::lock_guard lock(mu_);
  return x2apic_mode_locked();
}

// lapic.c: kvm_apic_set_x2apic_id: ID = vCPU id, LDR = cluster (id >> 4)
// in bits 31:16 and bit (id & 15) (SDM Vol. 3A, 10.12.10.2).
void Lapic::set_x2apic_id_locked() {
  set(kApicId, vcpu_id_);
  set(kApicLdr, ((vcpu_id_ >> 4) << 16) | (1u << (vcpu_id_ & 0xf)));
}

bool Lapic::x2apic_read_locked(uint32_t off, uint64_t* val) const {
  if (!readable_in_x2apic(off)) return false;
  if (off == kApicIcr) {
    // lapic.c: kvm_x2apic_icr_read: the 64-bit register.
    *val = static_cast<uint64_t>(get(kApicIcr)) | (static_cast<uint64_t>(get(kApicIcr + 4)) << 32);
    return true;
  }
  *val = read_locked(off);
  return true;
}

// lapic.c: kvm_lapic_msr_write + kvm_lapic_reg_write in x2APIC mode.
bool Lapic::x2apic_write_locked(uint32_t off, uint64_t val, Effects* fx) {
  if (off == kApicIcr) {
    // lapic.c: kvm_x2apic_icr_write.
    if (val & kX2apicIcrReserved) return false;
    val &= ~static_cast<uint64_t>(kIcrBusy);
    const uint32_t low = static_cast<uint32_t>(val);
    set(kApicIcr, low);
    set(kApicIcr + 4, static_cast<uint32_t>(val >> 32));
    ApicIrq& irq = fx->ipi;
    irq.vector = static_cast<uint8_t>(low & 0xff);
    irq.delivery_mode = static_cast<uint8_t>((low >> 8) & 7);
    irq.logical = (low & (1u << 11)) != 0;
    irq.level_assert = (low & (1u << 14)) != 0;
    irq.level_trigger = (low & (1u << 15)) != 0;
    irq.shorthand = static_cast<uint8_t>((low >> 18) & 3);
    irq.dest_id = static_cast<uint32_t>(val >> 32);  // the full 32-bit destination
    fx->send_ipi = true;
    return true;
  }
  // lapic.c: kvm_lapic_msr_write: bits 63:32 are reserved elsewhere.
  if (val >> 32) return false;
  const uint32_t v = static_cast<uint32_t>(val);
  switch (off) {
    case kApicTaskPri:
    case kApicEoi:
    case kApicSpiv:
    case kApicLvtt:
    case kApicLvtThmr:
    case kApicLvtPc:
    case kApicLvt0:
    case kApicLvt1:
    case kApicLvtErr:
    case kApicTmict:
    case kApicTdcr:
      // EOI: as KVM (lapic.c: APIC_EOI -> apic_set_eoi, no value check,
      // checked on the host), a non-zero write does not #GP although SDM
      // Vol. 3A 10.12.1.2 says it should.
      write_locked(off, v, fx);
      return true;
    case kApicEsr:
      return v == 0;  // lapic.c: a non-zero ESR write #GPs in x2APIC mode
    case kApicSelfIpi: {
      // lapic.c: APIC_SELF_IPI: bits 7:0 the vector, the rest reserved;
      // sent as a fixed, edge, self-shorthand IPI.
      if (v & ~0xffu) return false;
      ApicIrq& irq = fx->ipi;
      irq = ApicIrq{};
      irq.vector = static_cast<uint8_t>(v);
      irq.delivery_mode = kDmFixed;
      irq.shorthand = kShorthandSelf;
      fx->send_ipi = true;
      return true;
    }
    default:
      // ID, LDR (fixed in x2APIC mode), DFR, ICR2, read-only and reserved
      // registers (lapic.c: ret = 1).
      return false;
  }
}

bool Lapic::x2apic_msr_read(uint32_t msr, uint64_t* value) {
  if (msr < kX2apicMsrBase || msr > kX2apicMsrLast) return false;
  std::lock_guard lock(mu_);
  if (!x2apic_mode_locked()) return false;
  return x2apic_read_locked((msr - kX2apicMsrBase) << 4, value);
}

bool Lapic::x2apic_msr_write(uint32_t msr, uint64_t value) {
  if (msr < kX2apicMsrBase || msr > kX2apicMsrLast) return false;
  Effects fx;
  bool ok;
  {
    std::lock_guard lock(mu_);
    if (!x2apic_mode_locked()) return false;
    ok = x2apic_write_locked((msr - kX2apicMsrBase) << 4, value, &fx);
  }
  run_effects(fx);
  return ok;
}

}  // namespace skvm::kvm::irq
