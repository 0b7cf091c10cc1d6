// libsoftkvm-preload.so: runs an unmodified KVM client on softkvm.
//
// Interposed (and exported, preload.map):
//   open/open64/openat/openat64 and the _FORTIFY_SOURCE entry points
//   __open_2/__open64_2/__openat_2/__openat64_2: the exact path "/dev/kvm"
//     (relative paths are not resolved) -> skvm_open(flags), whether or not
//     the host has a /dev/kvm;
//   ioctl: a KVM request (_IOC_TYPE == KVMIO) on a softkvm handle ->
//     skvm_ioctl; close: on a softkvm handle (skvm_is_handle) -> skvm_close;
//   sigaction, signal: every handler the client installs is wrapped so that a
//     signal first calls skvm_signal_notify() (the KVM_RUN in progress on the
//     thread returns -1/EINTR, as with real KVM) and then the client's handler.
// Everything else goes to the next definition (dlsym(RTLD_NEXT)). Calls made
// from inside this library (softkvm's own close of its memfds, its own
// SIGSEGV handler, ...) always pass through: they are recognised by their
// return address lying in this library's mapping.
#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdint>
#include <cstring>
#include <mutex>

#include "softkvm/softkvm.h"

// glibc's fortify entry points are declared only under _FORTIFY_SOURCE.
extern "C" int __open_2(const char* path, int flags);
extern "C" int __open64_2(const char* path, int flags);
extern "C" int __openat_2(int dirfd, const char* path, int flags);
extern "C" int __openat64_2(int dirfd, const char* path, int flags);

namespace {

constexpr const char kKvmPath[] = "/dev/kvm";

// ---- the next definition of each interposed function ----------------------

template <typename Fn>
class Next {
 public:
  explicit constexpr Next(const char* name) : name_(name) {}
  // Resolved on first use; concurrent first uses store the same value.
  Fn get() {
    void* p = ptr_.load(std::memory_order_acquire);
    if (!p) {
      p = dlsym(RTLD_NEXT, name_);
      ptr_.store(p, std::memory_order_release);
    }
    // SAFETY: dlsym returns the libc function of this exact name and type.
    return reinterpret_cast<Fn>(p);
  }

 private:
  const char* name_;
  std::atomic<void*> ptr_{nullptr};
};

using OpenFn = int (*)(const char*, int, ...);
using OpenatFn = int (*)(int, const char*, int, ...);
using Open2Fn = int (*)(const char*, int);
using Openat2Fn = int (*)(int, const char*, int);
using IoctlFn = int (*)(int, unsigned long, ...);
using CloseFn = int (*)(int);
using SigactionFn = int (*)(int, const struct sigaction*, struct sigaction*);
using SignalFn = sighandler_t (*)(int, sighandler_t);

Next<OpenFn> g_open("open");
Next<OpenFn> g_open64("open64");
Next<OpenatFn> g_openat("openat");
Next<OpenatFn> g_openat64("openat64");
Next<Open2Fn> g_open_2("__open_2");
Next<Open2Fn> g_open64_2("__open64_2");
Next<Openat2Fn> g_openat_2("__openat_2");
Next<Openat2Fn> g_openat64_2("__openat64_2");
Next<IoctlFn> g_ioctl("ioctl");
Next<CloseFn> g_close("close");
Next<SigactionFn> g_sigaction("sigaction");
Next<SignalFn> g_signal("signal");

int no_next() {
  errno = ENOSYS;
  return -1;
}

// ---- calls from inside this library ---------------------------------------

uintptr_t g_self_lo = 0;
uintptr_t g_self_hi = 0;
pthread_once_t g_self_once = PTHREAD_ONCE_INIT;

int find_self(struct dl_phdr_info* info, size_t, void* anchor) {
  const auto a = reinterpret_cast<uintptr_t>(anchor);
  uintptr_t lo = UINTPTR_MAX;
  uintptr_t hi = 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD) continue;
    const uintptr_t start = info->dlpi_addr + ph.p_vaddr;
    lo = start < lo ? start : lo;
    hi = start + ph.p_memsz > hi ? start + ph.p_memsz : hi;
  }
  if (a < lo || a >= hi) return 0;
  g_self_lo = lo;
  g_self_hi = hi;
  return 1;
}

