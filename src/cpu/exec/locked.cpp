#include "cpu/exec/locked.h"

#include "cpu/cpu.h"

#include <mutex>

namespace skvm::cpu {

namespace {
std::mutex g_bus_lock;
thread_local bool t_holds_bus_lock = false;
}  // namespace

bool run_locked_insn(Exec& x, const Insn& i) {
  g_bus_lock.lock();
  t_holds_bus_lock = true;
  const bool ok = i.fn(x, i);
  t_holds_bus_lock = false;
  g_bus_lock.unlock();
  return ok;
}

void Cpu::abandon_bus_lock() {
  if (!t_holds_bus_lock) return;
  t_holds_bus_lock = false;
  g_bus_lock.unlock();
}

}  // namespace skvm::cpu
