// The host CPU as the oracle for the forms added by the isa3 slice (STYLE
// rule 4): SHLD/SHRD (imm8 and CL, every width, counts 0..255 including the
// "undefined" 16-bit counts 16..31), POPCNT/TZCNT/LZCNT, and
// DAA/DAS/AAA/AAS/AAM/AAD (natively in compatibility mode). The system
// forms are tested in
// exec_isa3_system_test.cpp on the FakeBus.
// Same method as exec_native_test.cpp: run natively from mmap'd code and on
// the engine in 64-bit mode from the same registers and flags; results and
// all six arithmetic flags must match.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstring>
#include <string>
#include <vector>

#include "exec_harness.h"
#include "native_runner.h"

namespace skvm::cpu::testing {
namespace {

struct R32 {
  uint32_t eax, ecx, edx, ebx, flags;
};

// Native runner for instructions that exist only outside 64-bit mode: a
// far return into the 32-bit user code segment (selector 0x23 on x86-64
// Linux) with a stack below 4 GiB, the instruction, a far return to the
// 64-bit segment (0x33). Code, data and stack share one MAP_32BIT page.
class CompatRunner {
 public:
  CompatRunner() {
    mem_ = static_cast<uint8_t*>(mmap(nullptr, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0));
  }
  ~CompatRunner() {
    if (mem_ != MAP_FAILED) munmap(mem_, 4096);
  }
  bool ok() const { return mem_ != MAP_FAILED; }
  void run(const std::vector<uint8_t>& insn, R32* r) {
    const uint32_t base = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(mem_));
    const uint32_t in = base + 0x800, out = base + 0x820, saved = base + 0x840, stack = base + 0xff0;
    const uint32_t c32 = base + 0x100, ret64 = base + 0x80;
    std::vector<uint8_t> c;
    auto d32 = [&](uint32_t v) { for (int k = 0; k < 4; ++k) c.push_back(static_cast<uint8_t>(v >> (8 * k))); };
    // 64-bit entry: push rbx; push rbp; mov [saved], rsp; mov esp, stack; push 0x23; push c32; retfq
    c = {0x53, 0x55, 0x48, 0x89, 0x24, 0x25}; d32(saved);
    c.push_back(0xbc); d32(stack);
    c.insert(c.end(), {0x6a, 0x23, 0x68}); d32(c32);
    c.insert(c.end(), {0x48, 0xcb});
    std::memcpy(mem_, c.data(), c.size());
    // 64-bit return: mov rsp, [saved]; pop rbp; pop rbx; ret
    c = {0x48, 0x8b, 0x24, 0x25}; d32(saved);
    c.insert(c.end(), {0x5d, 0x5b, 0xc3});
    std::memcpy(mem_ + 0x80, c.data(), c.size());
    // 32-bit: push ss; pop ds; push ss; pop es; load regs; push [in+16]; popfd; insn; pushfd; pop [out+16]; store regs; push 0x33; push ret64; retf
    c = {0x16, 0x1f, 0x16, 0x07};
    c.push_back(0xa1); d32(in);                          // mov eax, [in]
    c.insert(c.end(), {0x8b, 0x0d}); d32(in + 4);        // mov ecx, [in+4]
    c.insert(c.end(), {0x8b, 0x15}); d32(in + 8);        // mov edx, [in+8]
    c.insert(c.end(), {0x8b, 0x1d}); d32(in + 12);       // mov ebx, [in+12]
    c.insert(c.end(), {0xff, 0x35}); d32(in + 16);       // push dword [in+16]
    c.push_back(0x9d);                                   // popfd
    c.insert(c.end(), insn.begin(), insn.end());
    c.push_back(0x9c);                                   // pushfd
    c.insert(c.end(), {0x8f, 0x05}); d32(out + 16);      // pop dword [out+16]
    c.push_back(0xa3); d32(out);                         // mov [out], eax
    c.insert(c.end(), {0x89, 0x0d}); d32(out + 4);
    c.insert(c.end(), {0x89, 0x15}); d32(out + 8);
    c.insert(c.end(), {0x89, 0x1d}); d32(out + 12);
    c.insert(c.end(), {0x6a, 0x33, 0x68}); d32(ret64);
    c.push_back(0xcb);                                   // retf
    std::memcpy(mem_ + 0x100, c.data(), c.size());
    // SAFETY: R32 is 20 bytes of plain integers; in/out areas are in the page.
    std::memcpy(mem_ + 0x800, r, sizeof *r);
    __builtin___clear_cache(reinterpret_cast<char*>(mem_), reinterpret_cast<char*>(mem_ + 4096));
    // SAFETY: mem_ holds the entry thunk (saves rbx/rbp and rsp, switches to
    // the page's own stack, enters 32-bit code) whose return path restores
    // them; the 32-bit code touches only eax/ecx/edx/ebx/eflags/ds/es and
    // this page.
    reinterpret_cast<void (*)()>(mem_)();
    std::memcpy(r, mem_ + 0x820, sizeof *r);
  }

