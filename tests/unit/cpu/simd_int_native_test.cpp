// Every MMX / SSE2 / SSSE3 / SSE4.1 / SSE4.2 integer form of
// isa/opcodes_simd_int.inc, register and memory operands, with randomized
// operands, against the host CPU executing the same bytes (STYLE rule 4).
#include <gtest/gtest.h>

#include <cstdio>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "simd_int_harness.h"

namespace skvm::cpu::testing {
namespace {

enum Feat : uint8_t { kSse2, kSsse3, kSse41, kSse42 };

struct Form {
  std::string name;
  std::vector<uint8_t> op;  // prefixes and opcode bytes
  uint8_t modrm;            // ModRM of this form (register or [rsi])
  bool imm;
  Feat feat;
};

// gtest prints the form by name instead of its bytes.
void PrintTo(const Form& f, std::ostream* os) { *os << f.name; }

bool host_has(Feat f) {
  switch (f) {
    case kSse2: return __builtin_cpu_supports("sse2");
    case kSsse3: return __builtin_cpu_supports("ssse3");
    case kSse41: return __builtin_cpu_supports("sse4.1");
    default: return __builtin_cpu_supports("sse4.2");
  }
}

std::vector<uint8_t> map_bytes(int map) {
  if (map == 1) return {0x0f, 0x38};
  if (map == 2) return {0x0f, 0x3a};
  return {0x0f};
}
std::vector<uint8_t> cat(std::vector<uint8_t> a, const std::vector<uint8_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Register form reg=0, rm=1 (ModRM C1) and memory form reg=0, [rsi] (06).
void add_rm(std::vector<Form>& v, const std::string& name, std::vector<uint8_t> op, bool imm, Feat f,
            uint8_t reg_modrm = 0xc1, uint8_t mem_modrm = 0x06) {
  v.push_back({name + "_reg", op, reg_modrm, imm, f});
  if (mem_modrm != 0xff) v.push_back({name + "_mem", op, mem_modrm, imm, f});
}
// MMX (no prefix) and XMM (66) forms.
void add_pv(std::vector<Form>& v, const std::string& name, int map, uint8_t opc, Feat f, bool imm = false) {
  add_rm(v, name + "_mmx", cat(map_bytes(map), {opc}), imm, f);
  add_rm(v, name + "_xmm", cat(cat({0x66}, map_bytes(map)), {opc}), imm, f);
}
void add_v(std::vector<Form>& v, const std::string& name, int map, uint8_t opc, Feat f, bool imm = false) {
  add_rm(v, name, cat(cat({0x66}, map_bytes(map)), {opc}), imm, f);
}

std::vector<Form> all_forms() {
  std::vector<Form> v;
  struct P {
    const char* n;
    uint8_t op;
  };
  // 0F map, MMX and XMM.
  for (P p : {P{"punpcklbw", 0x60}, P{"punpcklwd", 0x61}, P{"punpckldq", 0x62}, P{"packsswb", 0x63},
              P{"pcmpgtb", 0x64}, P{"pcmpgtw", 0x65}, P{"pcmpgtd", 0x66}, P{"packuswb", 0x67},
              P{"punpckhbw", 0x68}, P{"punpckhwd", 0x69}, P{"punpckhdq", 0x6a}, P{"packssdw", 0x6b},
              P{"pcmpeqb", 0x74}, P{"pcmpeqw", 0x75}, P{"pcmpeqd", 0x76}, P{"psrlw", 0xd1},
              P{"psrld", 0xd2}, P{"psrlq", 0xd3}, P{"paddq", 0xd4}, P{"pmullw", 0xd5}, P{"psubusb", 0xd8},
              P{"psubusw", 0xd9}, P{"pminub", 0xda}, P{"pand", 0xdb}, P{"paddusb", 0xdc},
              P{"paddusw", 0xdd}, P{"pmaxub", 0xde}, P{"pandn", 0xdf}, P{"pavgb", 0xe0}, P{"psraw", 0xe1},
              P{"psrad", 0xe2}, P{"pavgw", 0xe3}, P{"pmulhuw", 0xe4}, P{"pmulhw", 0xe5}, P{"psubsb", 0xe8},
              P{"psubsw", 0xe9}, P{"pminsw", 0xea}, P{"por", 0xeb}, P{"paddsb", 0xec}, P{"paddsw", 0xed},
              P{"pmaxsw", 0xee}, P{"pxor", 0xef}, P{"psllw", 0xf1}, P{"pslld", 0xf2}, P{"psllq", 0xf3},
              P{"pmuludq", 0xf4}, P{"pmaddwd", 0xf5}, P{"psadbw", 0xf6}, P{"psubb", 0xf8},
              P{"psubw", 0xf9}, P{"psubd", 0xfa}, P{"psubq", 0xfb}, P{"paddb", 0xfc}, P{"paddw", 0xfd},
              P{"paddd", 0xfe}})
    add_pv(v, p.n, 0, p.op, kSse2);
  add_v(v, "punpcklqdq", 0, 0x6c, kSse2);
  add_v(v, "punpckhqdq", 0, 0x6d, kSse2);
  add_rm(v, "pshufw", {0x0f, 0x70}, true, kSse2);
  add_rm(v, "pshufd", {0x66, 0x0f, 0x70}, true, kSse2);
  add_rm(v, "pshufhw", {0xf3, 0x0f, 0x70}, true, kSse2);
  add_rm(v, "pshuflw", {0xf2, 0x0f, 0x70}, true, kSse2);
  // Shift groups: register only, r/m = 1.
  struct G {
    const char* n;
    uint8_t op, ext;
    bool mmx;
  };
  for (G g : {G{"psrlw_i", 0x71, 2, true}, G{"psraw_i", 0x71, 4, true}, G{"psllw_i", 0x71, 6, true},
              G{"psrld_i", 0x72, 2, true}, G{"psrad_i", 0x72, 4, true}, G{"pslld_i", 0x72, 6, true},
              G{"psrlq_i", 0x73, 2, true}, G{"psllq_i", 0x73, 6, true}, G{"psrldq_i", 0x73, 3, false},
              G{"pslldq_i", 0x73, 7, false}}) {
    uint8_t modrm = static_cast<uint8_t>(0xc1 | (g.ext << 3));
    if (g.mmx) v.push_back({std::string(g.n) + "_mmx", {0x0f, g.op}, modrm, true, kSse2});
    v.push_back({std::string(g.n) + "_xmm", {0x66, 0x0f, g.op}, modrm, true, kSse2});
  }
  add_rm(v, "pinsrw_mmx", {0x0f, 0xc4}, true, kSse2);
  add_rm(v, "pinsrw_xmm", {0x66, 0x0f, 0xc4}, true, kSse2);
  add_rm(v, "pextrw_mmx", {0x0f, 0xc5}, true, kSse2, 0xc1, 0xff);
  add_rm(v, "pextrw_xmm", {0x66, 0x0f, 0xc5}, true, kSse2, 0xc1, 0xff);
  add_rm(v, "pmovmskb_mmx", {0x0f, 0xd7}, false, kSse2, 0xc1, 0xff);
  add_rm(v, "pmovmskb_xmm", {0x66, 0x0f, 0xd7}, false, kSse2, 0xc1, 0xff);
  add_rm(v, "pextrw_xmm_rexw", {0x66, 0x48, 0x0f, 0xc5}, true, kSse2, 0xc1, 0xff);
  add_rm(v, "pmovmskb_xmm_rexw", {0x66, 0x48, 0x0f, 0xd7}, false, kSse2, 0xc1, 0xff);
  add_rm(v, "pinsrw_xmm_rexw", {0x66, 0x48, 0x0f, 0xc4}, true, kSse2);
  add_rm(v, "maskmovq", {0x0f, 0xf7}, false, kSse2, 0xc1, 0xff);
  add_rm(v, "maskmovdqu", {0x66, 0x0f, 0xf7}, false, kSse2, 0xc1, 0xff);
  // SSSE3.
  for (P p : {P{"pshufb", 0x00}, P{"phaddw", 0x01}, P{"phaddd", 0x02}, P{"phaddsw", 0x03},
              P{"pmaddubsw", 0x04}, P{"phsubw", 0x05}, P{"phsubd", 0x06}, P{"phsubsw", 0x07},
              P{"psignb", 0x08}, P{"psignw", 0x09}, P{"psignd", 0x0a}, P{"pmulhrsw", 0x0b}, P{"pabsb", 0x1c},
              P{"pabsw", 0x1d}, P{"pabsd", 0x1e}})
    add_pv(v, p.n, 1, p.op, kSsse3);
  add_pv(v, "palignr", 2, 0x0f, kSsse3, true);
  // SSE4.1 / SSE4.2, 66 0F 38.
  for (P p : {P{"pblendvb", 0x10}, P{"ptest", 0x17}, P{"pmovsxbw", 0x20}, P{"pmovsxbd", 0x21},
              P{"pmovsxbq", 0x22}, P{"pmovsxwd", 0x23}, P{"pmovsxwq", 0x24}, P{"pmovsxdq", 0x25},
              P{"pmuldq", 0x28}, P{"pcmpeqq", 0x29}, P{"packusdw", 0x2b}, P{"pmovzxbw", 0x30},
              P{"pmovzxbd", 0x31}, P{"pmovzxbq", 0x32}, P{"pmovzxwd", 0x33}, P{"pmovzxwq", 0x34},
              P{"pmovzxdq", 0x35}, P{"pminsb", 0x38}, P{"pminsd", 0x39}, P{"pminuw", 0x3a},
              P{"pminud", 0x3b}, P{"pmaxsb", 0x3c}, P{"pmaxsd", 0x3d}, P{"pmaxuw", 0x3e}, P{"pmaxud", 0x3f},
              P{"pmulld", 0x40}, P{"phminposuw", 0x41}})
    add_v(v, p.n, 1, p.op, kSse41);
  add_v(v, "pcmpgtq", 1, 0x37, kSse42);
  add_rm(v, "movntdqa", {0x66, 0x0f, 0x38, 0x2a}, false, kSse41, 0x06, 0xff);
  add_v(v, "pblendw", 2, 0x0e, kSse41, true);
  add_v(v, "mpsadbw", 2, 0x42, kSse41, true);
  // PEXTR*: reg = xmm1, r/m = eax / [rsi]; PINSR*: reg = xmm0, r/m = ecx / [rsi].
  add_rm(v, "pextrb", {0x66, 0x0f, 0x3a, 0x14}, true, kSse41, 0xc8, 0x0e);
  add_rm(v, "pextrw_0f3a", {0x66, 0x0f, 0x3a, 0x15}, true, kSse41, 0xc8, 0x0e);
  add_rm(v, "pextrd", {0x66, 0x0f, 0x3a, 0x16}, true, kSse41, 0xc8, 0x0e);
  add_rm(v, "pextrq", {0x66, 0x48, 0x0f, 0x3a, 0x16}, true, kSse41, 0xc8, 0x0e);
  add_rm(v, "pinsrb", {0x66, 0x0f, 0x3a, 0x20}, true, kSse41);
  add_rm(v, "pinsrd", {0x66, 0x0f, 0x3a, 0x22}, true, kSse41);
  add_rm(v, "pinsrq", {0x66, 0x48, 0x0f, 0x3a, 0x22}, true, kSse41);
  // SSE4.2 string compares (explicit lengths in rax/rdx; REX.W: 64-bit).
  for (P p : {P{"pcmpestrm", 0x60}, P{"pcmpestri", 0x61}, P{"pcmpistrm", 0x62}, P{"pcmpistri", 0x63}})
    add_v(v, p.n, 2, p.op, kSse42, true);
  add_rm(v, "pcmpestri_w", {0x66, 0x48, 0x0f, 0x3a, 0x61}, true, kSse42);
  add_rm(v, "pcmpestrm_w", {0x66, 0x48, 0x0f, 0x3a, 0x60}, true, kSse42);
  // CRC32 eax/rax, r/m of every width.
  add_rm(v, "crc32_b", {0xf2, 0x0f, 0x38, 0xf0}, false, kSse42);
  add_rm(v, "crc32_b_ah", {0xf2, 0x0f, 0x38, 0xf0}, false, kSse42, 0xc4, 0xff);
  add_rm(v, "crc32_b_rex", {0xf2, 0x40, 0x0f, 0x38, 0xf0}, false, kSse42, 0xc3, 0xff);
  add_rm(v, "crc32_w", {0x66, 0xf2, 0x0f, 0x38, 0xf1}, false, kSse42);
  add_rm(v, "crc32_w_f2_then_66", {0xf2, 0x66, 0x0f, 0x38, 0xf1}, false, kSse42);
  add_rm(v, "crc32_d", {0xf2, 0x0f, 0x38, 0xf1}, false, kSse42);
  add_rm(v, "crc32_q", {0xf2, 0x48, 0x0f, 0x38, 0xf1}, false, kSse42);
  add_rm(v, "crc32_q_b", {0xf2, 0x48, 0x0f, 0x38, 0xf0}, false, kSse42);
  return v;
}

class SimdIntNative : public ::testing::TestWithParam<Form> {
 protected:
  void SetUp() override {
    if (!native_.ok()) GTEST_SKIP() << "cannot map executable memory for the native oracle";
    if (!host_has(GetParam().feat)) GTEST_SKIP() << "host CPU lacks the feature of " << GetParam().name;
  }
  SimdNative native_;
  Guest g_;
};

std::string hex(const uint8_t* p, unsigned n) {
  std::string s;
  char buf[4];
  for (unsigned k = n; k-- > 0;) {
    std::snprintf(buf, sizeof buf, "%02x", p[k]);
    s += buf;
  }
  return s;
}

// Operand values: uniform, a small alphabet (equal / zero / boundary
// elements for compares, saturation and string matching), or small shift
// counts in the low quadword of the sources.
void fill(std::mt19937_64& rng, uint8_t* p, unsigned n, int kind) {
  static const uint8_t kAlpha[] = {0, 1, 2, 0x41, 0x42, 0x7f, 0x80, 0xff};
  for (unsigned k = 0; k < n; ++k) p[k] = kind == 1 ? kAlpha[rng() % 8] : static_cast<uint8_t>(rng());
}

TEST_P(SimdIntNative, MatchesHostCpuForRandomOperands) {
  const Form& f = GetParam();
  std::mt19937_64 rng(0x5eed ^ std::hash<std::string>()(f.name));
  int failures = 0;
  for (int it = 0; it < 300 && failures < 5; ++it) {
    SimdCtx in{};
    SimdMem mem{};
    int kind = static_cast<int>(rng() % 3);
    for (auto& x : in.xmm) fill(rng, x, 16, kind);
    fill(rng, reinterpret_cast<uint8_t*>(in.mm), 16, kind);
    fill(rng, mem.b, 64, kind);
    if (kind == 2) {
      uint64_t c = rng() % 70;
      std::memcpy(in.xmm[1], &c, 8);
      std::memcpy(mem.b, &c, 8);
      in.mm[1] = c;
    }
    in.rax = rng();
    in.rcx = rng();
    in.rdx = rng();
    in.rbx = rng();
    if (rng() % 2) {
      in.rax = static_cast<uint64_t>(static_cast<int64_t>(rng() % 41) - 20);
      in.rdx = static_cast<uint64_t>(static_cast<int64_t>(rng() % 41) - 20);
    }
    in.flags = 0x202 | (rng() & 0x8d5);
    std::vector<uint8_t> bytes = f.op;
    bytes.push_back(f.modrm);
    if (f.imm) bytes.push_back(static_cast<uint8_t>(rng()));

    SimdCtx nat = in, eng = in;
    SimdMem nmem = mem, emem = mem;
    native_.run(bytes, &nat, &nmem);
    ASSERT_EQ(run_soft(g_, bytes, &eng, &emem), Stop::kHlt) << f.name;
    const uint64_t fm = kFlagsArith;
    bool same = std::memcmp(nat.xmm, eng.xmm, sizeof nat.xmm) == 0 && nat.mm[0] == eng.mm[0] &&
                nat.mm[1] == eng.mm[1] && nat.rax == eng.rax && nat.rcx == eng.rcx && nat.rdx == eng.rdx &&
                nat.rbx == eng.rbx && (nat.flags & fm) == (eng.flags & fm) &&
                std::memcmp(nmem.b, emem.b, 64) == 0;
    if (!same) {
      ++failures;
      std::string msg = f.name + " imm=" + (f.imm ? std::to_string(bytes.back()) : "-") + "\n";
      for (unsigned k = 0; k < 4; ++k)
        msg += "  xmm" + std::to_string(k) + " in " + hex(in.xmm[k], 16) + " host " + hex(nat.xmm[k], 16) +
               " soft " + hex(eng.xmm[k], 16) + "\n";
      for (unsigned k = 0; k < 2; ++k)
        msg += "  mm" + std::to_string(k) + " in " + hex(reinterpret_cast<uint8_t*>(&in.mm[k]), 8) + " host " +
               hex(reinterpret_cast<uint8_t*>(&nat.mm[k]), 8) + " soft " +
               hex(reinterpret_cast<uint8_t*>(&eng.mm[k]), 8) + "\n";
      char buf[256];
      std::snprintf(buf, sizeof buf,
                    "  rax %llx/%llx/%llx rcx %llx/%llx/%llx rdx %llx/%llx/%llx flags %llx/%llx/%llx\n",
                    (unsigned long long)in.rax, (unsigned long long)nat.rax, (unsigned long long)eng.rax,
                    (unsigned long long)in.rcx, (unsigned long long)nat.rcx, (unsigned long long)eng.rcx,
                    (unsigned long long)in.rdx, (unsigned long long)nat.rdx, (unsigned long long)eng.rdx,
                    (unsigned long long)in.flags, (unsigned long long)(nat.flags & fm),
                    (unsigned long long)(eng.flags & fm));
      msg += buf;
      msg += "  mem in " + hex(mem.b, 32) + "\n   host " + hex(nmem.b, 32) + "\n   soft " + hex(emem.b, 32);
      ADD_FAILURE() << msg;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Forms, SimdIntNative, ::testing::ValuesIn(all_forms()),
                         [](const ::testing::TestParamInfo<Form>& p) { return p.param.name; });

}  // namespace
}  // namespace skvm::cpu::testing
