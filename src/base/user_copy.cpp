#include "base/user_copy.h"

#include <sys/uio.h>

#include <cerrno>
#include <cstring>

#include "base/process.h"

namespace skvm::base {

namespace {

// process_vm_* can be refused (seccomp, a kernel without CONFIG_CROSS_MEMORY_ATTACH).
// Then fall back to plain copies: correct for good pointers, a crash for bad
// ones, as a last resort only.
bool syscall_unavailable(int err) { return err == ENOSYS || err == EPERM; }

}  // namespace

bool copy_from_user(void* dst, const void* user_src, size_t n) {
  if (n == 0) return true;
  iovec local{dst, n};
  iovec remote{const_cast<void*>(user_src), n};
  ssize_t r = process_vm_readv(self_pid(), &local, 1, &remote, 1, 0);
  if (r == static_cast<ssize_t>(n)) return true;
  if (r < 0 && syscall_unavailable(errno)) {
    if (user_src == nullptr) return false;
    // SAFETY: fallback path only; the pointer comes from the client as it
    // would to the kernel, and no checked copy is available on this host.
    std::memcpy(dst, user_src, n);
    return true;
  }
  return false;
}

bool copy_to_user(void* user_dst, const void* src, size_t n) {
  if (n == 0) return true;
  iovec local{const_cast<void*>(src), n};
  iovec remote{user_dst, n};
  ssize_t r = process_vm_writev(self_pid(), &local, 1, &remote, 1, 0);
  if (r == static_cast<ssize_t>(n)) return true;
  if (r < 0 && syscall_unavailable(errno)) {
    if (user_dst == nullptr) return false;
    // SAFETY: see copy_from_user.
    std::memcpy(user_dst, src, n);
    return true;
  }
  return false;
}

}  // namespace skvm::base