 private:
  uint8_t* mem_;
};

const uint64_t kValues[] = {0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x80000000, 0xffffffff,
                            0x123456789abcdef0ull, 0x8000000000000001ull, 0xffffffffffffffffull};
const uint64_t kCounts[] = {0, 1, 2, 7, 8, 15, 16, 17, 24, 31, 32, 33, 47, 63, 64, 65, 255};
const uint64_t kFlagsIn[] = {kFlagFixed1, kFlagFixed1 | kFlagsArith};

class Isa3NativeOracle : public ::testing::Test {
 protected:
  void check(const std::string& name, const std::vector<uint8_t>& insn, Regs in) { check2(name, insn, insn, in); }
  // Runs `native_insn` on the host and `insn` on the engine.
  void check2(const std::string& name, const std::vector<uint8_t>& native_insn, const std::vector<uint8_t>& insn,
              Regs in) {
    Regs native = in;
    native_.run(native_insn, &native);
    g_.enter(GuestMode::kLong64);
    std::vector<uint8_t> code = insn;
    code.push_back(0xf4);
    g_.load(code);
    g_.r(kRax) = in.rax;
    g_.r(kRcx) = in.rcx;
    g_.r(kRdx) = in.rdx;
    g_.r(kRbx) = in.rbx;
    g_.s().rflags = in.flags;
    g_.cpu().state_changed();
    ASSERT_EQ(g_.run(), Stop::kHlt) << name;
    const uint64_t fm = kFlagsArith | kFlagDF;
    bool same = g_.r(kRax) == native.rax && g_.r(kRcx) == native.rcx && g_.r(kRdx) == native.rdx &&
                g_.r(kRbx) == native.rbx && (g_.s().rflags & fm) == (native.flags & fm);
    if (!same && ++failures_ <= 20) {
      ADD_FAILURE() << name << " rax=" << std::hex << in.rax << " rcx=" << in.rcx << " rdx=" << in.rdx
                    << " flags=" << in.flags << "\n  native: rax=" << native.rax << " flags=" << (native.flags & fm)
                    << "\n  engine: rax=" << g_.r(kRax) << " flags=" << (g_.s().rflags & fm);
    }
    ++cases_;
  }
  static std::vector<uint8_t> with_width(unsigned w, std::vector<uint8_t> v) {
    if (w == 2) v.insert(v.begin(), 0x66);
    if (w == 8) v.insert(v.begin(), 0x48);
    return v;
  }

  void SetUp() override {
    if (!native_.ok()) GTEST_SKIP() << "cannot map executable memory for the native oracle";
  }

