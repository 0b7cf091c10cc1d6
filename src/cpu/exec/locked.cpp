#include "cpu/exec/locked.h"

#include "cpu/cpu.h"
#include "cpu/decode/decoder.h"

#include <mutex>

namespace skvm::cpu {

namespace {
std::mutex g_bus_lock;
thread_local bool t_holds_bus_lock = false;
}  // namespace

namespace {
bool run_bus_locked(Exec& x, const Insn& i) {
  const Handler handler = exec::handler_for(i.row, i.osize);
  g_bus_lock.lock();
  t_holds_bus_lock = true;
  const bool ok = handler(x, i);
  t_holds_bus_lock = false;
  g_bus_lock.unlock();
  return ok;
}
}  // namespace

Handler exec::handler_bus_locked() { return &run_bus_locked; }

void Cpu::abandon_bus_lock() {
  if (!t_holds_bus_lock) return;
  t_holds_bus_lock = false;
  g_bus_lock.unlock();
}

}  // namespace skvm::cpu
