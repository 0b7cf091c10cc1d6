// KVM_GET_MSRS / KVM_SET_MSRS argument handling (x86.c: msr_io, __msr_io).
#pragma once

#include <linux/kvm.h>

#include <array>
#include <cerrno>
#include <cstddef>

#include "abi/kvm_abi.h"
#include "abi/user_args.h"
#include "kvm/limits.h"

namespace skvm::abi {

// Returns the number of MSRs processed (stops at the first one `op` refuses),
// -E2BIG for nmsrs >= MAX_IO_MSRS, -EFAULT for bad memory. `writeback`
// copies the entries back (GET).
template <typename Op>
int msr_io(unsigned long arg, bool writeback, Op op) {
  uint32_t nmsrs = 0;  // kvm_msrs.nmsrs (C layout: see kvm_abi.h)
  if (!read_arg(arg, &nmsrs)) return -EFAULT;
  if (nmsrs >= kvm::kMaxIoMsrs) return -E2BIG;
  std::array<kvm_msr_entry, kvm::kMaxIoMsrs> entries;
  const size_t bytes = nmsrs * sizeof(kvm_msr_entry);
  if (!read_bytes(arg, kMsrsHeader, entries.data(), bytes)) return -EFAULT;
  uint32_t i = 0;
  for (; i < nmsrs; ++i)
    if (!op(entries[i])) break;
  if (writeback && !write_bytes(arg, kMsrsHeader, entries.data(), bytes)) return -EFAULT;
  return static_cast<int>(i);
}

}  // namespace skvm::abi
