// MOVBE (SDM Vol. 2B) and ADCX/ADOX (SDM Vol. 2A) against the host CPU:
// the same instruction runs
// natively (tests/unit/cpu/native_runner.h, rBX pointing at a host buffer)
// and in the engine (64-bit guest, rBX pointing at guest memory holding the
// same bytes); registers, RFLAGS and the 16 bytes at rBX must agree.
#include <cpuid.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "cpu/isa/features.h"
#include "exec_harness.h"
#include "native_runner.h"

namespace skvm::cpu::testing {
namespace {

constexpr uint64_t kData = 0x6000;

bool host_has_movbe() {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
  return (c >> 22) & 1;
}

bool host_has_adx() {
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  return (b >> 19) & 1;
}

struct Result {
  Regs regs;
  uint8_t mem[16];
};

Result run_guest(const std::vector<uint8_t>& insn, const Regs& in, const uint8_t (&mem)[16]) {
  Guest g(GuestMode::kLong64);
  g.bus().load(kData, std::vector<uint8_t>(mem, mem + 16));
  std::vector<uint8_t> code = insn;
  code.push_back(0xf4);
  g.load(code);
  g.r(kRax) = in.rax;
  g.r(kRcx) = in.rcx;
  g.r(kRdx) = in.rdx;
  g.r(kRbx) = kData;
  g.s().rflags = in.flags;
  g.cpu().state_changed();
  EXPECT_EQ(g.run(), Stop::kHlt);
  Result r{};
  r.regs = Regs{g.r(kRax), g.r(kRcx), g.r(kRdx), kData, g.s().rflags};
  for (unsigned k = 0; k < 16; ++k) r.mem[k] = g.bus().peek<uint8_t>(kData + k);
  return r;
}

TEST(Isa4Native, MovbeLoadsAndStoresMatchTheHostCpu) {
  if (!host_has_movbe()) GTEST_SKIP() << "host CPU lacks MOVBE (CPUID.01H:ECX[22])";
  NativeRunner native;
  ASSERT_TRUE(native.ok());
  const std::vector<std::vector<uint8_t>> prefixes = {{}, {0x66}, {0x48}, {0x66, 0x48}};
  const uint64_t values[] = {0, 0x0123456789abcdefull, 0xffffffffffffffffull, 0x8000000000000080ull};
  const uint64_t flags[] = {0x202, 0x202 | 0x8d5};
  unsigned cases = 0;
  for (const auto& pfx : prefixes) {
    for (uint8_t op : {0xf0, 0xf1}) {
      // movbe (e/r)ax, [rbx] / movbe [rbx], (e/r)ax; and rcx with a disp8.
      for (uint8_t modrm : {0x03, 0x4b}) {
        std::vector<uint8_t> insn = pfx;
        insn.insert(insn.end(), {0x0f, 0x38, op, modrm});
        if (modrm == 0x4b) insn.push_back(0x04);
        for (uint64_t v : values)
          for (uint64_t f : flags) {
            uint8_t mem[16];
            for (unsigned k = 0; k < 16; ++k) mem[k] = static_cast<uint8_t>(0x11 * k + (v & 0xff));
            alignas(16) uint8_t host[16];
            std::memcpy(host, mem, 16);
            Regs nat{v, ~v, 0x5555, reinterpret_cast<uint64_t>(host), f};
            native.run(insn, &nat);
            Result g = run_guest(insn, Regs{v, ~v, 0x5555, 0, f}, mem);
            std::string name = "insn";
            for (uint8_t b : insn) name += " " + std::to_string(b);
            EXPECT_EQ(g.regs.rax, nat.rax) << name;
            EXPECT_EQ(g.regs.rcx, nat.rcx) << name;
            EXPECT_EQ(g.regs.flags, nat.flags) << name;
            EXPECT_EQ(std::memcmp(g.mem, host, 16), 0) << name << ": memory";
            ++cases;
          }
      }
    }
  }
  EXPECT_EQ(cases, 4u * 2 * 2 * 4 * 2);
}

TEST(Isa4Native, AdcxAdoxMatchTheHostCpu) {
  if (!host_has_adx()) GTEST_SKIP() << "host CPU lacks ADX (CPUID.07H:EBX[19])";
  NativeRunner native;
  ASSERT_TRUE(native.ok());
  const uint64_t values[] = {0, 1, 0x7fffffff, 0xffffffff, 0xfffffffffffffffeull, 0xffffffffffffffffull,
                             0x123456789abcdef0ull};
  // Every combination of CF and OF (the other arithmetic flags clear, then set).
  const uint64_t flags[] = {0x202, 0x2d7, 0xa02, 0xad7};
  unsigned cases = 0;
  for (uint8_t pfx : {0x66, 0xf3})
    for (bool w : {false, true})
      for (bool mem : {false, true}) {
        // adcx/adox (e/r)ax, (e/r)cx | [rbx]
        std::vector<uint8_t> insn = {pfx};
        if (w) insn.push_back(0x48);
        insn.insert(insn.end(), {0x0f, 0x38, 0xf6, static_cast<uint8_t>(mem ? 0x03 : 0xc1)});
        for (uint64_t a : values)
          for (uint64_t c : values)
            for (uint64_t f : flags) {
              uint8_t bytes[16];
              std::memcpy(bytes, &c, 8);
              std::memcpy(bytes + 8, &a, 8);
              alignas(16) uint8_t host[16];
              std::memcpy(host, bytes, 16);
              Regs nat{a, c, 0x77, reinterpret_cast<uint64_t>(host), f};
              native.run(insn, &nat);
              Result g = run_guest(insn, Regs{a, c, 0x77, 0, f}, bytes);
              const std::string name = std::string(pfx == 0x66 ? "adcx" : "adox") + (w ? "64" : "32") +
                                       (mem ? " mem" : " reg");
              EXPECT_EQ(g.regs.rax, nat.rax) << name << " a=" << a << " c=" << c << " f=" << f;
              EXPECT_EQ(g.regs.flags, nat.flags) << name << " a=" << a << " c=" << c << " f=" << f;
              ++cases;
            }
      }
  EXPECT_EQ(cases, 2u * 2 * 2 * 7 * 7 * 4);
}

TEST(Isa4, MovbeRegisterFormsAreUndefined) {
  for (uint8_t op : {0xf0, 0xf1}) {
    Guest g(GuestMode::kLong64);
    g.load({0x0f, 0x38, op, 0xc1, 0xf4});
    EXPECT_EQ(g.run(), Stop::kShutdown) << "#UD without an IDT escalates to a triple fault";
    EXPECT_EQ(g.s().rip, Guest::kCode);
  }
}

TEST(Isa4, F2PrefixedF0F1StayCrc32) {
  // F2 0F 38 F1 C1 = crc32 eax, ecx (not MOVBE): eax = crc32c(0, ecx).
  Guest g(GuestMode::kLong64);
  g.load({0xf2, 0x0f, 0x38, 0xf1, 0xc1, 0xf4});
  g.s().cr4 |= kCr4OSFXSR;
  g.r(kRax) = 0;
  g.r(kRcx) = 0;
  g.cpu().state_changed();
  EXPECT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.s().rip, Guest::kCode + 6);
}

}  // namespace
}  // namespace skvm::cpu::testing