  NativeRunner native_;
  Guest g_;
  int failures_ = 0;
  int cases_ = 0;
};

TEST_F(Isa3NativeOracle, ShldShrdWithClMatchHostCpuForEveryCountAndWidth) {
  // shld/shrd eax, edx, cl: ModRM 11 010 000 = 0xd0.
  for (unsigned w : {2u, 4u, 8u})
    for (bool right : {false, true})
      for (uint64_t a : kValues)
        for (uint64_t b : kValues)
          for (uint64_t c : kCounts)
            for (uint64_t f : kFlagsIn) {
              std::string n = std::string(right ? "shrd" : "shld") + std::to_string(w) + ",cl";
              check(n, with_width(w, {0x0f, static_cast<uint8_t>(right ? 0xad : 0xa5), 0xd0}), Regs{a, c, b, 0, f});
            }
  EXPECT_GT(cases_, 10000);
}

TEST_F(Isa3NativeOracle, ShldShrdWithImmediateMatchHostCpu) {
  for (unsigned w : {2u, 4u, 8u})
    for (bool right : {false, true})
      for (uint64_t a : kValues)
        for (uint64_t c : {0ull, 1ull, 5ull, 16ull, 20ull, 31ull, 32ull, 63ull, 200ull})
          for (uint64_t f : kFlagsIn) {
            std::string n = std::string(right ? "shrd" : "shld") + std::to_string(w) + ",imm";
            check(n,
                  with_width(w, {0x0f, static_cast<uint8_t>(right ? 0xac : 0xa4), 0xd0, static_cast<uint8_t>(c)}),
                  Regs{a, 0x5a5a5a5a5a5a5a5aull, 0xfedcba9876543210ull, 0, f});
          }
  EXPECT_GT(cases_, 1000);
}

// Guest CPUID with POPCNT (1:ECX[23]), BMI1 (7:EBX[3]) and ABM (80000001:ECX[5]).
void advertise_bit_counting(FakeBus& b) {
  b.set_cpuid(1, 0, 0, 0, 1u << 23, 0);
  b.set_cpuid(7, 0, 0, 1u << 3, 0, 0);
  b.set_cpuid(0x80000001u, 0, 0, 0, 1u << 5, (1u << 29) | (1u << 20));
}

bool host_has_bit_counting() {
  unsigned a, b, c, d;
  __asm__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
  bool popcnt = (c >> 23) & 1;
  __asm__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
  bool bmi1 = (b >> 3) & 1;
  __asm__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x80000001u), "c"(0));
  return popcnt && bmi1 && ((c >> 5) & 1);
}

TEST_F(Isa3NativeOracle, PopcntTzcntLzcntMatchHostCpu) {
  if (!host_has_bit_counting()) GTEST_SKIP() << "host CPU lacks POPCNT/BMI1/ABM";
  advertise_bit_counting(g_.bus());
  for (unsigned w : {2u, 4u, 8u}) {
    std::string n = std::to_string(w);
    auto f3 = [&](uint8_t op) {
      std::vector<uint8_t> v = with_width(w, {0x0f, op, 0xc1});  // op eax, ecx
      v.insert(w == 2 ? v.begin() + 1 : v.begin(), 0xf3);  // F3 after 66, before REX
      return v;
    };
    for (uint64_t a : kValues)
      for (uint64_t f : kFlagsIn) {
        Regs in{0x5555555555555555ull, a, 0, 0, f};
        check("popcnt" + n, f3(0xb8), in);
        check("tzcnt" + n, f3(0xbc), in);
        check("lzcnt" + n, f3(0xbd), in);
      }
  }
  EXPECT_GT(cases_, 200);
}

TEST_F(Isa3NativeOracle, TzcntLzcntWithoutTheirCpuidBitsRunAsBsfBsr) {
  // The default guest CPUID has neither BMI1 nor ABM.
  for (uint64_t a : kValues)
    for (uint64_t f : kFlagsIn) {
      Regs in{0x5555, a, 0, 0, f};
      check2("tzcnt-as-bsf", {0x0f, 0xbc, 0xc1}, {0xf3, 0x0f, 0xbc, 0xc1}, in);
      check2("lzcnt-as-bsr", {0x0f, 0xbd, 0xc1}, {0xf3, 0x0f, 0xbd, 0xc1}, in);
    }
  EXPECT_GT(cases_, 20);
}

TEST_F(Isa3NativeOracle, PopcntWithoutItsCpuidBitIsUndefined) {
  g_.enter(GuestMode::kLong64);
  g_.load({0xf3, 0x0f, 0xb8, 0xc1, 0xf4});
  EXPECT_EQ(g_.run(), Stop::kShutdown) << "#UD without an IDT escalates to a triple fault";
  EXPECT_EQ(g_.s().rip, Guest::kCode) << "RIP on the faulting POPCNT";
}