void init_self() {
  // SAFETY: the address of a function of this library identifies its object.
  dl_iterate_phdr(find_self, reinterpret_cast<void*>(&init_self));
}

bool from_inside(const void* return_address) {
  pthread_once(&g_self_once, init_self);
  const auto a = reinterpret_cast<uintptr_t>(return_address);
  return a >= g_self_lo && a < g_self_hi;
}

#define SKVM_CALLER __builtin_extract_return_addr(__builtin_return_address(0))

bool is_kvm_path(const char* path) { return path && std::strcmp(path, kKvmPath) == 0; }

int soft_open(int flags) { return skvm_open(flags); }

bool is_soft_handle(int fd) { return skvm_is_handle(fd) != 0; }

bool takes_mode(int flags) { return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE; }

// ---- signal handler wrapping ----------------------------------------------

// Per signal: the client's handler behind the wrapper, packed into one word so
// the wrapper reads a consistent pair: bits 0..62 the handler address (user
// space addresses are below 2^47), bit 63 = the client asked for SA_SIGINFO.
constexpr uint64_t kSiginfoBit = 1ull << 63;
std::atomic<uint64_t> g_client_handler[_NSIG];
std::mutex g_sigaction_mutex;

void signal_wrapper(int sig, siginfo_t* info, void* context) {
  const int saved_errno = errno;
  // The client's SIGSEGV/SIGBUS handler replaced softkvm's in the kernel:
  // a fault on guest memory during KVM_RUN is still softkvm's (KVM_RUN
  // returns EFAULT; no return from here), everything else is the client's.
  if (sig == SIGSEGV || sig == SIGBUS) skvm_handle_fault(sig, info, context);
  skvm_signal_notify();
  errno = saved_errno;
  const uint64_t packed = g_client_handler[sig].load(std::memory_order_acquire);
  const uintptr_t handler = static_cast<uintptr_t>(packed & ~kSiginfoBit);
  if (handler == 0) return;
  if (packed & kSiginfoBit) {
    // SAFETY: installed by the client as sa_sigaction with SA_SIGINFO.
    reinterpret_cast<void (*)(int, siginfo_t*, void*)>(handler)(sig, info, context);
  } else {
    // SAFETY: installed by the client as sa_handler without SA_SIGINFO.
    reinterpret_cast<void (*)(int)>(handler)(sig);
  }
}

bool is_wrapper(const struct sigaction& sa) {
  return (sa.sa_flags & SA_SIGINFO) && sa.sa_sigaction == signal_wrapper;
}

bool wants_wrapping(int sig, const struct sigaction* act) {
  if (!act || sig == SIGKILL || sig == SIGSTOP) return false;
  // sa_handler and sa_sigaction share one word; the kernel honours SIG_DFL
  // and SIG_IGN in it whether or not SA_SIGINFO is set.
  return act->sa_handler != SIG_DFL && act->sa_handler != SIG_IGN;
}

int real_sigaction(int sig, const struct sigaction* act, struct sigaction* old) {
  SigactionFn f = g_sigaction.get();
  return f ? f(sig, act, old) : no_next();
}

