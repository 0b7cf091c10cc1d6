// One local APIC (arch/x86/kvm/lapic.c semantics): xAPIC MMIO and x2APIC
// MSRs (lapic_x2apic.cpp, SDM Vol. 3A, 10.12). The registers live in a 1 KiB page laid out exactly as
// struct kvm_lapic_state (KVM_GET/SET_LAPIC copy it). Thread safety: every
// public method locks mu_; the bus and timer threads call accept_irq() /
// poll_timer() while the owning vCPU thread runs. Calls out of the LAPIC
// (IPIs to the bus, EOIs to the IOAPIC, wake-ups) are made after mu_ is
// released, so a self-IPI or an IOAPIC re-delivery cannot deadlock.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <mutex>

#include "base/clock.h"
#include "kvm/irqchip/apic_bus.h"

namespace skvm::kvm::irq {

// Register offsets (SDM Vol. 3A, Table 10-1; Linux apicdef.h).
inline constexpr uint32_t kApicId = 0x20, kApicLvr = 0x30, kApicTaskPri = 0x80, kApicArbPri = 0x90,
                          kApicProcPri = 0xa0, kApicEoi = 0xb0, kApicLdr = 0xd0, kApicDfr = 0xe0,
                          kApicSpiv = 0xf0, kApicIsr = 0x100, kApicTmr = 0x180, kApicIrr = 0x200,
                          kApicEsr = 0x280, kApicLvtCmci = 0x2f0, kApicIcr = 0x300, kApicIcr2 = 0x310,
                          kApicLvtt = 0x320, kApicLvtThmr = 0x330, kApicLvtPc = 0x340,
                          kApicLvt0 = 0x350, kApicLvt1 = 0x360, kApicLvtErr = 0x370,
                          kApicTmict = 0x380, kApicTmcct = 0x390, kApicTdcr = 0x3e0;
// x2APIC-only registers (SDM Vol. 3A, Table 10-6): SELF IPI; the MSRs
// 0x800..0x8ff map to offset (msr - 0x800) << 4.
inline constexpr uint32_t kApicSelfIpi = 0x3f0;
inline constexpr uint32_t kX2apicMsrBase = 0x800, kX2apicMsrLast = 0x8ff;
inline constexpr uint32_t kX2apicBroadcast = 0xffffffffu;
inline constexpr uint32_t kLvtMasked = 1u << 16;
inline constexpr uint32_t kSpivEnabled = 1u << 8;
inline constexpr uint64_t kApicBaseBsp = 1u << 8, kApicBaseX2apic = 1u << 10,
                          kApicBaseEnable = 1u << 11;
inline constexpr uint64_t kApicDefaultBase = 0xfee00000;
// lapic.h: APIC_BUS_CYCLE_NS — KVM's APIC timer counts at 1 GHz.
inline constexpr uint64_t kApicBusCycleNs = 1;
// lapic.c: min_timer_period_us (module parameter default).
inline constexpr uint64_t kMinPeriodicNs = 200'000;

// Wakes the vCPU that owns a LAPIC (Vcpu::kick): new interrupt, INIT/SIPI,
// NMI or timer.
class LapicWaker {
 public:
  virtual ~LapicWaker() = default;
  virtual void wake() = 0;
};

// Converts a guest TSC value (what the guest compares with RDTSC, IA32_TSC
// offset included) to the Clock time when the vCPU's TSC reaches it. The
// owning vCPU implements it; called with the LAPIC lock held, only from
// that vCPU's thread or its ioctls (IA32_TSC_DEADLINE writes, KVM_SET_LAPIC).
class TscDeadlineClock {
 public:
  virtual ~TscDeadlineClock() = default;
  virtual uint64_t guest_tsc_to_ns(uint64_t guest_tsc) const = 0;
};

class Lapic {
 public:
  // `bus` (for IPIs) and `port` (PIC, EOI broadcast) may be null in tests.
  Lapic(uint32_t vcpu_id, const base::Clock& clock, ApicBus* bus, IrqchipPort* port);
  Lapic(const Lapic&) = delete;
  Lapic& operator=(const Lapic&) = delete;

