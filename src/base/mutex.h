// A mutex that Clang's thread-safety analysis understands (-Wthread-safety),
// and the annotation macros (no-ops on other compilers). libstdc++'s
// std::mutex carries no capability attributes, hence the wrapper.
#pragma once

#include <mutex>

#if defined(__clang__)
#define SKVM_TSA(x) __attribute__((x))
#else
#define SKVM_TSA(x)
#endif
#define SKVM_CAPABILITY(x) SKVM_TSA(capability(x))
#define SKVM_SCOPED_CAPABILITY SKVM_TSA(scoped_lockable)
#define SKVM_GUARDED_BY(x) SKVM_TSA(guarded_by(x))
#define SKVM_REQUIRES(...) SKVM_TSA(requires_capability(__VA_ARGS__))
#define SKVM_ACQUIRE(...) SKVM_TSA(acquire_capability(__VA_ARGS__))
#define SKVM_RELEASE(...) SKVM_TSA(release_capability(__VA_ARGS__))
#define SKVM_EXCLUDES(...) SKVM_TSA(locks_excluded(__VA_ARGS__))

namespace skvm::base {

class SKVM_CAPABILITY("mutex") Mutex {
 public:
  void lock() SKVM_ACQUIRE() { mu_.lock(); }
  void unlock() SKVM_RELEASE() { mu_.unlock(); }

 private:
  std::mutex mu_;
};

class SKVM_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& m) SKVM_ACQUIRE(m) : m_(m) { m_.lock(); }
  ~MutexLock() SKVM_RELEASE() { m_.unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& m_;
};

}  // namespace skvm::base
