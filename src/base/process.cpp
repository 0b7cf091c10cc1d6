#include "base/process.h"

#include <pthread.h>
#include <unistd.h>

#include <atomic>

namespace skvm::base {

namespace {
std::atomic<pid_t> g_pid{0};
void forget_pid() { g_pid.store(0, std::memory_order_relaxed); }
}  // namespace

pid_t self_pid() {
  pid_t pid = g_pid.load(std::memory_order_relaxed);
  if (pid != 0) return pid;
  static const int registered = pthread_atfork(nullptr, nullptr, forget_pid);
  (void)registered;
  pid = getpid();
  g_pid.store(pid, std::memory_order_relaxed);
  return pid;
}

}  // namespace skvm::base
