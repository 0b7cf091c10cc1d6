// The host x87 as the oracle for the x87 tests (STYLE rule 4): runs one
// instruction natively from mmap'd code over a given FXSAVE64 image and
// RFLAGS, the instruction's memory operand being [rdi].
// Shared by x87_native_test.cpp and x87_control_test.cpp.
#pragma once

#include <sys/mman.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace skvm::cpu::testing {

struct alignas(64) Fx {
  uint8_t b[512];
};

class X87Oracle {
 public:
  X87Oracle() {
    mem_ = static_cast<uint8_t*>(mmap(nullptr, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  }
  ~X87Oracle() {
    if (mem_ != MAP_FAILED) munmap(mem_, 4096);
  }
  X87Oracle(const X87Oracle&) = delete;
  X87Oracle& operator=(const X87Oracle&) = delete;
  bool ok() const { return mem_ != MAP_FAILED; }

  // fxsave64 [rcx] (host); fxrstor64 [rsi]; push [rdx]; popfq; INSN;
  // pushfq; pop [rdx]; fxsave64 [rsi]; fxrstor64 [rcx]; ret.
  void run(const std::vector<uint8_t>& insn, Fx* img, uint8_t* mem, uint64_t* flags) {
    std::vector<uint8_t> c = {0x48, 0x0f, 0xae, 0x01, 0x48, 0x0f, 0xae, 0x0e, 0xff, 0x32, 0x9d};
    c.insert(c.end(), insn.begin(), insn.end());
    c.insert(c.end(), {0x9c, 0x8f, 0x02, 0x48, 0x0f, 0xae, 0x06, 0x48, 0x0f, 0xae, 0x09, 0xc3});
    std::memcpy(mem_, c.data(), c.size());
    __builtin___clear_cache(reinterpret_cast<char*>(mem_), reinterpret_cast<char*>(mem_ + 4096));
    Fx host;
    // SAFETY: mem_ holds a complete SysV function (rdi, rsi, rdx, rcx
    // arguments) that saves and restores the host's x87/SSE state; the x87
    // instruction's only memory operand is [rdi], sized by the caller.
    auto fn = reinterpret_cast<void (*)(uint8_t*, Fx*, uint64_t*, Fx*)>(mem_);
    fn(mem, img, flags, &host);
  }

 private:
  uint8_t* mem_;
};

}  // namespace skvm::cpu::testing
