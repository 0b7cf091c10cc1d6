// x87 forms against the host processor (STYLE rule 4): every valid register
// form of D8..DF and every load/store memory form, from random x87 states
// (special operands: ±0, ±inf, QNaN/SNaN, denormals, pseudo-denormals,
// unnormals, pseudo-NaN/inf, boundary integers, BCD with invalid digits;
// random TOP and tags for stack overflow/underflow; random precision and
// rounding control; random exception masks) run on the engine in 64-bit
// and 32-bit protected mode and natively in the test process from the same
// FXSAVE image.
// FCW/FSW/FTW, the eight registers, the memory operand, RFLAGS (FCOMI,
// FCMOVcc) must match bit for bit; FIP/FDP/FOP are updated exactly when the
// host updates them, with the guest's addresses.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "cpu/exec/x87_native.h"
#include "exec_harness.h"
#include "x87_oracle.h"

namespace skvm::cpu::testing {
namespace {

constexpr uint64_t kMemAt = 0x3000;

// Interesting 80-bit values: sign, exponent, significand.
void put80(uint8_t* p, uint64_t mant, uint16_t se) {
  std::memcpy(p, &mant, 8);
  std::memcpy(p + 8, &se, 2);
}

class Gen {
 public:
  explicit Gen(uint32_t seed) : rng_(seed) {}
  uint64_t u64() { return rng_(); }
  unsigned below(unsigned n) { return static_cast<unsigned>(rng_() % n); }

  void reg80(uint8_t* p) {
    uint16_t sign = below(2) ? 0x8000 : 0;
    uint64_t m = u64();
    switch (below(12)) {
      case 0: put80(p, 0, sign); break;                                              // ±0
      case 1: put80(p, 1ull << 63, sign | 0x7fff); break;                            // ±inf
      case 2: put80(p, (3ull << 62) | (m >> 2), sign | 0x7fff); break;               // QNaN
      case 3: put80(p, (1ull << 63) | ((m >> 2) | 1), sign | 0x7fff); break;         // SNaN
      case 4: put80(p, m >> 1, sign); break;                                         // denormal
      case 5: put80(p, m | (1ull << 63), sign); break;                               // pseudo-denormal
      case 6: put80(p, m >> 1, sign | static_cast<uint16_t>(1 + below(0x7ffe))); break;  // unnormal
      case 7: put80(p, m >> 1, sign | 0x7fff); break;                                // pseudo-NaN/inf
      case 8: put80(p, m | (1ull << 63), sign | static_cast<uint16_t>(0x3fff + below(64) - 32)); break;
      case 9: put80(p, m | (1ull << 63), sign | static_cast<uint16_t>(0x3fff + below(130) - 65)); break;
      case 10: put80(p, m | (1ull << 63), sign | static_cast<uint16_t>(1 + below(0x7ffe))); break;
      default: {  // small integers and exact values
        long double v = static_cast<long double>(static_cast<int>(below(2001)) - 1000) / (1 + below(4));
        std::memcpy(p, &v, 10);
        break;
      }
    }
  }

  void memory(unsigned size, uint8_t* p) {
    std::memset(p, 0, 16);
    uint64_t m = u64();
    switch (below(6)) {
      case 0: std::memcpy(p, &m, size > 8 ? 8 : size); if (size == 10) { uint16_t e = static_cast<uint16_t>(u64()); std::memcpy(p + 8, &e, 2); } break;
      case 1: {  // boundary integers / float specials
        static const uint64_t kEdges[] = {0, 1, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff,
                                          0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0x00000001, 0x007fffff,
                                          0x7ff0000000000000ull, 0x7ff8000000000000ull, 0x0000000000000001ull,
                                          0x8000000000000000ull, 0x7fffffffffffffffull, 0xffffffffffffffffull};
        uint64_t v = kEdges[below(sizeof kEdges / sizeof kEdges[0])];
        std::memcpy(p, &v, size > 8 ? 8 : size);
        break;
      }
      case 2: {
        float f = static_cast<float>(static_cast<int>(below(2001)) - 1000) / 7.0f;
        double d = f;
        if (size == 4) std::memcpy(p, &f, 4);
        else if (size == 8) std::memcpy(p, &d, 8);
        else if (size == 2) { int16_t v = static_cast<int16_t>(f); std::memcpy(p, &v, 2); }
        else reg80(p);
        break;
      }
      case 3: {  // packed BCD with valid digits
        for (unsigned k = 0; k < 9; ++k) p[k] = static_cast<uint8_t>((below(10) << 4) | below(10));
        p[9] = below(2) ? 0x80 : 0;
        if (size < 10) std::memset(p + size, 0, 16 - size);
        break;
      }
      case 4: if (size == 10) reg80(p); else std::memcpy(p, &m, size > 8 ? 8 : size); break;
      default: {
        int32_t v = static_cast<int32_t>(below(65536)) - 32768;
        std::memcpy(p, &v, size >= 4 ? 4 : size);
        break;
      }
    }
  }