  uint32_t vcpu_id() const { return vcpu_id_; }
  void set_waker(LapicWaker* waker);
  // Wakes the owning vCPU (PIC output changed, tests).
  void wake_owner();

  // lapic.c: kvm_lapic_reset (init_event: INIT keeps the APIC ID and base).
  void reset(bool init_event, uint64_t apic_base);
  // lapic.c: kvm_lapic_set_base — the IA32_APIC_BASE value the vCPU holds.
  void set_base(uint64_t apic_base);
  uint64_t base() const;
  bool hw_enabled() const;
  // The MMIO page address when the LAPIC claims it (hw enabled or not:
  // KVM_X86_QUIRK_LAPIC_MMIO_HOLE reads all-ones when disabled).
  bool in_mmio_range(uint64_t gpa) const;

  // lapic.c: apic_mmio_read / apic_mmio_write (offset within the page).
  void mmio_read(uint32_t offset, unsigned size, void* data);
  void mmio_write(uint32_t offset, unsigned size, const void* data);
  // Direct register access (tests, CR8 sync).
  uint32_t reg(uint32_t offset) const;
  // x2APIC mode: IA32_APIC_BASE.EN and EXTD set (lapic.h: apic_x2apic_mode).
  bool x2apic_mode() const;
  // lapic.c: kvm_x2apic_msr_read / kvm_x2apic_msr_write for MSRs
  // 0x800..0x8ff. false means #GP (not in x2APIC mode, reserved or
  // write-only register read, read-only or reserved register written,
  // reserved bits set).
  bool x2apic_msr_read(uint32_t msr, uint64_t* value);
  bool x2apic_msr_write(uint32_t msr, uint64_t value);
  // CR8 <-> TPR (x86.c: kvm_set_cr8 / kvm_get_cr8: TPR = CR8 << 4).
  void set_cr8(uint64_t cr8);
  uint64_t cr8() const;

  // Bus side (lapic.c: kvm_apic_match_dest with source = `source_is_self`).
  bool match_dest(const ApicIrq& irq, const Lapic* source) const;
  // lapic.c: __apic_accept_irq. Returns 1 when accepted, else 0. Wakes the
  // vCPU.
  int accept_irq(const ApicIrq& irq);
  // Lowest-priority arbitration (KVM: apic_arb_prio counter).
  unsigned arb_prio() const;
  bool apic_enabled() const;  // hw and sw enabled

  // vCPU side. lapic.c: kvm_apic_has_interrupt: the highest IRR vector above
  // PPR, or -1.
  int has_interrupt();
  // lapic.c: kvm_get_apic_interrupt: IRR -> ISR, PPR update; returns the vector.
  int acknowledge();
  // lapic.c: kvm_apic_accept_pic_intr (LINT0 in ExtINT, or hw disabled).
  bool accepts_pic_interrupt() const;
  // NMIs accepted since the last call (DM NMI, LINT NMI).
  unsigned take_nmis();
  bool nmi_pending() const;
  // INIT / SIPI (lapic.c: pending_events, sipi_vector).
  bool init_pending() const;
  bool sipi_pending(uint8_t* vector) const;
  void clear_init();
  void clear_sipi();
  // KVM_SET_MP_STATE(SIPI_RECEIVED): a SIPI with the last vector received.
  void force_sipi_pending();
  // LINT0/LINT1 pin assertion from the irqchip (lapic.c: kvm_apic_local_deliver).
  void local_deliver(uint32_t lvt_offset);

