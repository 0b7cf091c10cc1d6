// SDM Vol. 2A CPUID, with KVM's semantics for the values it returns
// (arch/x86/kvm/cpuid.c: kvm_cpuid, get_out_of_range_cpuid_entry,
// kvm_update_cpuid_runtime).
#include "cpu/core.h"
#include "cpu/exec/engine_impl.h"

namespace skvm::cpu {
namespace {

// "AuthenticAMD" / "HygonGenuine" in EBX, EDX, ECX order.
bool is_amd_like(const uint32_t r[4]) {
  return (r[1] == 0x68747541 && r[3] == 0x69746e65 && r[2] == 0x444d4163) ||
         (r[1] == 0x6f677948 && r[3] == 0x6e65476e && r[2] == 0x656e6975);
}

// Size of the XSAVE area for the features enabled in `xcr0` (leaf 0xD).
uint32_t xsave_size(Bus& bus, uint64_t xcr0) {
  uint32_t size = 512 + 64;
  for (unsigned i = 2; i < 63; ++i) {
    if (!((xcr0 >> i) & 1)) continue;
    uint32_t r[4];
    bus.cpuid(0xd, i, r);
    if (r[0] + r[1] > size) size = r[0] + r[1];
  }
  return size;
}

}  // namespace

void do_cpuid(Cpu& cpu) {
  CpuState& s = cpu.state();
  Bus& bus = cpu.bus();
  uint32_t leaf = static_cast<uint32_t>(s.gpr[kRax]);
  const uint32_t subleaf = static_cast<uint32_t>(s.gpr[kRcx]);
  uint32_t basic[4];
  bus.cpuid(0, 0, basic);
  // Intel CPUs (and KVM for non-AMD vendors) answer a leaf above the maximum
  // of its class with the highest basic leaf, same subleaf.
  if (!is_amd_like(basic)) {
    uint32_t class_leaf;
    if (leaf >= 0x40000000u && leaf <= 0x4fffffffu) {
      class_leaf = leaf & 0xffffff00u;
    } else if (leaf >= 0xc0000000u) {
      class_leaf = 0xc0000000u;
    } else {
      class_leaf = leaf & 0x80000000u;
    }
    uint32_t cls[4];
    bus.cpuid(class_leaf, 0, cls);
    bool class_exists = class_leaf == 0 || cls[0] != 0;
    if (!class_exists || leaf > cls[0]) leaf = basic[0];
  }
  uint32_t r[4];
  bus.cpuid(leaf, subleaf, r);
  // Runtime bits KVM keeps in sync with the CPU state.
  if (leaf == 1) {
    r[2] = (r[2] & ~(1u << 27)) | ((s.cr4 & kCr4OSXSAVE) && (r[2] & (1u << 26)) ? 1u << 27 : 0);
    r[3] = (r[3] & ~(1u << 9)) | ((s.apic_base & (1u << 11)) ? 1u << 9 : 0);
  } else if (leaf == 0xd && (subleaf == 0 || subleaf == 1) && (r[0] | r[1] | r[2] | r[3]) != 0) {
    r[1] = xsave_size(bus, s.xcr0);
  }
  s.gpr[kRax] = r[0];
  s.gpr[kRbx] = r[1];
  s.gpr[kRcx] = r[2];
  s.gpr[kRdx] = r[3];
}

// The decoder's CPUID gates (isa/features.h). Records decoded under the old
// set would keep their old verdict: drop them. (KVM_SET_CPUID2 changes the
// table only before the first KVM_RUN, when nothing is decoded yet: api.rst,
// cpuid.c kvm_set_cpuid -EBUSY; tests may change it between runs.)
void Cpu::set_cpuid_features(uint64_t features) {
  if (features == cpuid_features_) return;
  cpuid_features_ = features;
  engine_->drop_decoded();
}

}  // namespace skvm::cpu
