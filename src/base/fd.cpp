#include "base/fd.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace skvm::base {

void UniqueFd::reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

int make_memfd(const char* name, size_t size) {
  int fd = memfd_create(name, MFD_CLOEXEC);
  if (fd < 0) return -errno;
  if (size != 0 && ftruncate(fd, static_cast<off_t>(size)) != 0) {
    int e = errno;
    ::close(fd);
    return -e;
  }
  return fd;
}

SharedMapping::~SharedMapping() {
  if (data_ != nullptr) munmap(data_, size_);
}

int SharedMapping::map(int fd, size_t size) {
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return -errno;
  if (data_ != nullptr) munmap(data_, size_);
  data_ = static_cast<uint8_t*>(p);
  size_ = size;
  return 0;
}

int file_id(int fd, FileId* id) {
  struct stat st {};
  if (fstat(fd, &st) != 0) return -errno;
  id->dev = st.st_dev;
  id->ino = st.st_ino;
  return 0;
}

}  // namespace skvm::base
