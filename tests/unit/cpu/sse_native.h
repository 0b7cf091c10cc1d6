// The host CPU as the oracle for SSE forms (STYLE rule 4): SseNativeRunner
// loads a 64-bit FXSAVE image (XMM registers, MXCSR, x87/MMX registers),
// RAX/RCX/RDX/RBX/RFLAGS and RSI (pointer to a memory operand buffer), runs
// one instruction natively and stores everything back; the host's own x87/
// SSE state is saved and restored around it. run_engine() executes the same
// instruction on the engine in 64-bit mode from the same state, with the
// memory buffer at guest address kMem (RSI = kMem).
#pragma once

#include <sys/mman.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

#include "cpu/exec/simd_operands.h"
#include "exec_harness.h"

namespace skvm::cpu::testing {

struct alignas(64) SseCtx {
  uint8_t fx[512];       // 0x000: guest image in / out
  uint8_t host[512];     // 0x200: the host's state while the instruction runs
  uint64_t rax, rcx, rdx, rbx, flags;  // 0x400..0x420
  uint64_t rsi;          // 0x428: memory operand pointer (native)
  uint8_t pad[16];
  alignas(64) uint8_t mem[1024];  // the memory operand buffer (FXSAVE/XSAVE images fit)
};
static_assert(offsetof(SseCtx, rax) == 0x400 && offsetof(SseCtx, rsi) == 0x428);

class SseNativeRunner {
 public:
  SseNativeRunner() {
    code_ = static_cast<uint8_t*>(mmap(nullptr, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  }
  ~SseNativeRunner() {
    if (code_ != MAP_FAILED) munmap(code_, 4096);
  }
  bool ok() const { return code_ != MAP_FAILED; }

  void run(const std::vector<uint8_t>& insn, SseCtx* c) {
    static const uint8_t kPre[] = {
        0x53, 0x57,                                      // push rbx; push rdi
        0x48, 0x0f, 0xae, 0x87, 0x00, 0x02, 0x00, 0x00,  // fxsave64 [rdi+0x200]
        0x48, 0x0f, 0xae, 0x0f,                          // fxrstor64 [rdi]
        0x48, 0x8b, 0x87, 0x00, 0x04, 0x00, 0x00,        // mov rax, [rdi+0x400]
        0x48, 0x8b, 0x8f, 0x08, 0x04, 0x00, 0x00,        // mov rcx, [rdi+0x408]
        0x48, 0x8b, 0x97, 0x10, 0x04, 0x00, 0x00,        // mov rdx, [rdi+0x410]
        0x48, 0x8b, 0x9f, 0x18, 0x04, 0x00, 0x00,        // mov rbx, [rdi+0x418]
        0x48, 0x8b, 0xb7, 0x28, 0x04, 0x00, 0x00,        // mov rsi, [rdi+0x428]
        0xff, 0xb7, 0x20, 0x04, 0x00, 0x00,              // push qword [rdi+0x420]
        0x9d,                                            // popfq
    };
    static const uint8_t kPost[] = {
        0x9c,                                            // pushfq
        0x8f, 0x87, 0x20, 0x04, 0x00, 0x00,              // pop qword [rdi+0x420]
        0x48, 0x89, 0x87, 0x00, 0x04, 0x00, 0x00,        // mov [rdi+0x400], rax
        0x48, 0x89, 0x8f, 0x08, 0x04, 0x00, 0x00,        // mov [rdi+0x408], rcx
        0x48, 0x89, 0x97, 0x10, 0x04, 0x00, 0x00,        // mov [rdi+0x410], rdx
        0x48, 0x89, 0x9f, 0x18, 0x04, 0x00, 0x00,        // mov [rdi+0x418], rbx
        0x48, 0x0f, 0xae, 0x07,                          // fxsave64 [rdi]
        0x48, 0x0f, 0xae, 0x8f, 0x00, 0x02, 0x00, 0x00,  // fxrstor64 [rdi+0x200]
        0x5f, 0x5b, 0xc3,                                // pop rdi; pop rbx; ret
    };
    size_t n = 0;
    std::memcpy(code_ + n, kPre, sizeof kPre);
    n += sizeof kPre;
    std::memcpy(code_ + n, insn.data(), insn.size());
    n += insn.size();
    std::memcpy(code_ + n, kPost, sizeof kPost);
    __builtin___clear_cache(reinterpret_cast<char*>(code_), reinterpret_cast<char*>(code_ + 4096));
    c->rsi = reinterpret_cast<uint64_t>(c->mem);
    // SAFETY: code_ holds a complete SysV function: it saves the host FPU
    // state, runs one instruction that only writes rax..rbx, flags, x87/SSE
    // registers and c->mem, and restores the host FPU state.
    auto fn = reinterpret_cast<void (*)(SseCtx*)>(code_);
    fn(c);
  }

 private:
  uint8_t* code_;
};

inline constexpr uint64_t kMem = 0x3000;

// Runs `insn` on the engine from the state in *c (which receives the
// result). Returns the stop reason (kHlt when the instruction retired).
inline Stop run_engine(const std::vector<uint8_t>& insn, SseCtx* c, Guest& g, uint64_t cr4_extra = 0) {
  g.enter(GuestMode::kLong64);
  CpuState& s = g.s();
  s.cr4 |= kCr4OSFXSR | kCr4OSXMMEXCPT | cr4_extra;
  std::memcpy(s.fxsave.data(), c->fx, 512);
  s.gpr[kRax] = c->rax;
  s.gpr[kRcx] = c->rcx;
  s.gpr[kRdx] = c->rdx;
  s.gpr[kRbx] = c->rbx;
  s.gpr[kRsi] = kMem;
  s.rflags = c->flags;
  std::vector<uint8_t> code = insn;
  code.push_back(0xf4);  // hlt
  g.load(code);
  std::memcpy(g.bus().ram() + kMem, c->mem, sizeof c->mem);
  g.cpu().state_changed();
  Stop st = g.run();
  std::memcpy(c->fx, s.fxsave.data(), 512);
  c->rax = s.gpr[kRax];
  c->rcx = s.gpr[kRcx];
  c->rdx = s.gpr[kRdx];
  c->rbx = s.gpr[kRbx];
  c->flags = s.rflags;
  std::memcpy(c->mem, g.bus().ram() + kMem, sizeof c->mem);
  return st;
}

}  // namespace skvm::cpu::testing
