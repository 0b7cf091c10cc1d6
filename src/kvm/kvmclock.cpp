#include "kvm/kvmclock.h"

#include <cerrno>
#include <cstring>

namespace skvm::kvm {

namespace {

constexpr uint64_t kNsPerSec = 1'000'000'000;
constexpr uint8_t kPvclockGuestStopped = 1u << 1;

}  // namespace

// x86.c: kvm_get_time_scale.
TimeScale time_scale(uint64_t scaled_hz, uint64_t base_hz) {
  int32_t shift = 0;
  uint64_t tps64 = base_hz;
  uint64_t scaled64 = scaled_hz;
  while (tps64 > scaled64 * 2 || (tps64 & 0xffffffff00000000ull)) {
    tps64 >>= 1;
    --shift;
  }
  uint32_t tps32 = static_cast<uint32_t>(tps64);
  while (tps32 <= scaled64 || (scaled64 & 0xffffffff00000000ull)) {
    if ((scaled64 & 0xffffffff00000000ull) || (tps32 & 0x80000000u))
      scaled64 >>= 1;
    else
      tps32 <<= 1;
    ++shift;
  }
  // x86.c: div_frac(scaled64, tps32) = (scaled64 << 32) / tps32.
  return {static_cast<uint32_t>((scaled64 << 32) / tps32), static_cast<int8_t>(shift)};
}

uint64_t scale_delta(uint64_t delta, TimeScale s) {
  if (s.shift < 0)
    delta >>= -s.shift;
  else
    delta <<= s.shift;
  return static_cast<uint64_t>((static_cast<unsigned __int128>(delta) * s.mul) >> 32);
}

// x86.c: kvm_arch_init_vm: kvmclock_offset = -boottime: 0 at creation.
KvmClock::KvmClock(const base::Clock& clock)
    : clock_(clock),
      offset_(-static_cast<int64_t>(clock.now_ns())),
      reference_ns_(clock.now_ns()),
      default_tsc_khz_(kDefaultTscKhz) {}

// x86.c: kvm_arch_vm_ioctl KVM_SET_TSC_KHZ.
int KvmClock::set_default_tsc_khz(uint32_t khz) {
  if (khz == 0xffffffffu) return -EINVAL;
  default_tsc_khz_.store(khz == 0 ? kDefaultTscKhz : khz);
  return 0;
}

void KvmClock::get(kvm_clock_data* data) const {
  const uint64_t ns = clock_.now_ns();
  data->clock = at(ns);
  data->flags = KVM_CLOCK_TSC_STABLE | KVM_CLOCK_REALTIME;
  data->realtime = clock_.realtime_ns();
  data->host_tsc = 0;
}

// x86.c: kvm_vm_ioctl_set_clock.
int KvmClock::set(const kvm_clock_data& data) {
  constexpr uint32_t kValid = KVM_CLOCK_TSC_STABLE | KVM_CLOCK_REALTIME | KVM_CLOCK_HOST_TSC;
  if (data.flags & ~kValid) return -EINVAL;
  std::lock_guard lock(set_mu_);
  uint64_t clock = data.clock;
  if (data.flags & KVM_CLOCK_REALTIME) {
    const uint64_t now_real = clock_.realtime_ns();
    if (now_real > data.realtime) clock += now_real - data.realtime;  // never step back
  }
  const uint64_t now = clock_.now_ns();
  offset_.store(static_cast<int64_t>(clock - now));
  reference_ns_.store(now);
  generation_.fetch_add(1);
  return 0;
}

void KvmClock::wall_clock(uint32_t* sec, uint32_t* nsec) const {
  // x86.c: wall_nsec = ktime_get_real_ns() - get_kvmclock_ns(kvm).
  const uint64_t ns = clock_.now_ns();
  const uint64_t wall = clock_.realtime_ns() - at(ns);
  *nsec = static_cast<uint32_t>(wall % kNsPerSec);
  *sec = static_cast<uint32_t>(wall / kNsPerSec);  // x86.c: overflows in 2106
}

PvclockVcpuTimeInfo make_time_info(const KvmClock& clock, uint64_t tsc_at_reference, uint32_t tsc_khz) {
  PvclockVcpuTimeInfo info{};
  const TimeScale s = time_scale(kNsPerSec, uint64_t{tsc_khz} * 1000);
  info.tsc_timestamp = tsc_at_reference;
  info.system_time = clock.at(clock.reference_ns());
  info.tsc_to_system_mul = s.mul;
  info.tsc_shift = s.shift;
  info.flags = kPvclockTscStableBit;
  return info;
}

void publish_time_info(uint8_t* dst, const PvclockVcpuTimeInfo& info) {
  // SAFETY: dst is 32 bytes of guest RAM inside one page (the caller looked
  // the page up); the guest reads it concurrently, which the version
  // protocol (odd while writing, fenced) makes safe for it; std::atomic_ref
  // is not used on packed guest memory, hence the fences and memcpy.
  uint32_t version;
  std::memcpy(&version, dst, 4);
  PvclockVcpuTimeInfo old;
  std::memcpy(&old, dst, sizeof old);
  version = (version + 1) | 1;
  std::memcpy(dst, &version, 4);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  PvclockVcpuTimeInfo out = info;
  out.version = version;
  out.flags |= old.flags & kPvclockGuestStopped;
  std::memcpy(dst + 4, reinterpret_cast<const uint8_t*>(&out) + 4, sizeof out - 4);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  ++version;
  std::memcpy(dst, &version, 4);
}

void publish_wall_clock(uint8_t* dst, uint32_t sec, uint32_t nsec) {
  // SAFETY: dst is 12 bytes of guest RAM inside one page (see above).
  uint32_t version;
  std::memcpy(&version, dst, 4);
  if (version & 1) ++version;  // x86.c: first time write, random junk
  ++version;
  std::memcpy(dst, &version, 4);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  std::memcpy(dst + 4, &sec, 4);
  std::memcpy(dst + 8, &nsec, 4);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  ++version;
  std::memcpy(dst, &version, 4);
}

}  // namespace skvm::kvm
