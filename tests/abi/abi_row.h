// One row of the ABI table: on which fd kind, which request, which argument
// (built in the case's context), the expected return and errno, and
// optional setup before / checks after the call. Every row runs on both
// backends with the same literal expectation (STYLE.md rule 4: it must hold
// on the host's /dev/kvm too).
#pragma once

#include <functional>
#include <vector>

#include "abi_context.h"

namespace skvm::test {

enum class FdKind {
  kSystem,  // the fd open("/dev/kvm") / skvm_open returned
  kVm,      // KVM_CREATE_VM
  kVcpu,    // KVM_CREATE_VCPU (id 0)
  kClosed,  // a system fd already closed
  kPipe,    // the read end of a pipe: not a KVM fd at all
};

inline constexpr int kAnyFd = -1000;       // expected return: any fd >= 0
inline constexpr int kNonNegative = -1001;  // expected return: any value >= 0

struct AbiRow {
  const char* name;  // [A-Za-z0-9_]: the test name
  FdKind fd;
  unsigned long request;
  std::function<unsigned long(AbiContext&)> arg;  // null: 0
  int ret;    // expected return (-1, a literal, kAnyFd or kNonNegative)
  int err;    // expected errno when ret == -1
  std::function<void(AbiContext&, Verdict&, int ret)> check = nullptr;
  std::function<void(AbiContext&)> setup = nullptr;
  // A capability the row's ioctl is documented under (api.rst
  // "Capability:"): when the backend's KVM_CHECK_EXTENSION answers 0 the row
  // is skipped with that reason, as KVM selftests do. -1: base API.
  int cap = -1;
};

std::vector<AbiRow> system_rows();
std::vector<AbiRow> vm_rows();
std::vector<AbiRow> memslot_rows();
std::vector<AbiRow> vcpu_rows();
std::vector<AbiRow> device_rows();

}  // namespace skvm::test
