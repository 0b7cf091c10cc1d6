// i8254.c (KVM's PIT); Intel 82C54 data sheet.
#include "kvm/irqchip/pit.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace skvm::kvm::irq {

namespace {

// i8254.c: RW_STATE_*.
constexpr uint8_t kRwLsb = 1, kRwMsb = 2, kRwWord0 = 3, kRwWord1 = 4;
constexpr uint16_t kPitBase = 0x40, kSpeakerPort = 0x61;

// SKVM_TRACE_PIT=1: one stderr line per IRQ 0 pulse, guest ack, unmask of
// IRQ 0 and expiry that finds the previous tick unacknowledged (a stalled
// reinjection shows as expiries without pulses).
void trace_pit(const char* what, uint64_t now_ns) {
  static const bool on = std::getenv("SKVM_TRACE_PIT") != nullptr;
  if (on) std::fprintf(stderr, "pit: %s at %.6f s\n", what, static_cast<double>(now_ns) / 1e9);
}

int64_t ns_to_pit_ticks(int64_t ns) {
  if (ns <= 0) return 0;
  return static_cast<int64_t>(static_cast<unsigned __int128>(ns) * Pit::kFreqHz / 1'000'000'000u);
}

}  // namespace

// i8254.c: kvm_create_pit + kvm_pit_reset.
Pit::Pit(const base::Clock& clock, uint32_t flags, bool timer_enabled)
    : clock_(clock), config_flags_(flags), timer_enabled_(timer_enabled) {
  for (unsigned i = 0; i < 3; i++) {
    kvm_pit_channel_state& c = state_.channels[i];
    c.mode = 0xff;
    c.gate = i != 2;
    load_count(i, 0);
  }
}

// i8254.c: kpit_elapsed — channel 0 from its timer (KVM: period minus the
// hrtimer's remaining time, 0 before a timer was ever created), channels 1
// and 2 from the load time.
int64_t Pit::elapsed(unsigned channel) const {
  uint64_t now = clock_.now_ns();
  if (channel != 0)
    return static_cast<int64_t>(now - static_cast<uint64_t>(state_.channels[channel].count_load_time));
  if (!period_ns_) return 0;
  uint64_t deadline = deadline_ns_;
  if (armed_ && periodic_ && now >= deadline)  // the expiry a punctual timer would be at
    deadline += ((now - deadline) / period_ns_ + 1) * period_ns_;
  return period_ns_ - static_cast<int64_t>(deadline - now);
}

// i8254.c: pit_get_count (BCD counting is not modelled, as in KVM).
int Pit::get_count(unsigned channel) const {
  const kvm_pit_channel_state& c = state_.channels[channel];
  int64_t d = ns_to_pit_ticks(elapsed(channel));
  switch (c.mode) {
    case 0:
    case 1:
    case 4:
    case 5:
      return static_cast<int>((c.count - d) & 0xffff);
    case 3:
      return static_cast<int>(c.count - ((2 * d) % c.count));
    default:
      return static_cast<int>(c.count - (d % c.count));
  }
}

// i8254.c: pit_get_out.
int Pit::get_out(unsigned channel) const {
  const kvm_pit_channel_state& c = state_.channels[channel];
  int64_t d = ns_to_pit_ticks(elapsed(channel));
  int64_t count = c.count;
  switch (c.mode) {
    default:
    case 0:
      return d >= count;
    case 1:
      return d < count;
    case 2:
      return (d % count) == 0 && d != 0;
    case 3:
      return (d % count) < ((count + 1) >> 1);
    case 4:
    case 5:
      return d == count;
  }
}

void Pit::latch_count(unsigned channel) {
  kvm_pit_channel_state& c = state_.channels[channel];
  if (!c.count_latched) {
    c.latched_count = static_cast<uint16_t>(get_count(channel));
    c.count_latched = c.rw_mode;
  }
}

void Pit::latch_status(unsigned channel) {
  kvm_pit_channel_state& c = state_.channels[channel];
  if (!c.status_latched) {
    c.status = static_cast<uint8_t>((get_out(channel) << 7) | (c.rw_mode << 4) | (c.mode << 1) | c.bcd);
    c.status_latched = 1;
  }
}

// i8254.c: pit_load_count / create_pit_timer / destroy_pit_timer.
void Pit::load_count(unsigned channel, uint32_t val, bool hpet_legacy_start) {
  if (val == 0) val = 0x10000;  // the largest count
  state_.channels[channel].count = val;
  if (channel != 0) {
    state_.channels[channel].count_load_time = static_cast<int64_t>(clock_.now_ns());
    return;
  }
  uint8_t mode = hpet_legacy_start ? 0xff : state_.channels[0].mode;
  switch (mode) {
    case 0:
    case 1:
    case 4:
    case 2:
    case 3: {
      if (!timer_enabled_ || (state_.flags & KVM_PIT_FLAGS_HPET_LEGACY)) return;
      int64_t interval = static_cast<int64_t>(uint64_t{val} * 1'000'000'000u / kFreqHz);
      periodic_ = mode == 2 || mode == 3;
      period_ns_ = interval;
      pending_ = 0;  // kvm_pit_reset_reinject
      irq_ack_ = true;
      if (periodic_ && period_ns_ < static_cast<int64_t>(kMinPeriodNs)) period_ns_ = kMinPeriodNs;
      armed_ = true;
      deadline_ns_ = clock_.now_ns() + static_cast<uint64_t>(interval);
      break;
    }
    default:
      armed_ = false;
      break;
  }
}

// i8254.c: pit_set_gate — modes 1, 2, 3, 5 restart on a rising edge.
void Pit::set_gate(unsigned channel, uint8_t val) {
  kvm_pit_channel_state& c = state_.channels[channel];
  switch (c.mode) {
    case 1:
    case 2:
    case 3:
    case 5:
      if (c.gate < val) c.count_load_time = static_cast<int64_t>(clock_.now_ns());
      break;
    default:
      break;
  }
  c.gate = val;
}

// i8254.c: pit_ioport_write — control word (0x43) or counter write.
void Pit::write_port(unsigned addr, uint8_t val) {
  if (addr == 3) {
    unsigned channel = val >> 6;
    if (channel == 3) {  // read-back command
      for (channel = 0; channel < 3; channel++) {
        if (val & (2u << channel)) {
          if (!(val & 0x20)) latch_count(channel);
          if (!(val & 0x10)) latch_status(channel);
        }
      }
      return;
    }
    kvm_pit_channel_state& s = state_.channels[channel];
    uint8_t access = (val >> 4) & 3;
    if (access == 0) {  // counter latch command
      latch_count(channel);
      return;
    }
    s.rw_mode = access;
    s.read_state = access;
    s.write_state = access;
    s.mode = (val >> 1) & 7;
    if (s.mode > 5) s.mode -= 4;  // 6 and 7 alias 2 and 3
    s.bcd = val & 1;
    return;
  }
  kvm_pit_channel_state& s = state_.channels[addr];
  switch (s.write_state) {
    default:
    case kRwLsb:
      load_count(addr, val);
      break;
    case kRwMsb:
      load_count(addr, uint32_t{val} << 8);
      break;
    case kRwWord0:
      s.write_latch = val;
      s.write_state = kRwWord1;
      break;
    case kRwWord1:
      load_count(addr, s.write_latch | (uint32_t{val} << 8));
      s.write_state = kRwWord0;
      break;
  }
}

// i8254.c: pit_ioport_read — status, latched count, or the live count
// through the LSB/MSB flip-flop.
uint8_t Pit::read_port(unsigned addr) {
  kvm_pit_channel_state& s = state_.channels[addr];
  int ret;
  if (s.status_latched) {
    s.status_latched = 0;
    ret = s.status;
  } else if (s.count_latched) {
    switch (s.count_latched) {
      default:
      case kRwLsb:
        ret = s.latched_count & 0xff;
        s.count_latched = 0;
        break;
      case kRwMsb:
        ret = s.latched_count >> 8;
        s.count_latched = 0;
        break;
      case kRwWord0:
        ret = s.latched_count & 0xff;
        s.count_latched = kRwMsb;
        break;
    }
  } else {
    switch (s.read_state) {
      default:
      case kRwLsb:
        ret = get_count(addr) & 0xff;
        break;
      case kRwMsb:
        ret = (get_count(addr) >> 8) & 0xff;
        break;
      case kRwWord0:
        ret = get_count(addr) & 0xff;
        s.read_state = kRwWord1;
        break;
      case kRwWord1:
        ret = (get_count(addr) >> 8) & 0xff;
        s.read_state = kRwWord0;
        break;
    }
  }
  return static_cast<uint8_t>(ret);
}

bool Pit::pio(uint16_t port, bool is_write, unsigned size, void* data) {
  if (port >= kPitBase && port + size <= kPitBase + 4u) {
    unsigned addr = port & 3;
    if (is_write) {
      write_port(addr, *static_cast<const uint8_t*>(data));
    } else if (addr != 3) {  // a read of 0x43 leaves the data alone
      uint32_t v = read_port(addr);
      // SAFETY: `data` holds `size` (<= 4) bytes.
      std::memcpy(data, &v, size);
    }
    return true;
  }
  // i8254.c: speaker_ioport_* (a 4-port device at 0x61 that claims only
  // accesses starting at 0x61).
  if (!(config_flags_ & KVM_PIT_SPEAKER_DUMMY) || port != kSpeakerPort || size > 4) return false;
  if (is_write) {
    uint8_t val = *static_cast<const uint8_t*>(data);
    if (val & 2)
      state_.flags |= KVM_PIT_FLAGS_SPEAKER_DATA_ON;
    else
      state_.flags &= ~KVM_PIT_FLAGS_SPEAKER_DATA_ON;
    set_gate(2, val & 1);
  } else {
    // The refresh clock toggles about every 15 us (KVM: 2^14 ns).
    uint32_t refresh = (clock_.now_ns() >> 14) & 1;
    uint32_t v = ((state_.flags & KVM_PIT_FLAGS_SPEAKER_DATA_ON) ? 2u : 0u) |
                 state_.channels[2].gate | (static_cast<uint32_t>(get_out(2)) << 5) |
                 (refresh << 4);
    // SAFETY: `data` holds `size` (<= 4) bytes.
    std::memcpy(data, &v, size);
  }
  return true;
}

void Pit::get_state(kvm_pit_state2* s) const {
  *s = state_;
  std::memset(s->reserved, 0, sizeof(s->reserved));
}

// x86.c: kvm_vm_ioctl_set_pit2 — copy, then reload every count.
void Pit::set_state(const kvm_pit_state2& s) {
  bool start = !(state_.flags & KVM_PIT_FLAGS_HPET_LEGACY) && (s.flags & KVM_PIT_FLAGS_HPET_LEGACY);
  std::memcpy(state_.channels, s.channels, sizeof(state_.channels));
  state_.flags = s.flags;
  for (unsigned i = 0; i < 3; i++) load_count(i, state_.channels[i].count, start && i == 0);
}

void Pit::set_reinject(bool reinject) {
  if (reinject_ == reinject) return;
  if (reinject) {
    pending_ = 0;
    irq_ack_ = true;
  }
  reinject_ = reinject;
}

// i8254.c: pit_do_work — with reinjection, one tick at a time, each waiting
// for the guest's acknowledgement of the previous one.
bool Pit::do_work() {
  if (reinject_) {
    if (!irq_ack_) return false;
    irq_ack_ = false;
  }
  return true;
}

// i8254.c: pit_timer_fn (one call per expiry) + the queued pit_do_work.
bool Pit::expire(uint64_t now_ns) {
  if (!armed_ || now_ns < deadline_ns_) return false;
  unsigned fired = 0;
  while (armed_ && now_ns >= deadline_ns_) {
    ++fired;
    if (periodic_)
      deadline_ns_ += static_cast<uint64_t>(period_ns_);
    else
      armed_ = false;
    if (fired > 1000 && periodic_) {  // a host stall: skip the backlog
      deadline_ns_ = now_ns + static_cast<uint64_t>(period_ns_);
      break;
    }
  }
  if (reinject_) pending_ += fired;
  return do_work();
}

// i8254.c: pit_mask_notifer -> kvm_pit_reset_reinject. Without it a tick
// pulsed while IRQ 0 was masked everywhere (edge: the IOAPIC drops it) is
// never acknowledged and reinjection stops the PIT for good.
void Pit::unmasked() {
  pending_ = 0;
  irq_ack_ = true;
}

// i8254.c: kvm_pit_ack_irq.
bool Pit::ack() {
  if (!reinject_) return false;
  irq_ack_ = true;
  if (pending_ > 0 && --pending_ > 0) return do_work();
  return false;
}

PitTimer::PitTimer(const base::Clock& clock, uint32_t flags, bool timer_enabled,
                   std::function<void()> pulse)
    : clock_(clock), pulse_(std::move(pulse)), pit_(clock, flags, timer_enabled) {
  thread_ = std::thread([this] { run(); });
}

PitTimer::~PitTimer() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

// Sleeps until channel 0's next expiry, or forever while it is unarmed.
// Every IRQ 0 pulse is sent from this thread (i8254.c: pit_do_work on the
// PIT's own worker): two pulses from two threads could overlap and merge
// into one edge, losing a tick that reinjection then waits for forever.
void PitTimer::run() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    if (work_) {
      work_ = false;
      trace_pit("pulse", clock_.now_ns());
      lock.unlock();
      pulse_();
      lock.lock();
      continue;
    }
    if (!pit_.armed()) {
      cv_.wait(lock);
      continue;
    }
    uint64_t now = clock_.now_ns();
    if (now < pit_.deadline_ns()) {
      cv_.wait_for(lock, std::chrono::nanoseconds(pit_.deadline_ns() - now));
      continue;
    }
    if (pit_.expire(now))
      work_ = true;
    else
      trace_pit("expiry, the previous tick not acknowledged,", now);
  }
}

