// The calling process's pid, cached (getpid() is a real syscall, ~0.25 us on
// our hosts) and forgotten in a fork() child (pthread_atfork).
#pragma once

#include <sys/types.h>

namespace skvm::base {

pid_t self_pid();

}  // namespace skvm::base
