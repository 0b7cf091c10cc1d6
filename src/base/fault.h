// Recovery from faults on client memory touched on a guest's behalf.
//
// A memslot's host memory belongs to the client, which may munmap or
// mprotect it at any time. The engine reads and writes it through plain
// host pointers (no check per access), so a bad page shows up as SIGSEGV
// (or SIGBUS: a truncated file mapping) on the vCPU thread. KVM_RUN arms a
// thread-local recovery point (sigsetjmp(env, 0): no system call); the
// process-wide handler claims a fault only when
//   - the faulting thread has a recovery point armed, and
//   - the fault was raised by the kernel for a memory access (si_code > 0),
//     and si_addr lies in memory the recovery point covers (its VM's
//     memslot host ranges),
// and then restores the thread's signal mask from the interrupted context
// and siglongjmps to the recovery point. Every other fault goes to the
// handler installed before softkvm's (a function is called as it asked:
// with or without SA_SIGINFO; SIG_DFL/SIG_IGN: the default action).
//
// Handlers installed AFTER softkvm's replace it in the kernel: they must
// offer SIGSEGV/SIGBUS to claim_fault() first (the preload shim's wrappers
// do, through skvm_handle_fault() of softkvm.h).
#pragma once

#include <setjmp.h>
#include <signal.h>

#include <cstdint>

namespace skvm::base {

struct FaultRecovery {
  sigjmp_buf env;
  // Async-signal-safe: does host address `addr` belong to the memory this
  // recovery point covers?
  bool (*covers)(const void* ctx, uintptr_t addr) = nullptr;
  const void* ctx = nullptr;
  // The fault that was claimed (set before the siglongjmp).
  int sig = 0;
  uintptr_t addr = 0;
};

// Installs the SIGSEGV and SIGBUS handler (SA_SIGINFO | SA_ONSTACK), once
// per process; later calls do nothing. Thread-safe.
void install_fault_handler();

// Arms (or, with nullptr, disarms) this thread's recovery point. The
// caller must have called sigsetjmp(r->env, 0) in a frame that stays live
// while it is armed.
void arm_fault_recovery(FaultRecovery* r);

// Async-signal-safe. If the fault described by (sig, info, ucontext) is
// one the armed recovery point of this thread covers, restores the signal
// mask of the interrupted context, disarms the point and siglongjmps to it
// (no return). Otherwise returns false and changes nothing.
bool claim_fault(int sig, siginfo_t* info, void* ucontext);

}  // namespace skvm::base
