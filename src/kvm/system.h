// The KVM system object (/dev/kvm): capabilities, the MSR lists and the
// supported CPUID. One per process; every system fd refers to it.
#pragma once

#include <cstdint>
#include <vector>

#include "base/clock.h"

namespace skvm::kvm {

class System {
 public:
  explicit System(const base::Clock& clock);

  // api.rst: KVM_CHECK_EXTENSION (same answer on system and VM fds).
  long check_extension(long cap) const;

  // api.rst: KVM_GET_MSR_INDEX_LIST: the MSRs the engine implements
  // (cpu::supported_msrs()) whose value a client can read and write back.
  const std::vector<uint32_t>& msr_index_list() const { return msrs_; }
  // api.rst: KVM_GET_MSR_FEATURE_INDEX_LIST / KVM_GET_MSRS on the system fd:
  // softkvm exposes no feature MSRs (an empty list; every read fails).
  const std::vector<uint32_t>& feature_msr_index_list() const { return feature_msrs_; }
  bool get_feature_msr(uint32_t index, uint64_t* value) const;

  const base::Clock& clock() const { return clock_; }

  static System& instance();

 private:
  const base::Clock& clock_;
  std::vector<uint32_t> msrs_;
  std::vector<uint32_t> feature_msrs_;
};

}  // namespace skvm::kvm
