// ioctl decoding per fd kind. Each function has the kernel's convention:
// a result >= 0, or -errno. Only this directory knows ioctl numbers and the
// user-pointer rules (every pointer argument goes through base::copy_*_user,
// so a bad client pointer is EFAULT, never SIGSEGV).
#pragma once

#include "abi/fd_table.h"

namespace skvm::abi {

// skvm_open: a new system fd (flags as open(2): O_CLOEXEC honoured).
int open_system(FdTable& table, int flags);
// skvm_ioctl: any fd; ENOTTY for a fd that is not a softkvm handle, EBADF
// for a closed one.
int ioctl(FdTable& table, int fd, unsigned long request, unsigned long arg);
// skvm_close.
int close(FdTable& table, int fd);
// skvm_is_handle.
bool is_handle(FdTable& table, int fd);

// Per kind (kvm_main.c: kvm_dev_ioctl, kvm_vm_ioctl, kvm_vcpu_ioctl).
int system_ioctl(FdTable& table, Handle& h, unsigned long request, unsigned long arg);
int vm_ioctl(FdTable& table, Handle& h, unsigned long request, unsigned long arg);
int vcpu_ioctl(Handle& h, unsigned long request, unsigned long arg);

// Creates a memfd-backed handle of `kind` for h (h.file is filled in) and
// installs it: the new fd or -errno.
int install_new(FdTable& table, const char* name, std::shared_ptr<Handle> h, int memfd = -1);

}  // namespace skvm::abi
