// The Cpu facade: owns the two halves of the engine (mmu/ and exec/) and
// forwards the kvm layer's calls to the run loop.
#include "cpu/cpu.h"

#include "cpu/core.h"
#include "cpu/exec/engine_impl.h"
#include "cpu/mmu/mmu_impl.h"

namespace skvm::cpu {

Cpu::Cpu(Bus& bus)
    : bus_(bus), mmu_(std::make_unique<MmuImpl>(*this)), engine_(std::make_unique<EngineImpl>(*this)) {}

Cpu::~Cpu() = default;

Stop Cpu::run(const std::atomic<int>* kick) { return engine_->run(kick); }
// Returns Stop::kKick when the instruction simply retired.
Stop Cpu::step() { return engine_->step(); }

void Cpu::state_changed() {
  mmu_state_changed(*this);  // TLB flush, PDPTE reload, MMIO completions dropped
  engine_->state_changed();
}

void Cpu::host_may_have_written_memory() { engine_->host_may_have_written_memory(); }

bool is_code_page(Cpu& cpu, uint64_t gpa_page) { return cpu.engine().is_code_page(gpa_page); }
void code_page_written(Cpu& cpu, uint64_t gpa, unsigned size) { cpu.engine().code_page_written(gpa, size); }

}  // namespace skvm::cpu
