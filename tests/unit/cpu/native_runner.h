// The host CPU as an oracle for user-level instructions (STYLE rule 4):
// NativeRunner executes one instruction natively from mmap'd code with
// rax/rcx/rdx/rbx/rflags loaded from a Regs record and stores them back.
// Shared by exec_native_test.cpp and exec_isa3_native_test.cpp.
#pragma once

#include <sys/mman.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace skvm::cpu::testing {

struct Regs {
  uint64_t rax, rcx, rdx, rbx, flags;
};

// Native runner: loads rax/rcx/rdx/rbx/rflags from *rdi, runs the
// instruction, stores them back.
class NativeRunner {
 public:
  NativeRunner() {
    mem_ = static_cast<uint8_t*>(mmap(nullptr, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  }
  ~NativeRunner() {
    if (mem_ != MAP_FAILED) munmap(mem_, 4096);
  }
  bool ok() const { return mem_ != MAP_FAILED; }
  void run(const std::vector<uint8_t>& insn, Regs* r) {
    static const uint8_t kPre[] = {0x53, 0x57, 0x48, 0x8b, 0x07, 0x48, 0x8b, 0x4f, 0x08, 0x48, 0x8b,
                                   0x57, 0x10, 0x48, 0x8b, 0x5f, 0x18, 0xff, 0x77, 0x20, 0x9d};
    static const uint8_t kPost[] = {0x9c, 0x48, 0x8b, 0x7c, 0x24, 0x08, 0x8f, 0x47, 0x20, 0x48, 0x89,
                                    0x07, 0x48, 0x89, 0x4f, 0x08, 0x48, 0x89, 0x57, 0x10, 0x48, 0x89,
                                    0x5f, 0x18, 0x5f, 0x5b, 0xc3};
    size_t n = 0;
    std::memcpy(mem_ + n, kPre, sizeof kPre);
    n += sizeof kPre;
    std::memcpy(mem_ + n, insn.data(), insn.size());
    n += insn.size();
    std::memcpy(mem_ + n, kPost, sizeof kPost);
    __builtin___clear_cache(reinterpret_cast<char*>(mem_), reinterpret_cast<char*>(mem_ + 4096));
    // SAFETY: mem_ holds a complete function (prologue, one instruction that
    // only touches rax/rcx/rdx/rbx/flags, epilogue) following the SysV ABI.
    auto fn = reinterpret_cast<void (*)(Regs*)>(mem_);
    fn(r);
  }

 private:
  uint8_t* mem_;
};

}  // namespace skvm::cpu::testing
