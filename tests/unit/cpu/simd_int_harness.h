// The host CPU as the oracle for MMX / integer SIMD forms: SimdCtx holds
// xmm0..3, mm0..1, rax/rcx/rdx/rbx, rflags and a 64-byte memory operand
// (addressed through rsi and rdi). SimdNative runs one instruction natively
// on it; run_soft() runs the same bytes in the engine (64-bit mode, memory
// at kSimdMem) and returns the resulting context.
#pragma once

#include <sys/mman.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "cpu/exec/simd_operands.h"
#include "exec_harness.h"

namespace skvm::cpu::testing {

struct SimdCtx {
  uint8_t xmm[4][16];   // +0
  uint64_t mm[2];       // +64
  uint64_t rax, rcx, rdx, flags, rbx;  // +80, +88, +96, +104, +112
};
static_assert(sizeof(SimdCtx) == 120);

struct alignas(64) SimdMem {
  uint8_t b[64];
};

inline constexpr uint64_t kSimdMem = 0x3000;

// Runs prologue (load the context from *rdi, rdi = rsi = mem), the
// instruction, and the epilogue (store the context, EMMS) natively.
class SimdNative {
 public:
  SimdNative() {
    mem_ = static_cast<uint8_t*>(mmap(nullptr, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  }
  ~SimdNative() {
    if (mem_ != MAP_FAILED) munmap(mem_, 4096);
  }
  bool ok() const { return mem_ != MAP_FAILED; }
  void run(const std::vector<uint8_t>& insn, SimdCtx* c, SimdMem* m) {
    // push rbx; mov r11, rdi; mov rdi, rsi; movdqu xmm0..3, [r11+0..48];
    // movq mm0/mm1, [r11+64/72]; mov rax/rcx/rdx/rbx, [r11+80/88/96/112];
    // push qword [r11+104]; popfq
    static const uint8_t kPre[] = {
        0x53, 0x49, 0x89, 0xfb, 0x48, 0x89, 0xf7, 0xf3, 0x41, 0x0f, 0x6f, 0x03, 0xf3, 0x41, 0x0f, 0x6f,
        0x4b, 0x10, 0xf3, 0x41, 0x0f, 0x6f, 0x53, 0x20, 0xf3, 0x41, 0x0f, 0x6f, 0x5b, 0x30, 0x41, 0x0f,
        0x6f, 0x43, 0x40, 0x41, 0x0f, 0x6f, 0x4b, 0x48, 0x49, 0x8b, 0x43, 0x50, 0x49, 0x8b, 0x4b, 0x58,
        0x49, 0x8b, 0x53, 0x60, 0x49, 0x8b, 0x5b, 0x70, 0x41, 0xff, 0x73, 0x68, 0x9d};
    // pushfq; pop qword [r11+104]; movdqu [r11+..], xmm0..3; movq mm0/mm1;
    // mov rax/rcx/rdx/rbx; emms; pop rbx; ret
    static const uint8_t kPost[] = {
        0x9c, 0x41, 0x8f, 0x43, 0x68, 0xf3, 0x41, 0x0f, 0x7f, 0x03, 0xf3, 0x41, 0x0f, 0x7f, 0x4b, 0x10,
        0xf3, 0x41, 0x0f, 0x7f, 0x53, 0x20, 0xf3, 0x41, 0x0f, 0x7f, 0x5b, 0x30, 0x41, 0x0f, 0x7f, 0x43,
        0x40, 0x41, 0x0f, 0x7f, 0x4b, 0x48, 0x49, 0x89, 0x43, 0x50, 0x49, 0x89, 0x4b, 0x58, 0x49, 0x89,
        0x53, 0x60, 0x49, 0x89, 0x5b, 0x70, 0x0f, 0x77, 0x5b, 0xc3};
    size_t n = 0;
    std::memcpy(mem_ + n, kPre, sizeof kPre);
    n += sizeof kPre;
    std::memcpy(mem_ + n, insn.data(), insn.size());
    n += insn.size();
    std::memcpy(mem_ + n, kPost, sizeof kPost);
    __builtin___clear_cache(reinterpret_cast<char*>(mem_), reinterpret_cast<char*>(mem_ + 4096));
    // SAFETY: mem_ holds a complete SysV function (prologue, one instruction
    // that touches only xmm0-3, mm0-1, rax/rcx/rdx/rbx, flags and 64 bytes at
    // rsi/rdi = m, epilogue) that preserves every callee-saved register.
    auto fn = reinterpret_cast<void (*)(SimdCtx*, SimdMem*)>(mem_);
    fn(c, m);
  }

 private:
  uint8_t* mem_;
};

// Loads ctx/mem into a 64-bit guest with CR4.OSFXSR, runs insn + HLT.
inline Stop run_soft(Guest& g, const std::vector<uint8_t>& insn, SimdCtx* c, SimdMem* m) {
  g.enter(GuestMode::kLong64);
  std::vector<uint8_t> code = insn;
  code.push_back(0xf4);
  g.load(code);
  CpuState& s = g.s();
  s.cr4 |= kCr4OSFXSR;
  for (unsigned k = 0; k < 4; ++k) std::memcpy(s.fxsave.data() + simd::kFxXmm0 + 16 * k, c->xmm[k], 16);
  for (unsigned k = 0; k < 2; ++k) {
    std::memcpy(s.fxsave.data() + simd::kFxSt0 + 16 * k, &c->mm[k], 8);
  }
  s.gpr[kRax] = c->rax;
  s.gpr[kRcx] = c->rcx;
  s.gpr[kRdx] = c->rdx;
  s.gpr[kRbx] = c->rbx;
  s.gpr[kRsi] = kSimdMem;
  s.gpr[kRdi] = kSimdMem;
  s.rflags = c->flags;
  g.bus().load(kSimdMem, std::vector<uint8_t>(m->b, m->b + 64));
  g.cpu().state_changed();
  Stop stop = g.run();
  for (unsigned k = 0; k < 4; ++k) std::memcpy(c->xmm[k], s.fxsave.data() + simd::kFxXmm0 + 16 * k, 16);
  for (unsigned k = 0; k < 2; ++k) c->mm[k] = simd::mm_get(s, k);
  c->rax = s.gpr[kRax];
  c->rcx = s.gpr[kRcx];
  c->rdx = s.gpr[kRdx];
  c->rbx = s.gpr[kRbx];
  c->flags = s.rflags;
  for (unsigned k = 0; k < 64; ++k) m->b[k] = g.bus().peek<uint8_t>(kSimdMem + k);
  return stop;
}

}  // namespace skvm::cpu::testing
