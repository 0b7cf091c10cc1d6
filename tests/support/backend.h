// The two KVM backends every differential test runs on: `soft` (softkvm's C
// ABI, libsoftkvm.so) and `host` (the kernel's /dev/kvm, the oracle).
// Both are driven through the same three calls, so a test is written once.
#pragma once

#include <ostream>
#include <string>

namespace skvm::test {

struct Backend {
  const char* name;
  int (*open)(int flags);                                     // as open("/dev/kvm", flags)
  int (*ioctl)(int fd, unsigned long request, unsigned long arg);  // as ioctl(2)
  int (*close)(int fd);                                       // as close(2)
  // Async-signal-safe; a client's signal handler calls it so that a signal
  // ends the KVM_RUN in progress (-1/EINTR, KVM_EXIT_INTR). softkvm's C ABI
  // needs it (softkvm.h: skvm_signal_notify; the preload shim's wrapped
  // handlers do the same); the kernel sees signals itself: null for host.
  void (*signal_notify)();
};

extern const Backend kSoft;
extern const Backend kHost;

// Empty when the backend can open a system fd, create a VM and a vCPU;
// otherwise the printable reason it cannot (computed once per process).
const std::string& backend_unusable_reason(const Backend& backend);

// GoogleTest prints a parameter `const Backend*` by its name.
inline void PrintTo(const Backend* backend, std::ostream* os) { *os << backend->name; }

}  // namespace skvm::test

// When `backend` is unusable: the host backend skips the current test,
// printing why (a machine without a usable /dev/kvm); softkvm itself being
// unusable is a failure, never a skip.
#define SKVM_SKIP_IF_UNUSABLE(backend)                                        \
  do {                                                                        \
    const std::string& skvm_reason_ = ::skvm::test::backend_unusable_reason(backend); \
    if (!skvm_reason_.empty()) {                                              \
      if (&(backend) == &::skvm::test::kSoft)                                 \
        GTEST_FAIL() << "softkvm unusable: " << skvm_reason_;                 \
      GTEST_SKIP() << (backend).name << ": " << skvm_reason_;                 \
    }                                                                         \
  } while (0)
