#include "kvm/tsc.h"

#include <cerrno>
#include <numeric>

#include "kvm/kvmclock.h"

namespace skvm::kvm {

namespace {

constexpr uint64_t kNsPerMs = 1'000'000;

}  // namespace

GuestTsc::GuestTsc(const base::Clock& clock, uint32_t khz)
    : clock_(clock), khz_(khz), base_ns_(0), base_ticks_(0) {}

// x86.c: KVM_SET_TSC_KHZ: `user_tsc_khz >= kvm_caps.max_guest_tsc_khz` is
// EINVAL (with TSC scaling, max_guest_tsc_khz <= 0xffffffff); 0 means the
// default rate.
int GuestTsc::set_khz(uint32_t khz) {
  if (khz == 0xffffffffu) return -EINVAL;
  if (khz == 0) khz = kDefaultTscKhz;
  const uint64_t now_ns = clock_.now_ns();
  base_ticks_ = ticks_at(now_ns);
  base_ns_ = now_ns;
  khz_ = khz;
  return 0;
}

uint64_t GuestTsc::ticks_at(uint64_t ns) const {
  if (ns < base_ns_) return base_ticks_ - base::ns_to_ticks(base_ns_ - ns, khz_);
  return base_ticks_ + base::ns_to_ticks(ns - base_ns_, khz_);
}

uint64_t GuestTsc::ns_at(uint64_t ticks) const {
  if (ticks <= base_ticks_) {
    const unsigned __int128 back = static_cast<unsigned __int128>(base_ticks_ - ticks) * kNsPerMs / khz_;
    return back >= base_ns_ ? 0 : base_ns_ - static_cast<uint64_t>(back);
  }
  const unsigned __int128 fwd =
      (static_cast<unsigned __int128>(ticks - base_ticks_) * kNsPerMs + khz_ - 1) / khz_;
  const unsigned __int128 t = fwd + base_ns_;
  return t > UINT64_MAX ? UINT64_MAX : static_cast<uint64_t>(t);
}

// TSC Hz = crystal Hz * EBX / EAX, i.e. khz * 1000 = 10^9 * EBX / EAX:
// EBX / EAX = khz / 10^6, reduced.
kvm_cpuid_entry2 tsc_leaf_15(uint32_t khz) {
  constexpr uint32_t kCrystalKhz = kCrystalHz / 1000;
  const uint32_t g = std::gcd(khz, kCrystalKhz);
  kvm_cpuid_entry2 e{};
  e.function = 0x15;
  e.eax = kCrystalKhz / g;
  e.ebx = khz / g;
  e.ecx = kCrystalHz;
  return e;
}

kvm_cpuid_entry2 tsc_leaf_16(uint32_t khz) {
  kvm_cpuid_entry2 e{};
  e.function = 0x16;
  e.eax = (khz / 1000) & 0xffff;  // base MHz (bits 15:0)
  e.ebx = (khz / 1000) & 0xffff;  // maximum MHz: no turbo
  e.ecx = kCrystalHz / 1'000'000;  // bus (reference) MHz: the crystal
  return e;
}

bool guest_has_tsc_deadline(const CpuidTable& cpuid) {
  uint32_t r[4];
  cpuid.lookup(0, 0, r);
  if (r[0] < 1) return false;
  cpuid.lookup(1, 0, r);
  return (r[2] & kCpuid1EcxTscDeadline) != 0;
}

std::span<const uint32_t> timer_msr_indices() {
  static constexpr uint32_t kIndices[] = {kMsrTscDeadline, kMsrKvmWallClockNew, kMsrKvmSystemTimeNew};
  return kIndices;
}

}  // namespace skvm::kvm
