#include "base/fault.h"

#include <pthread.h>
#include <ucontext.h>

#include <cerrno>
#include <mutex>

namespace skvm::base {

namespace {

// initial-exec: read from a signal handler, so no lazy TLS allocation (the
// same assumption as kick.cpp: libsoftkvm is never dlopen'd too late).
__attribute__((tls_model("initial-exec"))) thread_local FaultRecovery* t_recovery = nullptr;

// Where this thread is calling a previous handler from (see chain()).
struct ChainMark {
  const void* ucontext = nullptr;
  uintptr_t frame = 0;
};
__attribute__((tls_model("initial-exec"))) thread_local ChainMark t_chain;

constexpr int kSignals[] = {SIGSEGV, SIGBUS};
struct sigaction g_previous[2];  // written once, before our handler is installed
std::once_flag g_install_once;

int slot_of(int sig) { return sig == SIGBUS ? 1 : 0; }

// The default action of `sig`: a fault raised by the kernel repeats when the
// faulting instruction restarts (now with SIG_DFL, so the core dump points
// at it); one sent with kill/raise/sigqueue must be sent again.
void default_action(int sig, const siginfo_t* info) {
  struct sigaction dfl = {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(sig, &dfl, nullptr);
  if (info == nullptr || info->si_code <= 0) raise(sig);  // pending until the handler returns
}

// Hands a fault that is not ours to the handler installed before softkvm's.
// A handler installed later that chains back to ours (reached again through
// the preload shim's wrapper) would make a cycle: a call with the same
// signal frame from deeper in the same stack is one, and gets the default
// action. (A fresh signal after a handler siglongjmp'd away never matches:
// its frame is a different one, or not deeper.)
void chain(int sig, siginfo_t* info, void* ucontext) {
  const auto here = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  if (ucontext != nullptr && t_chain.ucontext == ucontext && here < t_chain.frame) {
    default_action(sig, info);
    return;
  }
  const struct sigaction& prev = g_previous[slot_of(sig)];
  const ChainMark saved = t_chain;
  t_chain = ChainMark{ucontext, here};
  if (prev.sa_flags & SA_SIGINFO) {
    prev.sa_sigaction(sig, info, ucontext);
  } else if (prev.sa_handler == SIG_DFL) {
    default_action(sig, info);
  } else if (prev.sa_handler == SIG_IGN) {
    // The kernel never lets a fault it raised be ignored (force_sig_fault).
    if (info == nullptr || info->si_code > 0) default_action(sig, info);
  } else {
    prev.sa_handler(sig);
  }
  t_chain = saved;
}

void fault_handler(int sig, siginfo_t* info, void* ucontext) {
  const int saved_errno = errno;
  claim_fault(sig, info, ucontext);  // no return when the fault is ours
  chain(sig, info, ucontext);
  errno = saved_errno;
}

}  // namespace

void install_fault_handler() {
  std::call_once(g_install_once, [] {
    struct sigaction act = {};
    act.sa_sigaction = fault_handler;
    // SA_ONSTACK: a client that set up an alternate stack (to survive its
    // own stack overflows) still gets its handler run there when we chain.
    act.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&act.sa_mask);
    for (int sig : kSignals) sigaction(sig, &act, &g_previous[slot_of(sig)]);
  });
}

void arm_fault_recovery(FaultRecovery* r) { t_recovery = r; }

bool claim_fault(int sig, siginfo_t* info, void* ucontext) {
  FaultRecovery* r = t_recovery;
  if (r == nullptr || r->covers == nullptr || info == nullptr) return false;
  if (sig != SIGSEGV && sig != SIGBUS) return false;
  if (info->si_code <= 0) return false;  // kill/raise/sigqueue/tgkill: not an access
  const auto addr = reinterpret_cast<uintptr_t>(info->si_addr);
  if (!r->covers(r->ctx, addr)) return false;
  r->sig = sig;
  r->addr = addr;
  t_recovery = nullptr;  // a fault while recovering is not ours
  if (ucontext != nullptr) {
    // siglongjmp(env, 0) restores no mask and the kernel blocked `sig` (and
    // the handler's sa_mask) for the handler: put back the mask of the
    // interrupted code, or the next fault would kill the process.
    // SAFETY: the kernel passes a ucontext_t as the third argument of an
    // SA_SIGINFO handler; callers of skvm_handle_fault forward it unchanged.
    const auto* uc = static_cast<const ucontext_t*>(ucontext);
    pthread_sigmask(SIG_SETMASK, &uc->uc_sigmask, nullptr);
  }
  siglongjmp(r->env, 1);
}

}  // namespace skvm::base
