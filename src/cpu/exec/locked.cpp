#include "cpu/exec/locked.h"

#include "cpu/cpu.h"
#include "cpu/decode/decoder.h"
#include "cpu/exec/exec.h"
#include "cpu/mmu/mmu_impl.h"

#include <array>
#include <mutex>

namespace skvm::cpu {

namespace {
std::mutex g_bus_lock;
thread_local bool t_holds_bus_lock = false;
thread_local MmuImpl* t_locked_mmu = nullptr;  // in locked mode (MmuImpl::lock_key)

// What a locked handler may change before its operand store: it is put
// back when the store's compare-and-swap fails, and the instruction runs
// again (RIP already points after it, set before the handler).
struct Snapshot {
  std::array<uint64_t, 16> gpr;
  uint64_t rflags;
  Exec::LazySave lazy;
};

bool run_bus_locked(Exec& x, const Insn& i) {
  const Handler handler = exec::handler_for(i.row, i.osize);
  MmuImpl& m = x.cpu.mmu();
  g_bus_lock.lock();
  t_holds_bus_lock = true;
  t_locked_mmu = &m;
  const Snapshot snap{x.s.gpr, x.s.rflags, x.save_lazy()};
  bool ok;
  for (;;) {
    m.locked_begin();
    ok = handler(x, i);
    if (!ok) {
      m.locked_end();  // faulted: nothing buffered is stored
      break;
    }
    if (mmu_locked_commit(x.cpu)) break;
    // Another vCPU stored to the operand since it was read (SDM Vol. 3A
    // 9.1.2: that store is ordered before the locked cycle): run again.
    x.s.gpr = snap.gpr;
    x.s.rflags = snap.rflags;
    x.restore_lazy(snap.lazy);
  }
  t_locked_mmu = nullptr;
  t_holds_bus_lock = false;
  g_bus_lock.unlock();
  return ok;
}
}  // namespace

Handler exec::handler_bus_locked() { return &run_bus_locked; }

void Cpu::abandon_bus_lock() {
  if (!t_holds_bus_lock) return;
  if (t_locked_mmu != nullptr) t_locked_mmu->locked_end();
  t_locked_mmu = nullptr;
  t_holds_bus_lock = false;
  g_bus_lock.unlock();
}

}  // namespace skvm::cpu
