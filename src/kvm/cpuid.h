// CPUID: what softkvm advertises (KVM_GET_SUPPORTED_CPUID) and the per-vCPU
// table set by KVM_SET_CPUID2 that the engine reads through Bus::cpuid.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <vector>

namespace skvm::kvm {

// api.rst: KVM_GET_SUPPORTED_CPUID. Exactly the features the engine
// implements in this slice (see cpuid.cpp for the list and why).
const std::vector<kvm_cpuid_entry2>& supported_cpuid();

class CpuidTable {
 public:
  const std::vector<kvm_cpuid_entry2>& entries() const { return entries_; }
  void set(std::vector<kvm_cpuid_entry2> entries) { entries_ = std::move(entries); }

  // cpuid.c: kvm_cpuid() — the guest-visible result of CPUID(leaf, subleaf),
  // including Intel's out-of-range rule (a leaf above the class maximum
  // returns the highest basic leaf) and all-zero for a missing leaf.
  void lookup(uint32_t leaf, uint32_t subleaf, uint32_t out[4]) const;

  // MAXPHYADDR seen by the guest (cpuid_maxphyaddr(): 0x80000008.EAX[7:0],
  // or 36 without that leaf).
  unsigned max_phys_addr_bits() const;
  // The instruction gates this table gives (isa/features.h), for
  // cpu::Cpu::set_cpuid_features.
  uint64_t features() const;

 private:
  // cpuid_entry2_find(): index matters only for KVM_CPUID_FLAG_SIGNIFCANT_INDEX
  // entries; any_index matches the first entry of the function.
  const kvm_cpuid_entry2* find(uint32_t function, uint32_t index, bool any_index) const;

  std::vector<kvm_cpuid_entry2> entries_;
};

}  // namespace skvm::kvm
