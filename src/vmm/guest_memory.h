// Guest RAM as the VMM sees it: the host mapping of guest-physical
// 0..size, with bounds-checked accessors used by the loaders and the
// firmware-table builders (so they are unit-testable on a plain buffer).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include "vmm/error.h"

namespace skvm::vmm {

struct GuestMemory {
  uint8_t* base = nullptr;
  uint64_t size = 0;

  bool contains(uint64_t gpa, uint64_t len) const { return gpa <= size && len <= size - gpa; }

  // Host pointer to [gpa, gpa + len); throws VmmError when outside RAM.
  uint8_t* at(uint64_t gpa, uint64_t len) const {
    if (!contains(gpa, len)) {
      throw VmmError("guest memory access [" + hex(gpa) + ", " + hex(gpa + len) +
                     ") outside RAM of " + std::to_string(size >> 20) + " MiB");
    }
    // SAFETY: gpa + len <= size, checked above; base maps size bytes.
    return base + gpa;
  }

  void write(uint64_t gpa, const void* src, uint64_t len) const {
    if (len == 0) return;
    // SAFETY: at() checked the destination range; src holds len bytes (caller).
    std::memcpy(at(gpa, len), src, len);
  }
  void fill(uint64_t gpa, uint8_t value, uint64_t len) const {
    if (len) std::memset(at(gpa, len), value, len);
  }

  template <typename T>
  void put(uint64_t gpa, const T& value) const {
    static_assert(std::is_trivially_copyable_v<T>);
    write(gpa, &value, sizeof value);
  }
  template <typename T>
  T get(uint64_t gpa) const {
    static_assert(std::is_trivially_copyable_v<T>);
    T value;
    // SAFETY: at() checked the source range; T is trivially copyable.
    std::memcpy(&value, at(gpa, sizeof value), sizeof value);
    return value;
  }

  static std::string hex(uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%#llx", static_cast<unsigned long long>(v));
    return buf;
  }
};

}  // namespace skvm::vmm