bool PitTimer::pio(uint16_t port, bool is_write, unsigned size, void* data) {
  bool claimed;
  {
    std::lock_guard lock(mu_);
    claimed = pit_.pio(port, is_write, size, data);
  }
  if (claimed && is_write) cv_.notify_one();
  return claimed;
}

void PitTimer::get_state(kvm_pit_state2* s) {
  std::lock_guard lock(mu_);
  pit_.get_state(s);
}

void PitTimer::set_state(const kvm_pit_state2& s) {
  {
    std::lock_guard lock(mu_);
    pit_.set_state(s);
  }
  cv_.notify_one();
}

void PitTimer::set_reinject(bool reinject) {
  std::lock_guard lock(mu_);
  pit_.set_reinject(reinject);
}

void PitTimer::enable_timer() {
  std::lock_guard lock(mu_);
  pit_.enable_timer();
}

void PitTimer::on_mask(bool masked) {
  if (masked) return;
  std::lock_guard lock(mu_);
  trace_pit("IRQ 0 unmasked", clock_.now_ns());
  pit_.unmasked();
}

void PitTimer::on_ack() {
  {
    std::lock_guard lock(mu_);
    const bool more = pit_.ack();
    trace_pit(more ? "ack, a missed tick follows," : "ack", clock_.now_ns());
    if (!more) return;
    work_ = true;  // queue_work(pit_do_work)
  }
  cv_.notify_one();
}

}  // namespace skvm::kvm::irq
