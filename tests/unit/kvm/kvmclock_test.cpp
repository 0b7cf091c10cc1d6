// kvmclock (kvm/kvmclock.h) on a fake clock: KVM_GET/SET_CLOCK, the time
// scale the guest applies to its TSC, the pvclock record and wall clock in
// guest memory with their version protocol.
#include "kvm/kvmclock.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>

#include "kvm/tsc.h"

namespace skvm::kvm {
namespace {

TEST(KvmClock, StartsAtZeroWhenCreatedAndFollowsTheClock) {
  base::FakeClock clock(5'000'000);
  KvmClock kc(clock);
  EXPECT_EQ(kc.now(), 0u);
  clock.advance_ns(1234);
  kvm_clock_data d{};
  kc.get(&d);
  EXPECT_EQ(d.clock, 1234u);
  EXPECT_EQ(d.flags, KVM_CLOCK_TSC_STABLE | KVM_CLOCK_REALTIME);
}

TEST(KvmClock, SetClockMakesTheClockReadTheValueFromNowOn) {
  base::FakeClock clock(100);
  KvmClock kc(clock);
  const uint64_t gen = kc.generation();
  kvm_clock_data d{};
  d.clock = 5'000'000'000;
  ASSERT_EQ(kc.set(d), 0);
  EXPECT_EQ(kc.now(), 5'000'000'000u);
  EXPECT_NE(kc.generation(), gen) << "vCPU records must be rewritten";
  clock.advance_ns(10);
  EXPECT_EQ(kc.now(), 5'000'000'010u);
}

TEST(KvmClock, SetClockWithRealtimeAddsTheWallTimeElapsedSince) {
  base::FakeClock clock(0);
  clock.set_realtime_epoch_ns(1'000'000'000'000);
  KvmClock kc(clock);
  kvm_clock_data d{};
  d.flags = KVM_CLOCK_REALTIME;
  d.clock = 7'000;
  d.realtime = clock.realtime_ns() - 300;  // saved 300 ns ago
  ASSERT_EQ(kc.set(d), 0);
  EXPECT_EQ(kc.now(), 7'300u);
  d.realtime = clock.realtime_ns() + 300;  // in the future: never step back
  ASSERT_EQ(kc.set(d), 0);
  EXPECT_EQ(kc.now(), 7'000u);
}

TEST(KvmClock, SetClockUnknownFlagIsEINVAL) {
  base::FakeClock clock(0);
  KvmClock kc(clock);
  kvm_clock_data d{};
  d.flags = 1u << 31;
  EXPECT_EQ(kc.set(d), -EINVAL);
  d.flags = 1;  // KVM_CLOCK_TSC_STABLE is 2: bit 0 is not valid
  EXPECT_EQ(kc.set(d), -EINVAL);
}

TEST(KvmClock, DefaultTscKhzIsSetWithZeroMeaningTheDefaultAndRejectsTheMaximum) {
  base::FakeClock clock(0);
  KvmClock kc(clock);
  EXPECT_EQ(kc.default_tsc_khz(), kDefaultTscKhz);
  EXPECT_EQ(kc.set_default_tsc_khz(1'500'000), 0);
  EXPECT_EQ(kc.default_tsc_khz(), 1'500'000u);
  EXPECT_EQ(kc.set_default_tsc_khz(0xffffffffu), -EINVAL);
  EXPECT_EQ(kc.default_tsc_khz(), 1'500'000u);
  EXPECT_EQ(kc.set_default_tsc_khz(0), 0);
  EXPECT_EQ(kc.default_tsc_khz(), kDefaultTscKhz);
}

TEST(TimeScale, ConvertsTscTicksToNanoseconds) {
  for (uint64_t khz : {2'000'000ull, 1'000'000ull, 2'294'611ull, 3'999'999ull, 100'000ull}) {
    const TimeScale s = time_scale(1'000'000'000, khz * 1000);
    const uint64_t one_second = khz * 1000;
    const uint64_t ns = scale_delta(one_second, s);
    EXPECT_NEAR(static_cast<double>(ns), 1e9, 1.0) << khz << " kHz";
    const uint64_t hour = one_second * 3600;
    EXPECT_NEAR(static_cast<double>(scale_delta(hour, s)), 3600e9, 3600.0) << khz << " kHz";
  }
}

TEST(Pvclock, RecordGivesTheKvmclockTimeFromTheGuestTsc) {
  base::FakeClock clock(1'000'000);
  KvmClock kc(clock);
  GuestTsc tsc(clock);
  clock.advance_ns(777);
  const uint64_t offset = 12345;  // the guest's IA32_TSC offset
  const PvclockVcpuTimeInfo info = make_time_info(kc, tsc.ticks_at(kc.reference_ns()) + offset, tsc.khz());
  EXPECT_EQ(info.flags, kPvclockTscStableBit);
  clock.advance_ns(3'000'000'000);
  // The guest: system_time + scale(rdtsc - tsc_timestamp).
  const uint64_t guest_tsc = tsc.now() + offset;
  const uint64_t guest_ns = info.system_time + scale_delta(guest_tsc - info.tsc_timestamp, {info.tsc_to_system_mul, info.tsc_shift});
  EXPECT_NEAR(static_cast<double>(guest_ns), static_cast<double>(kc.now()), 2.0);
}

TEST(Pvclock, PublishBumpsTheVersionByTwoAndKeepsGuestStopped) {
  uint8_t mem[32];
  std::memset(mem, 0, sizeof mem);
  mem[29] = 2;  // PVCLOCK_GUEST_STOPPED set by the guest side
  PvclockVcpuTimeInfo info{};
  info.system_time = 42;
  info.tsc_timestamp = 7;
  info.tsc_to_system_mul = 0x80000000u;
  info.tsc_shift = 1;
  info.flags = kPvclockTscStableBit;
  publish_time_info(mem, info);
  PvclockVcpuTimeInfo out;
  std::memcpy(&out, mem, sizeof out);
  EXPECT_EQ(out.version, 2u);
  EXPECT_EQ(out.system_time, 42u);
  EXPECT_EQ(out.tsc_timestamp, 7u);
  EXPECT_EQ(out.tsc_to_system_mul, 0x80000000u);
  EXPECT_EQ(out.tsc_shift, 1);
  EXPECT_EQ(out.flags, kPvclockTscStableBit | 2u);
  publish_time_info(mem, info);
  std::memcpy(&out, mem, sizeof out);
  EXPECT_EQ(out.version, 4u);
}

TEST(Pvclock, WallClockIsTheWallTimeAtKvmclockZero) {
  base::FakeClock clock(0);
  clock.set_realtime_epoch_ns(1'700'000'000'123'456'789);
  KvmClock kc(clock);  // kvmclock 0 now
  clock.advance_ns(5'000'000'000);
  uint32_t sec = 0, nsec = 0;
  kc.wall_clock(&sec, &nsec);
  EXPECT_EQ(sec, 1'700'000'000u);
  EXPECT_EQ(nsec, 123'456'789u);
  uint8_t mem[12];
  std::memset(mem, 0, sizeof mem);
  mem[0] = 5;  // odd junk: the first write makes it even first
  publish_wall_clock(mem, sec, nsec);
  PvclockWallClock wc;
  std::memcpy(&wc, mem, sizeof wc);
  EXPECT_EQ(wc.version, 8u);
  EXPECT_EQ(wc.sec, 1'700'000'000u);
  EXPECT_EQ(wc.nsec, 123'456'789u);
}

}  // namespace
}  // namespace skvm::kvm
