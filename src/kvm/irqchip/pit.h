// The i8254 PIT (i8254.c semantics): three channels at ports 0x40-0x43,
// the channel 2 gate / OUT on port 0x61 (KVM_PIT_SPEAKER_DUMMY), IRQ 0
// from channel 0 with KVM's reinjection of missed ticks. The state is a
// struct kvm_pit_state2 (count_load_time in the Clock's nanoseconds).
//
// Pit is a pure device on an injected Clock (tests drive a FakeClock and
// call expire()); PitTimer is the VM's driver: one thread that sleeps
// until the next channel-0 expiry (nothing when the PIT is idle) and
// pulses IRQ 0 through a callback.
#pragma once

#include <linux/kvm.h>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

#include "base/clock.h"

namespace skvm::kvm::irq {

class Pit {
 public:
  static constexpr uint32_t kFreqHz = 1193181;         // KVM_PIT_FREQ
  static constexpr uint64_t kMinPeriodNs = 200 * 1000;  // min_timer_period_us

  // `timer_enabled`: channel 0 arms its timer only with an in-kernel
  // IOAPIC (i8254.c: create_pit_timer).
  Pit(const base::Clock& clock, uint32_t flags, bool timer_enabled);

  // Ports 0x40-0x43 (and 0x61 with KVM_PIT_SPEAKER_DUMMY); false when not
  // claimed (kvm_io_bus range rules).
  bool pio(uint16_t port, bool is_write, unsigned size, void* data);

  // KVM_CREATE_IRQCHIP after KVM_CREATE_PIT2: the timer works from the
  // next count load on.
  void enable_timer() { timer_enabled_ = true; }

  // api.rst: KVM_GET_PIT2 / KVM_SET_PIT2 (x86.c: kvm_vm_ioctl_*_pit2).
  void get_state(kvm_pit_state2* s) const;
  void set_state(const kvm_pit_state2& s);
  // api.rst: KVM_REINJECT_CONTROL (i8254.c: kvm_pit_set_reinject).
  void set_reinject(bool reinject);
  bool reinject() const { return reinject_; }

  // Channel 0's timer: whether it is armed and its next expiry (ns).
  bool armed() const { return armed_; }
  uint64_t deadline_ns() const { return deadline_ns_; }
  // Runs every expiry up to `now_ns` (pit_timer_fn + pit_do_work): true
  // when IRQ 0 must be pulsed now.
  bool expire(uint64_t now_ns);
  // The guest acknowledged IRQ 0 (kvm_pit_ack_irq): true when a missed
  // tick must be pulsed now.
  bool ack();
  // The guest unmasked IRQ 0 (i8254.c: pit_mask_notifer): missed ticks are
  // forgotten and the next expiry pulses.
  void unmasked();

 private:
  int64_t elapsed(unsigned channel) const;
  int get_count(unsigned channel) const;
  int get_out(unsigned channel) const;
  void latch_count(unsigned channel);
  void latch_status(unsigned channel);
  void load_count(unsigned channel, uint32_t val, bool hpet_legacy_start = false);
  void set_gate(unsigned channel, uint8_t val);
  void write_port(unsigned addr, uint8_t val);
  uint8_t read_port(unsigned addr);
  bool do_work();

  const base::Clock& clock_;
  const uint32_t config_flags_;
  bool timer_enabled_;
  kvm_pit_state2 state_{};
  // channel 0's hrtimer
  bool armed_ = false;
  bool periodic_ = false;
  int64_t period_ns_ = 0;
  uint64_t deadline_ns_ = 0;
  // reinjection (i8254.c: pending, irq_ack, reinject)
  bool reinject_ = true;
  unsigned pending_ = 0;
  bool irq_ack_ = true;
};

// The VM's PIT: the device, its lock and its timer thread.
class PitTimer {
 public:
  // `pulse` raises then lowers IRQ 0 (kvm_set_irq with the PIT's source).
  PitTimer(const base::Clock& clock, uint32_t flags, bool timer_enabled,
           std::function<void()> pulse);
  ~PitTimer();
  PitTimer(const PitTimer&) = delete;
  PitTimer& operator=(const PitTimer&) = delete;

  bool pio(uint16_t port, bool is_write, unsigned size, void* data);
  void get_state(kvm_pit_state2* s);
  void set_state(const kvm_pit_state2& s);
  void set_reinject(bool reinject);
  void enable_timer();
  // The irqchip's ack notifier for GSI 0.
  void on_ack();
  // The irqchip's mask notifier for GSI 0.
  void on_mask(bool masked);

 private:
  void run();

  const base::Clock& clock_;
  std::function<void()> pulse_;
  std::mutex mu_;
  std::condition_variable cv_;
  Pit pit_;  // guarded by mu_
  bool stop_ = false;
  bool work_ = false;  // a pulse is due (queued pit_do_work)
  std::thread thread_;
};

}  // namespace skvm::kvm::irq