  // Random FXSAVE image: registers, TOP, tags, condition codes, FCW
  // (precision, rounding, masks); no exception pending (sticky flags only
  // where masked).
  void state(Fx* f) {
    std::memset(f->b, 0, sizeof f->b);
    for (unsigned k = 0; k < 8; ++k) reg80(f->b + 32 + 16 * k);
    uint16_t fcw = static_cast<uint16_t>(0x40 | (below(4) << 8) | (below(4) << 10));
    fcw |= below(3) == 0 ? static_cast<uint16_t>(u64() & 0x3f) : 0x3f;
    uint16_t top = static_cast<uint16_t>(below(8));
    uint16_t flags = static_cast<uint16_t>(u64() & 0x3f & fcw);
    uint16_t cc = static_cast<uint16_t>(u64() & 0x4700);
    uint16_t fsw = static_cast<uint16_t>(cc | (top << 11) | flags);
    uint8_t tags = below(3) == 0 ? static_cast<uint8_t>(u64()) : below(2) ? 0xff : static_cast<uint8_t>(0xff << below(8));
    std::memcpy(f->b + 0, &fcw, 2);
    std::memcpy(f->b + 2, &fsw, 2);
    f->b[4] = tags;
    uint32_t mxcsr = 0x1f80;
    std::memcpy(f->b + 24, &mxcsr, 4);
  }