int wrapped_sigaction(int sig, const struct sigaction* act, struct sigaction* oldact) {
  if (sig <= 0 || sig >= _NSIG) return real_sigaction(sig, act, oldact);
  std::lock_guard<std::mutex> lock(g_sigaction_mutex);
  const uint64_t previous = g_client_handler[sig].load(std::memory_order_relaxed);
  struct sigaction kernel_old;
  std::memset(&kernel_old, 0, sizeof kernel_old);
  int r;
  if (wants_wrapping(sig, act)) {
    struct sigaction wrapped = *act;
    wrapped.sa_flags |= SA_SIGINFO;
    wrapped.sa_sigaction = signal_wrapper;
    const uintptr_t handler = (act->sa_flags & SA_SIGINFO)
                                  ? reinterpret_cast<uintptr_t>(act->sa_sigaction)
                                  : reinterpret_cast<uintptr_t>(act->sa_handler);
    g_client_handler[sig].store(handler | ((act->sa_flags & SA_SIGINFO) ? kSiginfoBit : 0),
                                std::memory_order_release);
    r = real_sigaction(sig, &wrapped, &kernel_old);
    if (r != 0) g_client_handler[sig].store(previous, std::memory_order_release);
  } else {
    r = real_sigaction(sig, act, &kernel_old);
    // SIG_DFL / SIG_IGN replace the wrapper; the stale entry is never read.
  }
  if (r == 0 && oldact) {
    *oldact = kernel_old;
    if (is_wrapper(kernel_old)) {
      // Report what the client installed, not the wrapper.
      const uintptr_t handler = static_cast<uintptr_t>(previous & ~kSiginfoBit);
      if (previous & kSiginfoBit) {
        // SAFETY: the stored handler was an sa_sigaction.
        oldact->sa_sigaction = reinterpret_cast<void (*)(int, siginfo_t*, void*)>(handler);
      } else {
        oldact->sa_flags &= ~SA_SIGINFO;
        // SAFETY: the stored handler was an sa_handler.
        oldact->sa_handler = reinterpret_cast<sighandler_t>(handler);
      }
    }
  }
  return r;
}

}  // namespace

// ---- the interposed functions ----------------------------------------------

