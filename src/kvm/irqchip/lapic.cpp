#include "kvm/irqchip/lapic.h"

#include <climits>
#include <cstring>

namespace skvm::kvm::irq {

namespace {

// lapic.c: LVT_MASK / LINT_MASK / apic_lvt_mask (SDM Vol. 3A, 10.5.1).
constexpr uint32_t kLvtMaskBits = kLvtMasked | (1u << 12) | 0xff;  // masked, send pending, vector
constexpr uint32_t kModeMask = 0x700;
constexpr uint32_t kLintMaskBits = kLvtMaskBits | kModeMask | (1u << 13) | (1u << 14) | (1u << 15);
// LVT timer modes (SDM Vol. 3A, Figure 10-8): bits 18:17. Which bits are
// writable is timer_mode_mask_ (lapic.c: lapic_timer.timer_mode_mask: bit
// 17 only, both with TSC_DEADLINE_TIMER in the guest CPUID).
constexpr uint32_t kTimerPeriodic = 1u << 17, kTimerTscDeadline = 2u << 17;
constexpr uint32_t kDfrFlat = 0xffffffffu, kDfrCluster = 0x0fffffffu;
// lapic.c: APIC_VERSION | (nr_lvt_entries - 1) << 16, 6 LVT entries (no CMCI).
constexpr uint32_t kVersion = 0x14 | (5u << 16);
constexpr uint32_t kLvtOffsets[] = {kApicLvtt, kApicLvtThmr, kApicLvtPc, kApicLvt0, kApicLvt1, kApicLvtErr};

uint32_t lvt_mask_for(uint32_t off) {
  switch (off) {
    case kApicLvtThmr:
    case kApicLvtPc: return kLvtMaskBits | kModeMask;
    case kApicLvt0:
    case kApicLvt1: return kLintMaskBits;
    default: return kLvtMaskBits;  // LVTERR
  }
}

}  // namespace

Lapic::Lapic(uint32_t vcpu_id, const base::Clock& clock, ApicBus* bus, IrqchipPort* port)
    : vcpu_id_(vcpu_id), clock_(clock), bus_(bus), port_(port) {
  const uint64_t base = kApicDefaultBase | kApicBaseEnable | (vcpu_id == 0 ? kApicBaseBsp : 0);
  reset(false, base);
}

void Lapic::set_waker(LapicWaker* waker) {
  std::lock_guard lock(mu_);
  waker_ = waker;
}

uint32_t Lapic::get(uint32_t off) const {
  uint32_t v;
  // SAFETY: off <= 0x3f0 (every caller passes a register offset), 4 bytes
  // inside the 1 KiB page.
  std::memcpy(&v, regs_ + off, 4);
  return v;
}

void Lapic::set(uint32_t off, uint32_t v) {
  // SAFETY: as get().
  std::memcpy(regs_ + off, &v, 4);
}

bool Lapic::test_vec(uint32_t base, unsigned v) const { return get(base + (v / 32) * 0x10) & (1u << (v % 32)); }
void Lapic::set_vec(uint32_t base, unsigned v) {
  const uint32_t off = base + (v / 32) * 0x10;
  set(off, get(off) | (1u << (v % 32)));
}
void Lapic::clear_vec(uint32_t base, unsigned v) {
  const uint32_t off = base + (v / 32) * 0x10;
  set(off, get(off) & ~(1u << (v % 32)));
}

// lapic.c: find_highest_vector.
int Lapic::highest(uint32_t base) const {
  for (int i = 7; i >= 0; --i) {
    const uint32_t w = get(base + static_cast<uint32_t>(i) * 0x10);
    if (w != 0) return i * 32 + 31 - __builtin_clz(w);
  }
  return -1;
}

// lapic.c: __apic_update_ppr.
uint32_t Lapic::compute_ppr() const {
  const uint32_t tpr = get(kApicTaskPri);
  const int isr = highest(kApicIsr);
  const uint32_t isrv = isr < 0 ? 0 : static_cast<uint32_t>(isr);
  return (tpr & 0xf0) >= (isrv & 0xf0) ? (tpr & 0xff) : (isrv & 0xf0);
}

// ---- Reset and base ---------------------------------------------------------

void Lapic::reset(bool init_event, uint64_t apic_base) {
  std::lock_guard lock(mu_);
  if (!init_event) {
    base_ = apic_base;
    // The xAPIC ID is set at RESET.
    set(kApicId, vcpu_id_ << 24);
  }
  cancel_timer();
  // All LVTs masked, the timer back in one-shot mode (lapic.c:
  // apic_update_lvtt clears the TSC deadline).
  period_ns_ = 0;
  tsc_deadline_ = 0;
  set(kApicLvr, kVersion);
  for (uint32_t off : kLvtOffsets) set(off, kLvtMasked);
  // KVM_X86_QUIRK_LINT0_REENABLED (default on): the BSP's LINT0 is ExtINT.
  if (base_ & kApicBaseBsp) set(kApicLvt0, 0x700);
  set(kApicDfr, kDfrFlat);
  set(kApicSpiv, 0xff);
  set(kApicTaskPri, 0);
  set(kApicEsr, 0);
  if (!x2apic_mode_locked()) {
    set(kApicLdr, 0);
    set(kApicIcr, 0);
    set(kApicIcr2, 0);
  } else {
    // x2APIC (INIT keeps the mode): the LDR stays derived from the ID; the
    // ICR is one 64-bit register at 0x300 (lapic.c: kvm_lapic_set_reg64).
    set(kApicIcr, 0);
    set(kApicIcr + 4, 0);
  }
  set(kApicTdcr, 0);
  set(kApicTmict, 0);
  for (uint32_t i = 0; i < 8; ++i) {
    set(kApicIrr + 0x10 * i, 0);
    set(kApicIsr + 0x10 * i, 0);
    set(kApicTmr + 0x10 * i, 0);
  }
  update_divide();
  set(kApicProcPri, compute_ppr());
  arb_prio_ = 0;
  nmis_ = 0;
  init_pending_ = false;
  sipi_pending_ = false;
}

// lapic.c: kvm_lapic_set_base: re-enabling resets the xAPIC ID to the vCPU
// id; entering x2APIC mode sets the x2APIC ID and the LDR derived from it.
// The legality of the transition (SDM Vol. 3A, 10.12.5) is checked by the
// engine's IA32_APIC_BASE write (x86.c: kvm_set_apic_base).
void Lapic::set_base(uint64_t apic_base) {
  std::lock_guard lock(mu_);
  const uint64_t old = base_;
  base_ = apic_base;
  if ((old ^ apic_base) & kApicBaseEnable) {
    if (apic_base & kApicBaseEnable) set(kApicId, vcpu_id_ << 24);
  }
  if (((old ^ apic_base) & kApicBaseX2apic) && (apic_base & kApicBaseX2apic)) set_x2apic_id_locked();
}

uint64_t Lapic::base() const {
  std::lock_guard lock(mu_);
  return base_;
}

bool Lapic::hw_enabled() const {
  std::lock_guard lock(mu_);
  return hw_enabled_locked();
}

bool Lapic::apic_enabled() const {
  std::lock_guard lock(mu_);
  return enabled_locked();
}

bool Lapic::in_mmio_range(uint64_t gpa) const {
  std::lock_guard lock(mu_);
  const uint64_t page = base_ & ~0xfffull & ((1ull << 52) - 1);
  return gpa >= page && gpa < page + 0x1000;
}

// ---- Registers ----------------------------------------------------------------

uint32_t Lapic::reg(uint32_t offset) const {
  std::lock_guard lock(mu_);
  return get(offset & 0x3f0);
}

void Lapic::set_cr8(uint64_t cr8) {
  std::lock_guard lock(mu_);
  set(kApicTaskPri, static_cast<uint32_t>((cr8 & 0xf) << 4));
  set(kApicProcPri, compute_ppr());
}

uint64_t Lapic::cr8() const {
  std::lock_guard lock(mu_);
  return (get(kApicTaskPri) >> 4) & 0xf;
}

// lapic.c: __apic_read.
uint32_t Lapic::read_locked(uint32_t off) const {
  switch (off) {
    case kApicArbPri: return 0;
    case kApicTmcct: return current_count();
    case kApicProcPri: return compute_ppr();
    default: return get(off);
  }
}

// lapic.c: apic_mmio_read / kvm_lapic_reg_read. A hw-disabled LAPIC reads
// as all-ones (KVM_X86_QUIRK_LAPIC_MMIO_HOLE); reserved registers and
// accesses crossing a 32-bit register leave the data untouched in KVM: here
// they read as zero.
void Lapic::mmio_read(uint32_t offset, unsigned size, void* data) {
  std::lock_guard lock(mu_);
  if (!hw_enabled_locked() || x2apic_mode_locked()) {  // no MMIO page in x2APIC mode
    std::memset(data, 0xff, size);
    return;
  }
  std::memset(data, 0, size);
  const uint32_t align = offset & 0xf;
  if (align + size > 4 || offset > 0x3f0) return;
  const uint32_t r = offset & ~0xfu;
  const bool valid = r == kApicId || r == kApicLvr || r == kApicTaskPri || r == kApicProcPri ||
                     r == kApicLdr || r == kApicDfr || r == kApicSpiv ||
                     (r >= kApicIsr && r < kApicIrr + 0x80) || r == kApicEsr || r == kApicIcr ||
                     r == kApicIcr2 || r == kApicArbPri ||
                     (r >= kApicLvtt && r <= kApicLvtErr) || r == kApicTmict || r == kApicTmcct ||
                     r == kApicTdcr;
  if (!valid) return;
  const uint32_t v = read_locked(r);
  // SAFETY: align + size <= 4: the bytes come from the 32-bit value v.
  std::memcpy(data, reinterpret_cast<const uint8_t*>(&v) + align, size);
}

// lapic.c: apic_mmio_write: only aligned 32-bit writes reach a register;
// ignored when hw-disabled or in x2APIC mode (KVM_X86_QUIRK_LAPIC_MMIO_HOLE).
void Lapic::mmio_write(uint32_t offset, unsigned size, const void* data) {
  Effects fx;
  {
    std::lock_guard lock(mu_);
    if (!hw_enabled_locked() || x2apic_mode_locked()) return;
    if (size != 4 || (offset & 0xf) != 0 || offset > 0x3f0) return;
    uint32_t val;
    // SAFETY: size == 4.
    std::memcpy(&val, data, 4);
    write_locked(offset, val, &fx);
  }
  run_effects(fx);
}

// lapic.c: kvm_lapic_reg_write (xAPIC mode).
void Lapic::write_locked(uint32_t off, uint32_t val, Effects* fx) {
  switch (off) {
    case kApicId:
      set(kApicId, val & 0xff000000u);
      break;
    case kApicTaskPri:
      set(kApicTaskPri, val & 0xff);
      set(kApicProcPri, compute_ppr());
      fx->wake = has_interrupt_locked() >= 0;
      break;
    case kApicEoi: {
      // lapic.c: apic_set_eoi.
      const int v = highest(kApicIsr);
      if (v < 0) break;
      clear_vec(kApicIsr, static_cast<unsigned>(v));
      set(kApicProcPri, compute_ppr());
      fx->eoi = true;
      fx->eoi_vector = static_cast<uint8_t>(v);
      fx->eoi_level = test_vec(kApicTmr, static_cast<unsigned>(v));
      fx->wake = has_interrupt_locked() >= 0;
      break;
    }
    case kApicLdr:
      set(kApicLdr, val & 0xff000000u);
      break;
    case kApicDfr:
      set(kApicDfr, val | 0x0fffffffu);
      break;
    case kApicSpiv:
      set(kApicSpiv, val & 0x3ff);
      if (!(val & kSpivEnabled)) {
        for (uint32_t lvt : kLvtOffsets) set(lvt, get(lvt) | kLvtMasked);
      }
      break;
    case kApicIcr: {
      // kvm_apic_send_ipi: no delay, the busy bit is always clear.
      val &= ~(1u << 12);
      set(kApicIcr, val);
      ApicIrq& irq = fx->ipi;
      irq.vector = static_cast<uint8_t>(val & 0xff);
      irq.delivery_mode = static_cast<uint8_t>((val >> 8) & 7);
      irq.logical = (val & (1u << 11)) != 0;
      irq.level_assert = (val & (1u << 14)) != 0;
      irq.level_trigger = (val & (1u << 15)) != 0;
      irq.shorthand = static_cast<uint8_t>((val >> 18) & 3);
      irq.dest_id = get(kApicIcr2) >> 24;
      fx->send_ipi = true;
      break;
    }
    case kApicIcr2:
      set(kApicIcr2, val & 0xff000000u);
      break;
    case kApicLvt0:
    case kApicLvtThmr:
    case kApicLvtPc:
    case kApicLvt1:
    case kApicLvtErr:
      if (!sw_enabled_locked()) val |= kLvtMasked;
      set(off, val & lvt_mask_for(off));
      break;
    case kApicLvtt: {
      const bool was_deadline = tsc_deadline_mode();
      if (!sw_enabled_locked()) val |= kLvtMasked;
      set(kApicLvtt, val & (kLvtMaskBits | timer_mode_mask_));
      update_lvtt(was_deadline);
      break;
    }
    case kApicTmict:
      if (tsc_deadline_mode()) break;  // lapic.c: ignored in TSC-deadline mode
      cancel_timer();
      set(kApicTmict, val);
      start_timer(val);
      fx->wake = true;  // the vCPU may be blocked with an older deadline
      break;
    case kApicTdcr: {
      const uint32_t old_divide = divide_;
      set(kApicTdcr, val & 0xb);
      update_divide();
      if (divide_ != old_divide && timer_armed_ && !tsc_deadline_mode()) {
        // lapic.c: update_target_expiration: the remaining time scales with
        // the divisor.
        const uint64_t now = clock_.now_ns();
        const uint64_t remaining = target_ns_ > now ? target_ns_ - now : 0;
        period_ns_ = static_cast<uint64_t>(get(kApicTmict)) * kApicBusCycleNs * divide_;
        if (timer_mode() == kTimerPeriodic && period_ns_ < kMinPeriodicNs) period_ns_ = kMinPeriodicNs;
        target_ns_ = now + remaining * divide_ / old_divide;
        fx->wake = true;
      }
      break;
    }
    case kApicEsr:
      // KVM records no errors: ESR stays 0.
      break;
    default:
      break;  // read-only or reserved: ignored
  }
}

// lapic.c: update_divide_count.
void Lapic::update_divide() {
  const uint32_t tdcr = get(kApicTdcr) & 0xf;
  const uint32_t shift = ((tdcr & 3) | ((tdcr & 8) >> 1)) + 1;
  divide_ = 1u << (shift & 7);
}

uint32_t Lapic::timer_mode() const { return get(kApicLvtt) & timer_mode_mask_; }
bool Lapic::tsc_deadline_mode() const { return timer_mode() == kTimerTscDeadline; }

// lapic.c: apic_update_lvtt: entering or leaving TSC-deadline mode stops the
// timer and clears TMICT and the deadline.
void Lapic::update_lvtt(bool was_deadline) {
  if (was_deadline != tsc_deadline_mode()) {
    cancel_timer();
    set(kApicTmict, 0);
    period_ns_ = 0;
    tsc_deadline_ = 0;
  }
}

// lapic.c: start_sw_tscdeadline: the deadline as Clock time; one already
// passed fires at the next poll.
void Lapic::start_tsc_deadline() {
  cancel_timer();
  if (tsc_deadline_ == 0 || tsc_clock_ == nullptr) return;
  target_ns_ = tsc_clock_->guest_tsc_to_ns(tsc_deadline_);
  timer_armed_ = true;
}

void Lapic::set_tsc_deadline_mode_allowed(bool allowed) {
  std::lock_guard lock(mu_);
  const bool was_deadline = tsc_deadline_mode();
  timer_mode_mask_ = allowed ? (3u << 17) : (1u << 17);
  // Mode bits the new mask hides read as one-shot (lapic.c keeps the
  // register and compares the masked mode).
  update_lvtt(was_deadline);
}

void Lapic::set_tsc_clock(const TscDeadlineClock* tsc) {
  std::lock_guard lock(mu_);
  tsc_clock_ = tsc;
}

uint64_t Lapic::tsc_deadline() const {
  std::lock_guard lock(mu_);
  if (!hw_enabled_locked() || !tsc_deadline_mode()) return 0;
  return tsc_deadline_;
}

void Lapic::set_tsc_deadline(uint64_t guest_tsc) {
  Effects fx;
  {
    std::lock_guard lock(mu_);
    if (!hw_enabled_locked() || !tsc_deadline_mode()) return;
    tsc_deadline_ = guest_tsc;
    start_tsc_deadline();
    fx.wake = true;  // the timer thread and the vCPU see the new deadline
  }
  run_effects(fx);
}

void Lapic::cancel_timer() { timer_armed_ = false; }

// lapic.c: set_target_expiration / start_sw_timer (one-shot and periodic).
void Lapic::start_timer(uint32_t count) {
  period_ns_ = static_cast<uint64_t>(get(kApicTmict)) * kApicBusCycleNs * divide_;
  if (period_ns_ == 0) {
    timer_armed_ = false;
    return;
  }
  // lapic.c: limit_periodic_timer_frequency.
  if (timer_mode() == kTimerPeriodic && period_ns_ < kMinPeriodicNs) period_ns_ = kMinPeriodicNs;
  uint64_t delay = period_ns_;
  if (count != get(kApicTmict)) {  // restore from a saved current count
    delay = static_cast<uint64_t>(count) * kApicBusCycleNs * divide_;
    if (delay == 0) delay = timer_mode() == kTimerPeriodic ? period_ns_ : 0;
    else if (delay > period_ns_) delay = period_ns_;
  }
  target_ns_ = clock_.now_ns() + delay;
  timer_armed_ = true;
}

// lapic.c: apic_get_tmcct.
uint32_t Lapic::current_count() const {
  if (get(kApicTmict) == 0 || period_ns_ == 0) return 0;
  const uint64_t now = clock_.now_ns();
  if (!timer_armed_ || target_ns_ <= now) return 0;
  const uint64_t ns = (target_ns_ - now) % period_ns_;
  return static_cast<uint32_t>(ns / (kApicBusCycleNs * divide_));
}

bool Lapic::poll_timer() {
  Effects fx;
  bool fired = false;
  {
    std::lock_guard lock(mu_);
    if (!timer_armed_) return false;
    const uint64_t now = clock_.now_ns();
    if (now < target_ns_) return false;
    fired = true;
    // lapic.c: apic_timer_expired -> kvm_apic_local_deliver(APIC_LVTT).
    local_deliver_locked(kApicLvtt, &fx);
    if (tsc_deadline_mode()) {
      // lapic.c: kvm_apic_inject_pending_timer_irqs: the deadline reads 0.
      tsc_deadline_ = 0;
      timer_armed_ = false;
    } else if (timer_mode() == kTimerPeriodic) {
      // lapic.c: advance_periodic_target_expiration: the next expiry is one
      // period after this one (the phase is kept). Periods that also passed
      // already (the timer could not fire in time) expire together with
      // this one: KVM's hrtimer runs them back to back and
      // lapic_timer.pending (here the IRR bit) coalesces them into one
      // interrupt.
      target_ns_ += period_ns_;
      if (target_ns_ <= now) target_ns_ += ((now - target_ns_) / period_ns_ + 1) * period_ns_;
    } else {
      timer_armed_ = false;
    }
    fx.wake = true;
  }
  run_effects(fx);
  return fired;
}

uint64_t Lapic::next_deadline_ns() const {
  std::lock_guard lock(mu_);
  return timer_armed_ ? target_ns_ : UINT64_MAX;
}

// ---- Interrupt acceptance -------------------------------------------------------

// lapic.c: kvm_apic_match_physical_addr / kvm_apic_match_logical_addr /
// kvm_apic_match_dest / kvm_apic_mda.
bool Lapic::match_locked(const ApicIrq& irq, bool is_source, bool is_ipi) const {
  switch (irq.shorthand) {
    case kShorthandSelf: return is_source;
    case kShorthandAllIncSelf: return true;
    case kShorthandAllExcSelf: return !is_source;
    default: break;
  }
  const bool x2 = x2apic_mode_locked();
  uint32_t mda = irq.dest_id;
  // kvm_apic_mda: without KVM_CAP_X2APIC_API a device message (not an IPI)
  // to 0xff is a broadcast for an x2APIC target too.
  if (x2 && !is_ipi && mda == 0xff) mda = kX2apicBroadcast;
  if (mda == (x2 ? kX2apicBroadcast : 0xffu)) return true;  // kvm_apic_broadcast
  if (x2) {
    // The x2APIC ID is the vCPU id (lapic.h: kvm_x2apic_id); logical:
    // cluster in bits 31:16, one bit per member in 15:0 (SDM Vol. 3A, 10.12.10.2).
    if (!irq.logical) return mda == vcpu_id_;
    const uint32_t ldr = get(kApicLdr);
    return (ldr >> 16) == (mda >> 16) && (ldr & mda & 0xffff) != 0;
  }
  if (!irq.logical) {
    // Hotplug rule: an ID beyond 0xff matches the x2APIC ID (the vCPU id).
    if (mda > 0xff) return mda == vcpu_id_;
    return mda == (get(kApicId) >> 24);
  }
  const uint32_t logical_id = get(kApicLdr) >> 24;
  switch (get(kApicDfr)) {
    case kDfrFlat: return (logical_id & mda) != 0;
    case kDfrCluster: return (logical_id >> 4) == (mda >> 4) && (logical_id & mda & 0xf) != 0;
    default: return false;
  }
}

bool Lapic::match_dest(const ApicIrq& irq, const Lapic* source) const {
  std::lock_guard lock(mu_);
  return match_locked(irq, source == this, source != nullptr);
}

unsigned Lapic::arb_prio() const {
  std::lock_guard lock(mu_);
  return arb_prio_;
}

// lapic.c: __apic_accept_irq.
int Lapic::accept_locked(const ApicIrq& irq, Effects* fx) {
  switch (irq.delivery_mode) {
    case kDmLowest:
      ++arb_prio_;
      [[fallthrough]];
    case kDmFixed:
      if (irq.level_trigger && !irq.level_assert) return 0;
      if (!enabled_locked()) return 0;
      if (irq.level_trigger) set_vec(kApicTmr, irq.vector);
      else clear_vec(kApicTmr, irq.vector);
      set_vec(kApicIrr, irq.vector);
      fx->wake = true;
      return 1;
    case kDmNmi:
      if (nmis_ < 2) ++nmis_;
      fx->wake = true;
      return 1;
    case kDmInit:
      if (!irq.level_trigger || irq.level_assert) {
        init_pending_ = true;
        sipi_pending_ = false;
        fx->wake = true;
        return 1;
      }
      return 0;
    case kDmStartup:
      sipi_vector_ = irq.vector;
      sipi_pending_ = true;
      fx->wake = true;
      return 1;
    case kDmSmi:
      // DEVIATION: no SMM; KVM accepts the SMI (KVM_REQ_SMI). Dropped.
      return 1;
    default:
      return 0;  // ExtINT is taken through accepts_pic_interrupt()
  }
}

int Lapic::accept_irq(const ApicIrq& irq) {
  Effects fx;
  int r;
  {
    std::lock_guard lock(mu_);
    r = accept_locked(irq, &fx);
  }
  run_effects(fx);
  return r;
}

// lapic.c: kvm_apic_local_deliver.
void Lapic::local_deliver_locked(uint32_t lvt_offset, Effects* fx) {
  const uint32_t reg = get(lvt_offset);
  if (!hw_enabled_locked() || (reg & kLvtMasked)) return;
  ApicIrq irq;
  irq.vector = static_cast<uint8_t>(reg & 0xff);
  irq.delivery_mode = static_cast<uint8_t>((reg >> 8) & 7);
  irq.level_trigger = (reg & (1u << 15)) != 0;
  irq.level_assert = true;
  accept_locked(irq, fx);
}

void Lapic::local_deliver(uint32_t lvt_offset) {
  Effects fx;
  {
    std::lock_guard lock(mu_);
    local_deliver_locked(lvt_offset, &fx);
  }
  run_effects(fx);
}

int Lapic::has_interrupt_locked() const {
  if (!hw_enabled_locked()) return -1;
  const int irr = highest(kApicIrr);
  // lapic.c: apic_has_interrupt_for_ppr.
  if (irr < 0 || static_cast<uint32_t>(irr & 0xf0) <= compute_ppr()) return -1;
  return irr;
}

int Lapic::has_interrupt() {
  std::lock_guard lock(mu_);
  return has_interrupt_locked();
}

// lapic.c: kvm_get_apic_interrupt.
int Lapic::acknowledge() {
  std::lock_guard lock(mu_);
  const int v = has_interrupt_locked();
  if (v < 0) return -1;
  clear_vec(kApicIrr, static_cast<unsigned>(v));
  set_vec(kApicIsr, static_cast<unsigned>(v));
  set(kApicProcPri, compute_ppr());
  return v;
}

bool Lapic::accepts_pic_interrupt() const {
  std::lock_guard lock(mu_);
  if (!hw_enabled_locked()) return true;
  const uint32_t lvt0 = get(kApicLvt0);
  return (lvt0 & kLvtMasked) == 0 && (lvt0 & kModeMask) == 0x700;
}

unsigned Lapic::take_nmis() {
  std::lock_guard lock(mu_);
  const unsigned n = nmis_;
  nmis_ = 0;
  return n;
}

bool Lapic::nmi_pending() const {
  std::lock_guard lock(mu_);
  return nmis_ != 0;
}

void Lapic::force_sipi_pending() {
  std::lock_guard lock(mu_);
  sipi_pending_ = true;
}

bool Lapic::init_pending() const {
  std::lock_guard lock(mu_);
  return init_pending_;
}

bool Lapic::sipi_pending(uint8_t* vector) const {
  std::lock_guard lock(mu_);
  if (sipi_pending_ && vector != nullptr) *vector = sipi_vector_;
  return sipi_pending_;
}

void Lapic::clear_init() {
  std::lock_guard lock(mu_);
  init_pending_ = false;
}

void Lapic::clear_sipi() {
  std::lock_guard lock(mu_);
  sipi_pending_ = false;
}

// ---- KVM_GET/SET_LAPIC ------------------------------------------------------------

void Lapic::get_state(kvm_lapic_state* s) {
  std::lock_guard lock(mu_);
  // SAFETY: both are KVM_APIC_REG_SIZE bytes.
  static_assert(sizeof s->regs == sizeof regs_);
  std::memcpy(s->regs, regs_, sizeof regs_);
  const uint32_t tmcct = current_count();
  std::memcpy(s->regs + kApicTmcct, &tmcct, 4);
  if (x2apic_mode_locked()) {
    // lapic.c: kvm_apic_state_fixup (get, no KVM_CAP_X2APIC_API): the ID in
    // bits 31:24 as in xAPIC; the 64-bit ICR split into ICR and ICR2.
    const uint32_t id = get(kApicId) << 24;
    const uint32_t icr_high = get(kApicIcr + 4);
    std::memcpy(s->regs + kApicId, &id, 4);
    std::memcpy(s->regs + kApicIcr2, &icr_high, 4);
  }
}

// lapic.c: kvm_apic_set_state: the page is taken as is (xAPIC mode), the
// version is recomputed, the timer restarted from the saved current count.
void Lapic::set_state(const kvm_lapic_state& s) {
  Effects fx;
  {
    std::lock_guard lock(mu_);
    // SAFETY: both are KVM_APIC_REG_SIZE bytes.
    const bool was_deadline = tsc_deadline_mode();
    std::memcpy(regs_, s.regs, sizeof regs_);
    if (x2apic_mode_locked()) {
      // lapic.c: kvm_apic_state_fixup (set): ID from bits 31:24, LDR
      // derived from it, ICR2 into the high half of the 64-bit ICR.
      const uint32_t id = get(kApicId) >> 24;
      set(kApicId, id);
      set(kApicLdr, ((id >> 4) << 16) | (1u << (id & 0xf)));
      set(kApicIcr + 4, get(kApicIcr2));
    }
    set(kApicLvr, kVersion);
    set(kApicProcPri, compute_ppr());
    cancel_timer();
    update_divide();
    update_lvtt(was_deadline);
    if (tsc_deadline_mode()) start_tsc_deadline();
    else start_timer(get(kApicTmcct));
    set(kApicTmcct, 0);
    arb_prio_ = 0;
    fx.wake = true;
  }
  run_effects(fx);
}

void Lapic::wake_owner() {
  LapicWaker* w;
  {
    std::lock_guard lock(mu_);
    w = waker_;
  }
  if (w != nullptr) w->wake();
}

void Lapic::run_effects(const Effects& fx) {
  if (fx.send_ipi && bus_ != nullptr) bus_->deliver(fx.ipi, static_cast<int>(vcpu_id_));
  if (fx.eoi && port_ != nullptr) port_->eoi_broadcast(fx.eoi_vector, fx.eoi_level);
  if (fx.wake) wake_owner();
}

}  // namespace skvm::kvm::irq
