// api.rst: KVM_GET_XSAVE, KVM_SET_XSAVE, KVM_GET_XSAVE2, KVM_GET_XCRS,
// KVM_SET_XCRS. Kernel sources: arch/x86/kvm/x86.c, arch/x86/kernel/fpu/
// core.c and xstate.c (Linux 6.1); behaviour checked on the host /dev/kvm
// (tests/unit/kvm/xsave_test.cpp, tests/abi).
#include "kvm/xsave.h"

#include <cerrno>
#include <cstring>

#include "cpu/exec/sse_xsave.h"

namespace skvm::kvm {
namespace {

constexpr unsigned kHdr = cpu::sse::kXsaveHeaderOffset;
constexpr unsigned kMxcsr = 24, kMxcsrMask = 28, kSwReserved = 464;

}  // namespace

uint64_t guest_supported_xcr0(const std::vector<kvm_cpuid_entry2>& cpuid) {
  for (const kvm_cpuid_entry2& e : cpuid)
    if (e.function == 0xd && e.index == 0) return ((uint64_t{e.edx} << 32) | e.eax) & kSupportedXcr0;
  return 0;
}

uint64_t user_xfeatures(const std::vector<kvm_cpuid_entry2>& cpuid) {
  return cpuid.empty() ? kSupportedXcr0 : guest_supported_xcr0(cpuid);
}

// DEVIATION: the host's fpstate keeps XSTATE_BV from its last XSAVES, so
// after KVM_SET_FPU on a fresh vCPU its KVM_GET_XSAVE still reports the
// initial x87/SSE state; here XSTATE_BV follows the state itself.
void get_xsave(const cpu::CpuState& s, uint64_t user_xf, uint8_t* region, unsigned size) {
  std::memset(region, 0, size);
  const uint64_t bv = cpu::sse::xinuse(s) & user_xf;
  // Components not in use are copied from the initial state (init_fpstate).
  cpu::CpuState view = s;
  cpu::sse::init_components(view, ~bv & cpu::sse::kXfeaturesSupported);
  cpu::sse::fxsave_image(view, region, true, true);
  const uint32_t mask = 0xffff;
  std::memcpy(region + kMxcsrMask, &mask, 4);
  // xstate.c: xstate_fx_sw_bytes[USER_XSTATE_XCR0_WORD] = the user xfeatures
  // mask (update_regset_xstate_info); the other software bytes are 0.
  const uint64_t max_features = kSupportedXcr0;
  std::memcpy(region + kSwReserved, &max_features, 8);
  std::memcpy(region + kHdr, &bv, 8);
}

int set_xsave(cpu::CpuState& s, uint64_t user_xf, const uint8_t* r) {
  // Every offset read below is < 576, inside the caller's 4096 bytes.
  uint64_t bv, comp;
  std::memcpy(&bv, r + kHdr, 8);
  std::memcpy(&comp, r + kHdr + 8, 8);
  if (bv & ~kSupportedXcr0) return -EINVAL;  // fpu_copy_uabi_to_guest_fpstate
  if (bv & ~user_xf) return -EINVAL;         // validate_user_xstate_header
  if (comp != 0) return -EINVAL;
  for (unsigned k = kHdr + 16; k < kHdr + 64; ++k)
    if (r[k]) return -EINVAL;
  uint32_t mx;
  std::memcpy(&mx, r + kMxcsr, 4);
  if ((bv & cpu::sse::kXfeaturesSupported) && (mx & ~0xffffu)) return -EINVAL;
  // Components not named take their initial values; the named ones are
  // loaded (what KVM_GET_XSAVE and the next XRSTOR(S) then see).
  cpu::CpuState next = s;
  cpu::sse::init_components(next, ~bv & cpu::sse::kXfeaturesSupported);
  if (bv & cpu::sse::kXfeatureFp) {
    std::memcpy(next.fxsave.data(), r, kMxcsr);  // FCW..FDP
    std::memcpy(next.fxsave.data() + 32, r + 32, 128);  // ST0..ST7
  }
  if (bv & cpu::sse::kXfeatureSse) {
    std::memcpy(next.fxsave.data() + 160, r + 160, 256);  // XMM0..XMM15
    std::memcpy(next.fxsave.data() + kMxcsr, &mx, 4);
  }
  s.fxsave = next.fxsave;
  s.xinuse = bv;
  return 0;
}

void get_xcrs(const cpu::CpuState& s, kvm_xcrs* x) {
  std::memset(x, 0, sizeof *x);
  x->nr_xcrs = 1;
  x->xcrs[0].xcr = 0;  // XCR_XFEATURE_ENABLED_MASK
  x->xcrs[0].value = s.xcr0;
}

int set_xcrs(cpu::CpuState& s, uint64_t guest_supported, const kvm_xcrs& x) {
  if (x.nr_xcrs > KVM_MAX_XCRS || x.flags) return -EINVAL;
  for (uint32_t i = 0; i < x.nr_xcrs; ++i) {
    if (x.xcrs[i].xcr != 0) continue;  // only XCR0
    const uint64_t v = x.xcrs[i].value;
    // x86.c: __kvm_set_xcr.
    if (!(v & cpu::sse::kXfeatureFp)) return -EINVAL;
    if (v & ~(guest_supported | cpu::sse::kXfeatureFp)) return -EINVAL;
    s.xcr0 = v;
    return 0;
  }
  return 0;
}

}  // namespace skvm::kvm
