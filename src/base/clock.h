// Time sources. Everything that needs time (the guest TSC, later the PIT and
// LAPIC timer) takes a Clock so that tests can inject a FakeClock.
#pragma once

#include <cstdint>

namespace skvm::base {

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic nanoseconds since an arbitrary origin.
  virtual uint64_t now_ns() const = 0;
  // Wall-clock nanoseconds since the Unix epoch (kvmclock's wall clock and
  // KVM_CLOCK_REALTIME); may jump.
  virtual uint64_t realtime_ns() const = 0;
};

// CLOCK_MONOTONIC and CLOCK_REALTIME.
class RealClock final : public Clock {
 public:
  uint64_t now_ns() const override;
  uint64_t realtime_ns() const override;
};

// Time moves only when the test says so.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(uint64_t start_ns = 0) : now_(start_ns) {}
  uint64_t now_ns() const override { return now_; }
  // The wall clock moves with now_ns(), `epoch` nanoseconds ahead of it.
  uint64_t realtime_ns() const override { return now_ + realtime_epoch_; }
  void advance_ns(uint64_t ns) { now_ += ns; }
  void set_ns(uint64_t ns) { now_ = ns; }
  void set_realtime_epoch_ns(uint64_t epoch) { realtime_epoch_ = epoch; }

 private:
  uint64_t now_;
  uint64_t realtime_epoch_ = 0;
};

// Nanoseconds -> ticks of a counter running at `khz` kHz, without overflow.
inline uint64_t ns_to_ticks(uint64_t ns, uint64_t khz) {
  return static_cast<uint64_t>(static_cast<unsigned __int128>(ns) * khz / 1'000'000u);
}

// The process-wide real clock.
const Clock& real_clock();

}  // namespace skvm::base
