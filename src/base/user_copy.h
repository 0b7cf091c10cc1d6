// Copies between softkvm and client memory that turn a bad client pointer
// into EFAULT instead of SIGSEGV, as copy_from_user/copy_to_user do in the
// kernel. Implemented with process_vm_readv/process_vm_writev on our own pid
// (one syscall, ~1.4 us on our hosts: used for ioctl arguments, never on
// the KVM_RUN path, which takes no pointer).
#pragma once

#include <cstddef>

namespace skvm::base {

// Return true when all n bytes were copied.
bool copy_from_user(void* dst, const void* user_src, size_t n);
bool copy_to_user(void* user_dst, const void* src, size_t n);

}  // namespace skvm::base
