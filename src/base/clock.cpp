#include "base/clock.h"

#include <ctime>

namespace skvm::base {

uint64_t RealClock::now_ns() const {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t RealClock::realtime_ns() const {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

const Clock& real_clock() {
  static const RealClock clock;
  return clock;
}

}  // namespace skvm::base
