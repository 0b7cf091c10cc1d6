// The per-thread "kick" flag: KVM_RUN passes it to Cpu::run(), which polls it
// at block boundaries and stops with Stop::kKick when it reads non-zero.
// Raised by raise_thread_kick() (async-signal-safe: the preload shim's wrapped
// signal handlers call it through skvm_signal_notify()) and by
// kvm_run.immediate_exit.
#pragma once

#include <atomic>

namespace skvm::base {

// This thread's kick flag. The address is stable for the thread's lifetime.
std::atomic<int>& thread_kick();

// Async-signal-safe: sets this thread's kick flag.
void raise_thread_kick();

static_assert(std::atomic<int>::is_always_lock_free, "kick must be lock-free for signal handlers");

}  // namespace skvm::base
