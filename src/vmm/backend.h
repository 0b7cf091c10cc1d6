// The VMM's only door to a hypervisor: the three calls of the KVM ABI.
//
// `softkvm run` is a plain KVM client (DESIGN.md, "The three layers"): every
// VM operation is an ioctl from <linux/kvm.h>, sent either to the host's real
// /dev/kvm (HostBackend) or to softkvm's C ABI (SoftBackend, libsoftkvm.so).
// Nothing above this interface knows which one it talks to.
#pragma once

#include <string>

namespace skvm::vmm {

struct KvmBackend {
  const char* name;
  // As open("/dev/kvm", flags): a system fd or -1/errno.
  int (*open)(int flags);
  // As ioctl(fd, request, arg) on a KVM fd: same return value, same errno.
  int (*ioctl)(int fd, unsigned long request, unsigned long arg);
  // As close(fd).
  int (*close)(int fd);
  // Async-signal-safe, from a signal handler on a vCPU thread: makes the
  // KVM_RUN in progress return -1/EINTR (KVM_EXIT_INTR). The host's KVM does
  // that for any handled signal (no-op); softkvm needs skvm_signal_notify().
  void (*signal_notify)();
};

// The host's /dev/kvm through the libc system calls.
const KvmBackend& host_backend();

// softkvm's C ABI (include/softkvm/softkvm.h).
const KvmBackend& soft_backend();

// Looks a backend up by its command-line name ("soft", "host"); nullptr when
// unknown.
const KvmBackend* find_backend(const std::string& name);

// The library version string of libsoftkvm.so.
const char* soft_library_version();

}  // namespace skvm::vmm
