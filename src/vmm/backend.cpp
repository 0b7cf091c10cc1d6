#include "vmm/backend.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "softkvm/softkvm.h"

namespace skvm::vmm {
namespace {

int host_open(int flags) { return ::open("/dev/kvm", flags); }
int host_ioctl(int fd, unsigned long request, unsigned long arg) {
  return ::ioctl(fd, request, arg);
}
int host_close(int fd) { return ::close(fd); }

int soft_open(int flags) { return skvm_open(flags); }
int soft_ioctl(int fd, unsigned long request, unsigned long arg) {
  return skvm_ioctl(fd, request, arg);
}
int soft_close(int fd) { return skvm_close(fd); }
void host_signal_notify() {}

const KvmBackend kHost{"host", host_open, host_ioctl, host_close, host_signal_notify};
const KvmBackend kSoft{"soft", soft_open, soft_ioctl, soft_close, skvm_signal_notify};

}  // namespace

const KvmBackend& host_backend() { return kHost; }
const KvmBackend& soft_backend() { return kSoft; }

const KvmBackend* find_backend(const std::string& name) {
  if (name == "soft") return &kSoft;
  if (name == "host") return &kHost;
  return nullptr;
}

const char* soft_library_version() { return skvm_version(); }

}  // namespace skvm::vmm
