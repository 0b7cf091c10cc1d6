// Host file descriptor helpers: an owning fd, memfds, shared mappings.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

namespace skvm::base {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() { return std::exchange(fd_, -1); }
  void reset();

 private:
  int fd_ = -1;
};

// memfd_create(name, MFD_CLOEXEC) sized to `size` bytes. Returns -errno on
// failure.
int make_memfd(const char* name, size_t size);

// A MAP_SHARED read/write mapping of a whole fd, unmapped on destruction.
class SharedMapping {
 public:
  SharedMapping() = default;
  ~SharedMapping();
  SharedMapping(const SharedMapping&) = delete;
  SharedMapping& operator=(const SharedMapping&) = delete;

  // Returns 0 or -errno.
  int map(int fd, size_t size);
  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Identity of an open file, to recognise a fd number that was closed behind
// our back and reused.
struct FileId {
  uint64_t dev = 0;
  uint64_t ino = 0;
  bool operator==(const FileId&) const = default;
};
// fstat(fd): 0 and *id, or -errno (-EBADF for a closed fd).
int file_id(int fd, FileId* id);

}  // namespace skvm::base
