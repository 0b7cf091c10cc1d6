// The guest time-stamp counter of one vCPU: a counter at a stable,
// advertised rate (KVM_GET/SET_TSC_KHZ) derived from the host monotonic
// clock, and the CPUID leaves that describe it (0x15 crystal ratio, 0x16
// base frequency).
//
// softkvm has no host TSC to scale: the guest TSC is
//   ticks(now) = base_ticks + (now_ns - base_ns) * khz / 10^6
// (before the engine's per-vCPU IA32_TSC offset, cpu::Msrs::tsc_offset), so
// any rate is exact and changing the rate keeps the counter continuous.
//
// The LAPIC timer counts at 1 GHz (lapic.h: kApicBusCycleNs, KVM's
// APIC_BUS_CYCLE_NS), so CPUID 0x15 advertises a 1 GHz crystal: Linux then
// takes both the TSC rate and the LAPIC timer period from CPUID
// (tsc.c: native_calibrate_tsc; lapic_timer_period = crystal_khz * 1000 / HZ)
// instead of calibrating them against the PIT.
//
// Thread safety: the rate changes only in vCPU ioctls (KVM_SET_TSC_KHZ, under
// the vCPU mutex, never during KVM_RUN); reads come from the same vCPU's
// thread or its ioctls.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <span>

#include "base/clock.h"
#include "kvm/cpuid.h"
#include "kvm/limits.h"

namespace skvm::kvm {

// The rate of a new vCPU: a fixed, documented 2 GHz (limits.h: kTscKhz),
// whatever the host, so that guests and tests see the same machine everywhere.
inline constexpr uint32_t kDefaultTscKhz = static_cast<uint32_t>(kTscKhz);
// The crystal (ART) clock of CPUID 0x15 = the LAPIC timer input: 1 GHz.
inline constexpr uint32_t kCrystalHz = 1'000'000'000;

class GuestTsc {
 public:
  explicit GuestTsc(const base::Clock& clock, uint32_t khz = kDefaultTscKhz);

  uint32_t khz() const { return khz_; }
  // api.rst: KVM_SET_TSC_KHZ (x86.c: kvm_arch_vcpu_ioctl KVM_SET_TSC_KHZ,
  // kvm_set_tsc_khz). 0 selects the default rate (KVM: the host's tsc_khz);
  // a rate KVM's largest scaling ratio could not reach (>= 0xffffffff kHz)
  // is -EINVAL. softkvm scales in software, so every other rate works.
  int set_khz(uint32_t khz);

  // The counter (before the IA32_TSC offset) at Clock time `ns`, and now.
  uint64_t ticks_at(uint64_t ns) const;
  uint64_t now() const { return ticks_at(clock_.now_ns()); }
  // The Clock time when the counter reaches `ticks` (rounded up, so the
  // counter is >= ticks at that time); a past value gives a past time.
  uint64_t ns_at(uint64_t ticks) const;
  const base::Clock& clock() const { return clock_; }

 private:
  const base::Clock& clock_;
  uint32_t khz_;
  uint64_t base_ns_;     // Clock time of the last rate change
  uint64_t base_ticks_;  // the counter at base_ns_
};

// CPUID leaves for a TSC at `khz` (SDM Vol. 2A, CPUID leaf 15H and 16H):
// 0x15: EAX/EBX = the TSC / crystal ratio (reduced), ECX = crystal Hz;
// 0x16: EAX = base MHz, EBX = maximum MHz, ECX = bus (reference) MHz.
kvm_cpuid_entry2 tsc_leaf_15(uint32_t khz);
kvm_cpuid_entry2 tsc_leaf_16(uint32_t khz);

// SDM Vol. 4, Table 2-2: IA32_TSC_DEADLINE.
inline constexpr uint32_t kMsrTscDeadline = 0x6e0;
// CPUID.1:ECX.TSC_DEADLINE[24].
inline constexpr uint32_t kCpuid1EcxTscDeadline = 1u << 24;
bool guest_has_tsc_deadline(const CpuidTable& cpuid);
// The MSRs outside the engine that vcpu_timer_msrs.cpp implements, for
// KVM_GET_MSR_INDEX_LIST (x86.c: emulated_msrs).
std::span<const uint32_t> timer_msr_indices();

}  // namespace skvm::kvm
