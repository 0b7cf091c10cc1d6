// Guest MIPS of the interpreter on two loops, in 64-bit mode on a flat RAM
// bus: `dec ecx; jnz` (ALU + branch) and `call f; f: ret` (stack + branch),
// plus a port-I/O exit round trip through Cpu::run (no KVM ABI).
// Wall-clock numbers; compare runs A/B on the same machine.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

#include "cpu/cpu.h"

namespace {

using namespace skvm::cpu;

class RamBus : public Bus {
 public:
  RamBus() : ram_(8 << 20, 0), pio_(4096, 0) {}
  PhysPage lookup(uint64_t gpa) override {
    if (gpa + kPageSize > ram_.size()) return {};
    return {ram_.data() + gpa, true, false};
  }
  void mark_dirty(uint64_t) override {}
  const std::atomic<uint64_t>& generation() const override { return gen_; }
  uint8_t* pio_page() override { return pio_.data(); }
  void cpuid(uint32_t leaf, uint32_t, uint32_t out[4]) override {
    out[0] = out[1] = out[2] = out[3] = 0;
    if (leaf == 0x80000000u) out[0] = 0x80000008u;
    if (leaf == 0x80000001u) out[3] = (1u << 29) | (1u << 20);
    if (leaf == 0x80000008u) out[0] = 36;
  }
  uint64_t tsc() override { return 0; }
  uint8_t* ram() { return ram_.data(); }

 private:
  std::vector<uint8_t> ram_, pio_;
  std::atomic<uint64_t> gen_{0};
};

void long_mode(Cpu& cpu, RamBus& bus) {
  CpuState& s = cpu.state();
  s = CpuState{};
  const uint64_t pml4 = 0x100000;
  auto poke = [&](uint64_t a, uint64_t v) { std::memcpy(bus.ram() + a, &v, 8); };
  poke(pml4, (pml4 + 0x1000) | 3);
  poke(pml4 + 0x1000, (pml4 + 0x2000) | 3);
  for (int i = 0; i < 4; ++i) poke(pml4 + 0x2000 + 8 * i, (uint64_t(i) << 21) | 0x83);
  for (auto& seg : s.seg) {
    seg = Segment{};
    seg.limit = 0xffffffff;
    seg.g = 1;
    seg.db = 1;
    seg.type = 3;
  }
  s.seg[kCs].type = 0xb;
  s.seg[kCs].l = 1;
  s.seg[kCs].db = 0;
  s.cr3 = pml4;
  s.cr4 = kCr4PAE;
  s.efer = kEferLME | kEferLMA;
  s.cr0 = kCr0PE | kCr0ET | kCr0PG;
  s.rip = 0x1000;
  s.gpr[kRsp] = 0x80000;
  cpu.state_changed();
}

double run_loop(const char* name, const std::vector<uint8_t>& code, uint64_t iters, unsigned insns_per_iter) {
  RamBus bus;
  Cpu cpu(bus);
  long_mode(cpu, bus);
  std::memcpy(bus.ram() + 0x1000, code.data(), code.size());
  cpu.state().gpr[kRcx] = iters;
  auto t0 = std::chrono::steady_clock::now();
  Stop st = cpu.run(nullptr);
  auto t1 = std::chrono::steady_clock::now();
  double sec = std::chrono::duration<double>(t1 - t0).count();
  double mips = static_cast<double>(iters * insns_per_iter) / sec / 1e6;
  std::printf("%-28s %8.1f MIPS  (%s, %.3f s)\n", name, mips, st == Stop::kHlt ? "hlt" : "UNEXPECTED STOP", sec);
  return mips;
}

void io_round_trip() {
  RamBus bus;
  Cpu cpu(bus);
  long_mode(cpu, bus);
  const std::vector<uint8_t> code = {0xe6, 0x80, 0xeb, 0xfc};  // L: out 0x80, al ; jmp L
  std::memcpy(bus.ram() + 0x1000, code.data(), code.size());
  const int n = 2000000;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) cpu.run(nullptr);
  auto t1 = std::chrono::steady_clock::now();
  double ns = std::chrono::duration<double, std::nano>(t1 - t0).count() / n;
  std::printf("%-28s %8.1f ns per exit (engine only)\n", "port-I/O exit round trip", ns);
}

// Cost of creating a vCPU's engine (KVM_CREATE_VCPU does one per vCPU).
void construction() {
  RamBus bus;
  const int n = 200;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    Cpu cpu(bus);
    long_mode(cpu, bus);
  }
  auto t1 = std::chrono::steady_clock::now();
  double us = std::chrono::duration<double, std::micro>(t1 - t0).count() / n;
  std::printf("Cpu construction: %.1f \u00b5s\n", us);
}

}  // namespace

int main(int argc, char** argv) {
  // --short: a quick run for callgrind / perf stat instruction counts.
  const bool short_run = argc > 1 && std::strcmp(argv[1], "--short") == 0;
  const uint64_t scale = short_run ? 1000 : 1;
  construction();
  // L: dec ecx ; jnz L ; hlt
  run_loop("dec/jnz loop", {0xff, 0xc9, 0x75, 0xfc, 0xf4}, 200000000 / scale, 2);
  // L: call f ; dec ecx ; jnz L ; hlt ; f: ret
  run_loop("call/ret loop", {0xe8, 0x05, 0, 0, 0, 0xff, 0xc9, 0x75, 0xf7, 0xf4, 0xc3}, 50000000 / scale, 4);
  if (!short_run) io_round_trip();
  return 0;
}
