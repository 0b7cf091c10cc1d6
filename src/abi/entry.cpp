// The public C ABI (include/softkvm/softkvm.h) and the fd-level rules.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "abi/ioctl.h"
#include "base/fault.h"
#include "base/fd.h"
#include "base/kick.h"
#include "base/process.h"
#include "kvm/system.h"
#include "kvm/vcpu.h"
#include "softkvm/softkvm.h"

namespace skvm::abi {

int install_new(FdTable& table, const char* name, std::shared_ptr<Handle> h, int memfd) {
  int fd = memfd >= 0 ? memfd : base::make_memfd(name, 0);
  if (fd < 0) return fd;
  h->owner = base::self_pid();
  int r = base::file_id(fd, &h->file);
  if (r == 0) r = table.install(fd, std::move(h));
  if (r < 0) {
    ::close(fd);
    return r;
  }
  return fd;
}

int open_system(FdTable& table, int flags) {
  auto h = std::make_shared<Handle>();
  h->kind = Kind::kSystem;
  h->system = &kvm::System::instance();
  int fd = install_new(table, "kvm", std::move(h));
  if (fd >= 0 && !(flags & O_CLOEXEC)) fcntl(fd, F_SETFD, 0);  // memfds start O_CLOEXEC
  return fd;
}

namespace {

// The entry for fd if it is still the file we created (fstat identity);
// otherwise *err is -EBADF (closed fd) or -ENOTTY (some other file) and a
// stale entry is dropped.
std::shared_ptr<Handle> checked(FdTable& table, int fd, int* err) {
  std::shared_ptr<Handle> h = table.get(fd);
  base::FileId id;
  int r = base::file_id(fd, &id);
  if (r < 0 || h == nullptr || !(h->file == id)) {
    if (h != nullptr) table.remove_if(fd, h);
    *err = r < 0 ? r : -ENOTTY;
    return nullptr;
  }
  return h;
}

int dispatch(FdTable& table, Handle& h, unsigned long request, unsigned long arg) {
  // kvm_main.c: kvm_vm_ioctl / kvm_vcpu_ioctl: kvm->mm != current->mm -> EIO
  // (a fork() child using its parent's VM).
  if (h.kind != Kind::kSystem && h.owner != base::self_pid()) return -EIO;
  switch (h.kind) {
    case Kind::kSystem:
      return system_ioctl(table, h, request, arg);
    case Kind::kVm:
      return vm_ioctl(table, h, request, arg);
    case Kind::kVcpu:
      return vcpu_ioctl(h, request, arg);
  }
  return -ENOTTY;
}

}  // namespace

int ioctl(FdTable& table, int fd, unsigned long request, unsigned long arg) {
  if (request == KVM_RUN && arg == 0) {
    // Hot path: no fstat. DEVIATION: a vCPU fd closed with plain close(2)
    // (not skvm_close) whose number was reused still runs its vCPU here;
    // every other ioctl detects the reuse.
    std::shared_ptr<Handle> h = table.get(fd);
    if (h != nullptr && h->kind == Kind::kVcpu && h->owner == base::self_pid()) {
      base::MutexLock lock(h->vcpu->mutex());
      return h->vcpu->run();
    }
  }
  int err = 0;
  std::shared_ptr<Handle> h = checked(table, fd, &err);
  if (h == nullptr) return err;
  return dispatch(table, *h, request, arg);
}

int close(FdTable& table, int fd) {
  std::shared_ptr<Handle> h = table.remove(fd);
  // As close(2): the fd is closed whatever it was; the objects go when the
  // last handle (and ioctl in flight) releases them.
  if (::close(fd) != 0) return -errno;
  return 0;
}

bool is_handle(FdTable& table, int fd) {
  int err = 0;
  return checked(table, fd, &err) != nullptr;
}

}  // namespace skvm::abi

extern "C" {

int skvm_open(int flags) {
  int r = skvm::abi::open_system(skvm::abi::FdTable::global(), flags);
  if (r < 0) {
    errno = -r;
    return -1;
  }
  return r;
}

int skvm_ioctl(int fd, unsigned long request, unsigned long arg) {
  int r = skvm::abi::ioctl(skvm::abi::FdTable::global(), fd, request, arg);
  if (r < 0) {
    errno = -r;
    return -1;
  }
  return r;
}

int skvm_close(int fd) {
  int r = skvm::abi::close(skvm::abi::FdTable::global(), fd);
  if (r < 0) {
    errno = -r;
    return -1;
  }
  return 0;
}

int skvm_is_handle(int fd) { return skvm::abi::is_handle(skvm::abi::FdTable::global(), fd) ? 1 : 0; }

void skvm_signal_notify(void) { skvm::base::raise_thread_kick(); }

int skvm_handle_fault(int sig, void* info, void* ucontext) {
  // SAFETY: the contract of skvm_handle_fault: the arguments of an
  // SA_SIGINFO handler, forwarded unchanged.
  return skvm::base::claim_fault(sig, static_cast<siginfo_t*>(info), ucontext) ? 1 : 0;
}

}  // extern "C"
