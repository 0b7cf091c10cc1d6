// kvmclock (Documentation/virt/kvm/x86/msr.rst, arch/x86/kvm/x86.c): the
// VM-wide clock that KVM_GET/SET_CLOCK read and set, and the per-vCPU
// paravirtual time records the guest registers with MSR_KVM_SYSTEM_TIME_NEW
// and MSR_KVM_WALL_CLOCK_NEW (layout: arch/x86/include/asm/pvclock-abi.h,
// which is not uapi, hence declared here).
//
// kvmclock ns = Clock::now_ns() + offset (x86.c: get_kvmclock_ns =
// boottime + kvmclock_offset; 0 when the VM is created). The guest TSC is a
// linear function of the same clock (kvm/tsc.h), so one record per vCPU,
// taken at a reference time shared by all vCPUs, stays exact until the
// clock, the TSC rate or the vCPU's TSC offset changes: the vCPU rewrites it
// then (at KVM_RUN entry and on the MSR write), and sets
// PVCLOCK_TSC_STABLE_BIT, as KVM does with its master clock.
#pragma once

#include <linux/kvm.h>

#include <atomic>
#include <cstdint>
#include <mutex>

#include "base/clock.h"
#include "kvm/tsc.h"

namespace skvm::kvm {

// asm/pvclock-abi.h: struct pvclock_vcpu_time_info / pvclock_wall_clock.
struct [[gnu::packed]] PvclockVcpuTimeInfo {
  uint32_t version;
  uint32_t pad0;
  uint64_t tsc_timestamp;
  uint64_t system_time;
  uint32_t tsc_to_system_mul;
  int8_t tsc_shift;
  uint8_t flags;
  uint8_t pad[2];
};
static_assert(sizeof(PvclockVcpuTimeInfo) == 32);
struct [[gnu::packed]] PvclockWallClock {
  uint32_t version;
  uint32_t sec;
  uint32_t nsec;
};
static_assert(sizeof(PvclockWallClock) == 12);
inline constexpr uint8_t kPvclockTscStableBit = 1u << 0;

// asm/kvm_para.h (uapi).
inline constexpr uint32_t kMsrKvmWallClockNew = 0x4b564d00, kMsrKvmSystemTimeNew = 0x4b564d01;
inline constexpr uint32_t kKvmFeatureClocksource2 = 3, kKvmFeatureClocksourceStableBit = 24;

// x86.c: kvm_get_time_scale: mul/shift such that
// ((delta << shift or >> -shift) * mul) >> 32 converts base_hz ticks to
// scaled_hz ticks.
struct TimeScale {
  uint32_t mul;
  int8_t shift;
};
TimeScale time_scale(uint64_t scaled_hz, uint64_t base_hz);
// The guest's conversion (pvclock.h: pvclock_scale_delta).
uint64_t scale_delta(uint64_t delta, TimeScale s);

// The VM-wide kvmclock. Any thread.
class KvmClock {
 public:
  explicit KvmClock(const base::Clock& clock);
  KvmClock(const KvmClock&) = delete;
  KvmClock& operator=(const KvmClock&) = delete;

  const base::Clock& clock() const { return clock_; }
  // kvmclock ns at Clock time `ns`.
  uint64_t at(uint64_t ns) const { return ns + static_cast<uint64_t>(offset_.load()); }
  uint64_t now() const { return at(clock_.now_ns()); }
  // The Clock time every vCPU's record is taken at, and a counter bumped
  // whenever the clock is set (records must be rewritten).
  uint64_t reference_ns() const { return reference_ns_.load(); }
  uint64_t generation() const { return generation_.load(); }

  // api.rst: KVM_GET_CLOCK (x86.c: kvm_vm_ioctl_get_clock): the clock,
  // flags KVM_CLOCK_TSC_STABLE (one clock for all vCPUs) | KVM_CLOCK_REALTIME
  // with the wall clock read at the same time. No host TSC is involved:
  // KVM_CLOCK_HOST_TSC is never set.
  void get(kvm_clock_data* data) const;
  // api.rst: KVM_SET_CLOCK: -EINVAL for flags outside KVM_CLOCK_VALID_FLAGS;
  // with KVM_CLOCK_REALTIME the wall-clock time elapsed since
  // data.realtime is added (never stepping back).
  int set(const kvm_clock_data& data);

  // MSR_KVM_WALL_CLOCK_NEW (VM-wide in KVM: kvm->arch.wall_clock).
  uint64_t wall_clock_msr() const { return wall_clock_msr_.load(); }
  void set_wall_clock_msr(uint64_t v) { wall_clock_msr_.store(v); }
  // x86.c: kvm_write_wall_clock: the wall-clock time at kvmclock 0.
  void wall_clock(uint32_t* sec, uint32_t* nsec) const;

  // The VM's other time state: the TSC rate of vCPUs created from now on
  // (x86.c: kvm->arch.default_tsc_khz; api.rst: KVM_GET/SET_TSC_KHZ on the
  // VM fd, KVM_CAP_VM_TSC_CONTROL). set: 0 = softkvm's default rate,
  // -EINVAL for 0xffffffff (as the vCPU ioctl).
  uint32_t default_tsc_khz() const { return default_tsc_khz_.load(); }
  int set_default_tsc_khz(uint32_t khz);

 private:
  const base::Clock& clock_;
  std::mutex set_mu_;  // serialises KVM_SET_CLOCK
  std::atomic<int64_t> offset_;
  std::atomic<uint64_t> reference_ns_;
  std::atomic<uint64_t> generation_{1};
  std::atomic<uint64_t> wall_clock_msr_{0};
  std::atomic<uint32_t> default_tsc_khz_;
};

// The pvclock record of one vCPU (x86.c: kvm_guest_time_update) whose guest
// TSC reads `tsc_at_reference` at the clock's reference time and counts at
// `tsc_khz`.
PvclockVcpuTimeInfo make_time_info(const KvmClock& clock, uint64_t tsc_at_reference, uint32_t tsc_khz);

// x86.c: kvm_setup_guest_pvclock: the version protocol (odd while writing)
// on 32 bytes of guest memory; PVCLOCK_GUEST_STOPPED in the guest's copy is
// kept. `dst` is the guest's record.
void publish_time_info(uint8_t* dst, const PvclockVcpuTimeInfo& info);
// x86.c: kvm_write_wall_clock on 12 bytes of guest memory.
void publish_wall_clock(uint8_t* dst, uint32_t sec, uint32_t nsec);

}  // namespace skvm::kvm