extern "C" {

__attribute__((visibility("default"))) int open(const char* path, int flags, ...) {
  mode_t mode = 0;
  if (takes_mode(flags)) {
    va_list ap;
    va_start(ap, flags);
    mode = va_arg(ap, mode_t);
    va_end(ap);
  }
  if (is_kvm_path(path) && !from_inside(SKVM_CALLER)) return soft_open(flags);
  OpenFn f = g_open.get();
  return f ? f(path, flags, mode) : no_next();
}

__attribute__((visibility("default"))) int open64(const char* path, int flags, ...) {
  mode_t mode = 0;
  if (takes_mode(flags)) {
    va_list ap;
    va_start(ap, flags);
    mode = va_arg(ap, mode_t);
    va_end(ap);
  }
  if (is_kvm_path(path) && !from_inside(SKVM_CALLER)) return soft_open(flags);
  OpenFn f = g_open64.get();
  return f ? f(path, flags, mode) : no_next();
}

__attribute__((visibility("default"))) int openat(int dirfd, const char* path, int flags, ...) {
  mode_t mode = 0;
  if (takes_mode(flags)) {
    va_list ap;
    va_start(ap, flags);
    mode = va_arg(ap, mode_t);
    va_end(ap);
  }
  // An absolute path ignores dirfd (openat(2)), so AT_FDCWD and any other
  // directory fd name the same /dev/kvm.
  if (is_kvm_path(path) && !from_inside(SKVM_CALLER)) return soft_open(flags);
  OpenatFn f = g_openat.get();
  return f ? f(dirfd, path, flags, mode) : no_next();
}

__attribute__((visibility("default"))) int openat64(int dirfd, const char* path, int flags, ...) {
  mode_t mode = 0;
  if (takes_mode(flags)) {
    va_list ap;
    va_start(ap, flags);
    mode = va_arg(ap, mode_t);
    va_end(ap);
  }
  if (is_kvm_path(path) && !from_inside(SKVM_CALLER)) return soft_open(flags);
  OpenatFn f = g_openat64.get();
  return f ? f(dirfd, path, flags, mode) : no_next();
}

__attribute__((visibility("default"))) int __open_2(const char* path, int flags) {
  if (is_kvm_path(path) && !from_inside(SKVM_CALLER)) return soft_open(flags);
  Open2Fn f = g_open_2.get();
  return f ? f(path, flags) : no_next();
}

__attribute__((visibility("default"))) int __open64_2(const char* path, int flags) {
  if (is_kvm_path(path) && !from_inside(SKVM_CALLER)) return soft_open(flags);
  Open2Fn f = g_open64_2.get();
  return f ? f(path, flags) : no_next();
}

__attribute__((visibility("default"))) int __openat_2(int dirfd, const char* path, int flags) {
  if (is_kvm_path(path) && !from_inside(SKVM_CALLER)) return soft_open(flags);
  Openat2Fn f = g_openat_2.get();
  return f ? f(dirfd, path, flags) : no_next();
}

__attribute__((visibility("default"))) int __openat64_2(int dirfd, const char* path, int flags) {
  if (is_kvm_path(path) && !from_inside(SKVM_CALLER)) return soft_open(flags);
  Openat2Fn f = g_openat64_2.get();
  return f ? f(dirfd, path, flags) : no_next();
}

__attribute__((visibility("default"))) int ioctl(int fd, unsigned long request, ...) noexcept {
  va_list ap;
  va_start(ap, request);
  // Every KVM ioctl takes an integer or a pointer: one machine word.
  const unsigned long arg = va_arg(ap, unsigned long);
  va_end(ap);
  // Only KVM requests (type KVMIO) go to softkvm. Generic ones (FIOCLEX,
  // FIONBIO, ...) reach the handle's memfd, which answers them as the VFS
  // answers them for a real /dev/kvm fd.
  if (_IOC_TYPE(request) == KVMIO && !from_inside(SKVM_CALLER)) {
    // Tried first, without the skvm_is_handle() check (an fstat), on the hot
    // KVM_RUN path: skvm_ioctl() fails with EBADF for a fd it does not know,
    // and only then is the fd checked and passed on.
    const int r = skvm_ioctl(fd, request, arg);
    if (r != -1 || errno != EBADF || is_soft_handle(fd)) return r;
  }
  IoctlFn f = g_ioctl.get();
  return f ? f(fd, request, arg) : no_next();
}

__attribute__((visibility("default"))) int close(int fd) {
  if (!from_inside(SKVM_CALLER) && is_soft_handle(fd)) return skvm_close(fd);
  CloseFn f = g_close.get();
  return f ? f(fd) : no_next();
}

__attribute__((visibility("default"))) int sigaction(int sig, const struct sigaction* act,
                                                     struct sigaction* oldact) noexcept {
  if (from_inside(SKVM_CALLER)) return real_sigaction(sig, act, oldact);
  return wrapped_sigaction(sig, act, oldact);
}

__attribute__((visibility("default"))) sighandler_t signal(int sig, sighandler_t handler) noexcept {
  if (from_inside(SKVM_CALLER)) {
    SignalFn f = g_signal.get();
    if (!f) {
      errno = ENOSYS;
      return SIG_ERR;
    }
    return f(sig, handler);
  }
  // glibc's signal(): BSD semantics (SA_RESTART, the signal blocked while
  // its handler runs).
  struct sigaction act;
  std::memset(&act, 0, sizeof act);
  act.sa_handler = handler;
  sigemptyset(&act.sa_mask);
  if (sig > 0 && sig < _NSIG) sigaddset(&act.sa_mask, sig);
  act.sa_flags = SA_RESTART;
  struct sigaction old;
  if (wrapped_sigaction(sig, &act, &old) != 0) return SIG_ERR;
  // As glibc's signal(): the handler word of the old action (sa_handler and
  // sa_sigaction share it).
  return old.sa_handler;
}

}  // extern "C"