  // Timer (lapic.c, software hrtimer path): fires the LVT timer when
  // now >= deadline; periodic re-arms. Returns true when it fired.
  bool poll_timer();
  // TSC-deadline mode (SDM Vol. 3A, 10.5.4.1). cpuid.c:
  // kvm_vcpu_after_set_cpuid: LVT timer mode 2 is writable only when the
  // guest CPUID has TSC_DEADLINE (lapic_timer.timer_mode_mask).
  void set_tsc_deadline_mode_allowed(bool allowed);
  void set_tsc_clock(const TscDeadlineClock* tsc);
  // lapic.c: kvm_get/set_lapic_tscdeadline_msr (IA32_TSC_DEADLINE): a
  // write outside TSC-deadline mode is ignored, reads give 0 there; 0
  // disarms; the value reads back until the timer fires, then 0.
  uint64_t tsc_deadline() const;
  void set_tsc_deadline(uint64_t guest_tsc);
  // Absolute Clock time of the next expiry, or UINT64_MAX when none.
  uint64_t next_deadline_ns() const;

  // api.rst: KVM_GET_LAPIC / KVM_SET_LAPIC (lapic.c: kvm_apic_get_state,
  // kvm_apic_set_state).
  void get_state(kvm_lapic_state* s);
  void set_state(const kvm_lapic_state& s);

 private:
  struct Effects {  // work done after mu_ is released
    bool send_ipi = false;
    ApicIrq ipi;
    bool eoi = false;
    uint8_t eoi_vector = 0;
    bool eoi_level = false;
    bool wake = false;
  };
  uint32_t get(uint32_t off) const;
  void set(uint32_t off, uint32_t v);
  bool test_vec(uint32_t base, unsigned v) const;
  void set_vec(uint32_t base, unsigned v);
  void clear_vec(uint32_t base, unsigned v);
  int highest(uint32_t base) const;
  uint32_t compute_ppr() const;
  bool sw_enabled_locked() const { return get(kApicSpiv) & kSpivEnabled; }
  bool hw_enabled_locked() const { return base_ & kApicBaseEnable; }
  bool enabled_locked() const { return sw_enabled_locked() && hw_enabled_locked(); }
  bool x2apic_mode_locked() const { return (base_ & kApicBaseX2apic) && hw_enabled_locked(); }
  void set_x2apic_id_locked();
  bool x2apic_write_locked(uint32_t off, uint64_t val, Effects* fx);
  bool x2apic_read_locked(uint32_t off, uint64_t* val) const;
  int has_interrupt_locked() const;
  bool match_locked(const ApicIrq& irq, bool is_source, bool is_ipi) const;
  int accept_locked(const ApicIrq& irq, Effects* fx);
  void local_deliver_locked(uint32_t lvt_offset, Effects* fx);
  void write_locked(uint32_t off, uint32_t val, Effects* fx);
  uint32_t read_locked(uint32_t off) const;
  void update_divide();
  uint32_t timer_mode() const;
  bool tsc_deadline_mode() const;
  void update_lvtt(bool was_deadline);
  void start_tsc_deadline();
  void cancel_timer();
  void start_timer(uint32_t count);
  uint32_t current_count() const;
  void run_effects(const Effects& fx);

  const uint32_t vcpu_id_;
  const base::Clock& clock_;
  ApicBus* const bus_;
  IrqchipPort* const port_;
  mutable std::mutex mu_;
  LapicWaker* waker_ = nullptr;
  alignas(16) uint8_t regs_[KVM_APIC_REG_SIZE] = {};
  uint64_t base_ = kApicDefaultBase | kApicBaseEnable;
  unsigned arb_prio_ = 0;
  unsigned nmis_ = 0;
  bool init_pending_ = false;
  bool sipi_pending_ = false;
  uint8_t sipi_vector_ = 0;
  uint32_t divide_ = 2;
  uint64_t period_ns_ = 0;  // 0: timer not armed
  uint64_t target_ns_ = 0;  // absolute Clock time of the next expiry
  bool timer_armed_ = false;
  uint32_t timer_mode_mask_ = 1u << 17;  // 3 << 17 with TSC-deadline
  const TscDeadlineClock* tsc_clock_ = nullptr;
  uint64_t tsc_deadline_ = 0;  // IA32_TSC_DEADLINE (lapic_timer.tscdeadline)
};

}  // namespace skvm::kvm::irq