 private:
  std::mt19937_64 rng_;
};

struct Form {
  uint8_t op, modrm;  // modrm: register form, or memory form with rm = 3 ([rbx])
  unsigned size;      // memory operand bytes (0: register form)
};

std::vector<Form> all_forms() {
  std::vector<Form> v;
  static const uint8_t kMem[8][8] = {
      {4, 4, 4, 4, 4, 4, 4, 4}, {4, 0, 4, 4, 0, 2, 0, 0}, {4, 4, 4, 4, 4, 4, 4, 4}, {4, 4, 4, 4, 0, 10, 0, 10},
      {8, 8, 8, 8, 8, 8, 8, 8}, {8, 8, 8, 8, 0, 0, 0, 0}, {2, 2, 2, 2, 2, 2, 2, 2}, {2, 2, 2, 2, 10, 8, 10, 8},
  };
  for (unsigned op = 0; op < 8; ++op) {
    for (unsigned reg = 0; reg < 8; ++reg) {
      if (kMem[op][reg]) v.push_back({static_cast<uint8_t>(0xd8 + op), static_cast<uint8_t>((reg << 3) | 3), kMem[op][reg]});
      for (unsigned rm = 0; rm < 8; ++rm) {
        uint8_t modrm = static_cast<uint8_t>(0xc0 | (reg << 3) | rm);
        uint8_t o = static_cast<uint8_t>(0xd8 + op);
        if (!x87::reg_form_valid(o, modrm)) continue;
        if (o == 0xdb && reg == 4) continue;  // FNCLEX/FNINIT/no-ops: X87Control tests
        if (o == 0xdf && reg == 4) continue;  // FNSTSW AX: X87Control tests
        v.push_back({o, modrm, 0});
      }
    }
  }
  return v;
}

// Memory forms that write their operand (FST/FSTP/FIST/FISTP/FISTTP/FBSTP).
bool is_store(const Form& f) {
  if (!f.size) return false;
  unsigned reg = (f.modrm >> 3) & 7;
  switch (f.op) {
    case 0xd9: return reg == 2 || reg == 3;
    case 0xdb: return (reg >= 1 && reg <= 3) || reg == 7;
    case 0xdd: return reg >= 1 && reg <= 3;
    case 0xdf: return (reg >= 1 && reg <= 3) || reg >= 6;
    default: return false;
  }
}

uint16_t r16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
uint64_t r64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

TEST(X87Native, EveryFormMatchesHostBitForBit) {
  X87Oracle oracle;
  if (!oracle.ok()) GTEST_SKIP() << "cannot map an executable page for the native oracle";
  Guest g(GuestMode::kLong64);
  Gen gen(87);
  unsigned mismatches = 0, runs = 0, fop_updates = 0, es_set = 0, stores_suppressed = 0;
  const std::vector<Form> forms = all_forms();
  for (const Form& f : forms) {
    for (unsigned trial = 0; trial < 24 && mismatches < 10; ++trial) {
      // Odd trials in 32-bit protected mode: same encodings, [ebx].
      const GuestMode mode = (trial & 1) ? GuestMode::kProt32 : GuestMode::kLong64;
      Fx start;
      gen.state(&start);
      uint8_t mem[16];
      gen.memory(f.size ? f.size : 8, mem);
      uint64_t flags = (gen.u64() & 0x8d5) | 2;

      Fx native = start;
      uint8_t nmem[16];
      std::memcpy(nmem, mem, 16);
      uint64_t nflags = flags;
      uint8_t nmodrm = f.size ? static_cast<uint8_t>((f.modrm & 0x38) | 7) : f.modrm;
      oracle.run({f.op, nmodrm}, &native, nmem, &nflags);

      g.enter(mode);
      CpuState& s = g.s();
      std::memcpy(s.fxsave.data(), start.b, 512);
      s.rflags = flags;
      s.gpr[kRbx] = kMemAt;
      for (unsigned k = 0; k < 16; ++k) g.bus().poke<uint8_t>(kMemAt + k, mem[k]);
      g.load({f.op, f.modrm, 0xf4});
      g.cpu().state_changed();
      ASSERT_EQ(g.run(), Stop::kHlt) << std::hex << int(f.op) << " " << int(f.modrm);

      const uint8_t* e = s.fxsave.data();
      ++runs;
      fop_updates += r16(e + 6) != 0;
      es_set += (r16(e + 2) & 0x80) != 0;
      stores_suppressed += is_store(f) && std::memcmp(nmem, mem, 16) == 0;
      bool ok = std::memcmp(e, native.b, 6) == 0 && std::memcmp(e + 32, native.b + 32, 128) == 0;
      for (unsigned k = 0; k < 16; ++k) ok &= g.bus().peek<uint8_t>(kMemAt + k) == nmem[k];
      ok &= (s.rflags & 0x8d5) == (nflags & 0x8d5);
      // Pointers: updated exactly when the host updates them.
      uint16_t want_fop = r16(native.b + 6) ? static_cast<uint16_t>(((f.op & 7) << 8) | f.modrm) : 0;
      ok &= r16(e + 6) == want_fop;
      ok &= r64(e + 8) == (r64(native.b + 8) ? Guest::kCode : 0);
      ok &= r64(e + 16) == (r64(native.b + 16) ? (f.size ? kMemAt : r64(e + 16)) : 0);
      if (!ok) {
        ++mismatches;
        ADD_FAILURE() << std::hex << mode_name(mode) << " form " << int(f.op) << " " << int(f.modrm) << " trial " << trial
                      << ": engine fcw/fsw/ftw " << r16(e) << "/" << r16(e + 2) << "/" << int(e[4])
                      << " native " << r16(native.b) << "/" << r16(native.b + 2) << "/" << int(native.b[4])
                      << " fop " << r16(e + 6) << " vs " << r16(native.b + 6) << " st0 " << r64(e + 32)
                      << " vs " << r64(native.b + 32) << " flags " << s.rflags << " vs " << nflags;
      }
    }
  }
  EXPECT_EQ(mismatches, 0u);
  // The random states reach the interesting paths: unmasked exceptions
  // (ES, FOP/FDP updates) and memory forms whose store was suppressed.
  EXPECT_GT(forms.size(), 450u);
  EXPECT_EQ(runs, forms.size() * 24);
  EXPECT_GT(fop_updates, runs / 50);
  EXPECT_GT(es_set, runs / 50);
  EXPECT_GT(stores_suppressed, 0u);
  std::printf("x87: %zu forms, %u runs, %u with ES, %u FOP updates\n", forms.size(), runs, es_set, fop_updates);
}

}  // namespace
}  // namespace skvm::cpu::testing