// DAA/DAS/AAA/AAS/AAM/AAD against the host CPU in compatibility mode (they
// are #UD in 64-bit mode), engine in 32-bit protected mode.
class BcdOracle : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!compat_.ok()) GTEST_SKIP() << "cannot map executable memory below 4 GiB";
  }
  void check(const std::string& name, const std::vector<uint8_t>& insn, R32 in) {
    R32 native = in;
    compat_.run(insn, &native);
    g_.enter(GuestMode::kProt32);
    std::vector<uint8_t> code = insn;
    code.push_back(0xf4);
    g_.load(code);
    g_.r(kRax) = in.eax;
    g_.r(kRcx) = in.ecx;
    g_.s().rflags = in.flags;
    g_.cpu().state_changed();
    ASSERT_EQ(g_.run(), Stop::kHlt) << name;
    const uint32_t fm = kFlagsArith;
    if ((g_.r(kRax) != native.eax || (g_.s().rflags & fm) != (native.flags & fm)) && ++failures_ <= 20) {
      ADD_FAILURE() << name << " eax=" << std::hex << in.eax << " flags=" << in.flags << "\n  native: eax=" << native.eax
                    << " flags=" << (native.flags & fm) << "\n  engine: eax=" << g_.r(kRax)
                    << " flags=" << (g_.s().rflags & fm);
    }
    ++cases_;
  }
  CompatRunner compat_;
  Guest g_{GuestMode::kProt32};
  int failures_ = 0;
  int cases_ = 0;
};

const uint32_t kBcdFlags[] = {0x2, 0x3, 0x12, 0x13, 0x8d7};

TEST_F(BcdOracle, DaaDasMatchHostCpuForEveryAlAndCarryPair) {
  for (uint32_t al = 0; al < 256; ++al)
    for (uint32_t f : kBcdFlags) {
      check("daa", {0x27}, R32{0x5a00 | al, 0, 0, 0, f});
      check("das", {0x2f}, R32{0x5a00 | al, 0, 0, 0, f});
    }
  EXPECT_EQ(cases_, 2 * 256 * 5);
}

TEST_F(BcdOracle, AaaAasMatchHostCpu) {
  for (uint32_t ax = 0; ax < 0x10000; ax += 0x0101)
    for (uint32_t f : {0x2u, 0x3u, 0x12u, 0x13u, 0x8d7u, 0x882u, 0x892u}) {
      check("aaa", {0x37}, R32{0x12340000 | ax, 0, 0, 0, f});
      check("aas", {0x3f}, R32{0x12340000 | ax, 0, 0, 0, f});
    }
  EXPECT_GT(cases_, 3000);
}

TEST_F(BcdOracle, AamAadMatchHostCpu) {
  for (uint32_t ax = 0; ax < 0x10000; ax += 0x0107)
    for (uint8_t imm : {10, 16, 7, 1, 0xff})
      for (uint32_t f : kBcdFlags) {
        check("aam", {0xd4, imm}, R32{0x12340000 | ax, 0, 0, 0, f});
        check("aad", {0xd5, imm}, R32{0x12340000 | ax, 0, 0, 0, f});
      }
  EXPECT_GT(cases_, 1000);
}

TEST_F(BcdOracle, AamWithZeroImmediateRaisesDivideError) {
  g_.enter(GuestMode::kReal);
  g_.bus().poke<uint32_t>(0, 0x1100);  // IVT vector 0 -> 0000:1100
  g_.load({0xf4}, 0x1100);
  g_.load({0xd4, 0x00});
  ASSERT_EQ(g_.run(), Stop::kHlt);
  EXPECT_EQ(g_.s().rip, 0x1101u) << "#DE handler ran";
  EXPECT_EQ(g_.bus().peek<uint16_t>(0x8000 - 6), Guest::kCode) << "#DE is a fault: IP of AAM pushed";
}

TEST_F(BcdOracle, DecimalAdjustIsUndefinedIn64BitMode) {
  for (uint8_t op : {0x27, 0x2f, 0x37, 0x3f, 0xd4, 0xd5}) {
    g_.enter(GuestMode::kLong64);
    g_.load({op, 0x0a, 0xf4});
    EXPECT_EQ(g_.run(), Stop::kShutdown) << "opcode " << int{op} << ": #UD, no IDT";
  }
}

}  // namespace
}  // namespace skvm::cpu::testing
