#include "base/kick.h"

namespace skvm::base {

namespace {
// initial-exec: no lazy TLS allocation, so touching it from a signal handler
// is safe (libsoftkvm is loaded at start-up or by LD_PRELOAD, never dlopen'd
// late enough to run out of static TLS for one int).
__attribute__((tls_model("initial-exec"))) thread_local std::atomic<int> t_kick{0};
}  // namespace

std::atomic<int>& thread_kick() { return t_kick; }

void raise_thread_kick() { t_kick.store(1, std::memory_order_relaxed); }

}  // namespace skvm::base
