// Typed wrappers over base::copy_*_user for ioctl arguments.
#pragma once

#include <cerrno>
#include <cstddef>

#include "base/user_copy.h"

namespace skvm::abi {

inline void* user_ptr(unsigned long arg) {
  // SAFETY: the integer is the client's pointer argument; it is only ever
  // dereferenced through base::copy_*_user, which checks it.
  return reinterpret_cast<void*>(arg);
}

template <typename T>
bool read_arg(unsigned long arg, T* out, size_t offset = 0) {
  return base::copy_from_user(out, static_cast<const char*>(user_ptr(arg)) + offset, sizeof(T));
}

template <typename T>
bool write_arg(unsigned long arg, const T& in, size_t offset = 0) {
  return base::copy_to_user(static_cast<char*>(user_ptr(arg)) + offset, &in, sizeof(T));
}

inline bool read_bytes(unsigned long arg, size_t offset, void* out, size_t n) {
  return base::copy_from_user(out, static_cast<const char*>(user_ptr(arg)) + offset, n);
}

inline bool write_bytes(unsigned long arg, size_t offset, const void* in, size_t n) {
  return base::copy_to_user(static_cast<char*>(user_ptr(arg)) + offset, in, n);
}

}  // namespace skvm::abi
