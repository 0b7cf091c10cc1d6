#include "backend.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "kvm_abi.h"
#include "softkvm/softkvm.h"

namespace skvm::test {
namespace {

int host_open(int flags) { return ::open("/dev/kvm", flags); }
int host_ioctl(int fd, unsigned long request, unsigned long arg) {
  return ::ioctl(fd, request, arg);
}
int host_close(int fd) { return ::close(fd); }

// libsoftkvm.so is loaded at run time (dlopen, RTLD_NOW) rather than linked,
// so that a library that cannot load is reported as such (every `soft` case
// then fails with the loader's message) while the `host` half still runs.
struct SoftLibrary {
  decltype(&skvm_open) open = nullptr;
  decltype(&skvm_ioctl) ioctl = nullptr;
  decltype(&skvm_close) close = nullptr;
  decltype(&skvm_signal_notify) signal_notify = nullptr;
  std::string error;
};

const SoftLibrary& soft_library() {
  static const SoftLibrary lib = [] {
    SoftLibrary l;
    void* h = dlopen(SKVM_LIBSOFTKVM_PATH, RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) {
      const char* e = dlerror();
      l.error = std::string("cannot load " SKVM_LIBSOFTKVM_PATH ": ") + (e ? e : "?");
      return l;
    }
    // SAFETY: the symbols are the C ABI of include/softkvm/softkvm.h; their
    // types are taken from the declarations in that header.
    l.open = reinterpret_cast<decltype(&skvm_open)>(dlsym(h, "skvm_open"));
    l.ioctl = reinterpret_cast<decltype(&skvm_ioctl)>(dlsym(h, "skvm_ioctl"));
    l.close = reinterpret_cast<decltype(&skvm_close)>(dlsym(h, "skvm_close"));
    l.signal_notify =
        reinterpret_cast<decltype(&skvm_signal_notify)>(dlsym(h, "skvm_signal_notify"));
    if (!l.open || !l.ioctl || !l.close) {
      l.error = "libsoftkvm.so does not export skvm_open/skvm_ioctl/skvm_close";
    }
    return l;
  }();
  return lib;
}

int soft_open(int flags) { return soft_library().open(flags); }
int soft_ioctl(int fd, unsigned long request, unsigned long arg) {
  return soft_library().ioctl(fd, request, arg);
}
int soft_close(int fd) { return soft_library().close(fd); }
// Called from signal handlers: soft_library() was initialized by the probe
// that every test runs first, so this only reads it.
void soft_signal_notify() {
  if (auto notify = soft_library().signal_notify) notify();
}

std::string errno_text(const char* what) {
  return std::string(what) + " failed: " + std::strerror(errno);
}

std::string probe(const Backend& b) {
  if (&b == &kSoft && !soft_library().error.empty()) return soft_library().error;
  int sys = b.open(O_RDWR | O_CLOEXEC);
  if (sys < 0) return errno_text(&b == &kHost ? "open(/dev/kvm)" : "skvm_open");
  std::string reason;
  int version = b.ioctl(sys, KVM_GET_API_VERSION, 0);
  int vm = -1;
  int vcpu = -1;
  if (version != KVM_API_VERSION) {
    reason = "KVM_GET_API_VERSION returned " + std::to_string(version);
  } else if ((vm = b.ioctl(sys, KVM_CREATE_VM, 0)) < 0) {
    reason = errno_text("KVM_CREATE_VM");
  } else if ((vcpu = b.ioctl(vm, KVM_CREATE_VCPU, 0)) < 0) {
    reason = errno_text("KVM_CREATE_VCPU");
  }
  if (vcpu >= 0) b.close(vcpu);
  if (vm >= 0) b.close(vm);
  b.close(sys);
  return reason;
}

}  // namespace

const Backend kSoft = {"soft", soft_open, soft_ioctl, soft_close, soft_signal_notify};
const Backend kHost = {"host", host_open, host_ioctl, host_close, nullptr};

const std::string& backend_unusable_reason(const Backend& backend) {
  static const std::string soft = probe(kSoft);
  static const std::string host = probe(kHost);
  return &backend == &kSoft ? soft : host;
}

}  // namespace skvm::test
