#include "generator.h"

#include <cstring>
#include <sstream>
#include <string_view>

#include "cpu/isa/isa.h"

namespace skvm::fuzz {
namespace {

using namespace skvm::cpu::isa;

bool chance(Rng& rng, int percent) { return static_cast<int>(rng() % 100) < percent; }
uint64_t below(Rng& rng, uint64_t n) { return rng() % n; }

void put(std::vector<uint8_t>& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// A register number usable as an operand: never rBX (the data pointer) or
// rSP (the stack), nor BH (no REX) / SPL (REX) in byte forms.
bool reg_ok(int num, bool byte, bool rex) {
  if (num >= 8) return true;
  if (num == kRbx) return false;
  if (byte && !rex) return num != 7;
  return num != kRsp;
}

int pick_reg(Rng& rng, bool byte, bool rex) {
  for (;;) {
    int n = static_cast<int>(below(rng, rex ? 16 : 8));
    if (reg_ok(n, byte, rex)) return n;
  }
}

// Shift/rotate counts and bit offsets: the width boundaries.
uint8_t edge_count(Rng& rng) {
  static const uint8_t kCounts[] = {0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 0x80, 0xff};
  if (chance(rng, 70)) return kCounts[below(rng, sizeof kCounts)];
  return static_cast<uint8_t>(rng());
}

struct Encoding {
  FuzzMode mode;
  int osz = 32;        // operand size in bits (8 for byte forms)
  bool p66 = false;    // operand-size prefix
  bool rex = false;    // a REX byte is present (64-bit mode)
  bool rex_w = false, rex_r = false, rex_b = false;
};

int default_osz(FuzzMode m) { return m == FuzzMode::k16 ? 16 : 32; }
int address_bytes(FuzzMode m) { return m == FuzzMode::k16 ? 2 : m == FuzzMode::k32 ? 4 : 8; }

// Setup in front of a string instruction: rSI/rDI into the data region,
// optionally a small rCX for REP. Address size is the mode's default.
void string_setup(Program& p, Rng& rng, bool rep) {
  auto lea = [&](int reg) {
    Insn i{{}, kSetupRow, reg == 6 ? "setup: rSI into the data region" : "setup: rDI into the data region"};
    if (p.mode == FuzzMode::k64) i.bytes.push_back(0x48);
    i.bytes.push_back(0x8d);
    // [bx+disp8] is rm=7 with 16-bit addressing, [rbx+disp8] rm=3 otherwise.
    i.bytes.push_back(static_cast<uint8_t>(0x40 | (reg << 3) | (p.mode == FuzzMode::k16 ? 7 : 3)));
    i.bytes.push_back(static_cast<uint8_t>(static_cast<int8_t>(below(rng, 0xa0) - 0x50)));
    p.body.push_back(i);
  };
  lea(6);
  lea(7);
  if (rep) {
    Insn i{{0xb9}, kSetupRow, "setup: small rCX for REP"};
    put(i.bytes, below(rng, 5), p.mode == FuzzMode::k16 ? 2 : 4);
    p.body.push_back(i);
  }
}

// 0F opcodes of the MMX/SSE families (SDM Vol. 2D, Table A-3): not the
// integer unit this fuzzer covers (also when their rows use another class).
bool simd_opcode(uint8_t op) {
  return (op >= 0x10 && op <= 0x17) || (op >= 0x28 && op <= 0x2f) || (op >= 0x50 && op <= 0x7f) ||
         (op >= 0xc2 && op <= 0xc6) || op >= 0xd0 || op == 0x0e || op == 0x77 ||
         op == 0x38 || op == 0x3a;
}

}  // namespace

std::vector<std::string> split_names(const std::string& csv) {
  std::vector<std::string> out;
  std::stringstream ss(csv);
  std::string s;
  while (std::getline(ss, s, ',')) {
    if (!s.empty()) out.push_back(s);
  }
  return out;
}

std::vector<uint16_t> fuzzable_rows(FuzzMode mode, const std::vector<std::string>& excluded) {
  // Not generated: POPA (reloads rBX, the data pointer) and BOUND (#BR by
  // design). ENTER and LEAVE get a frame pointer first (emit_row).
  static const std::string_view kNever[] = {"POPA", "BOUND_GvMa"};
  std::vector<uint16_t> out;
  for (size_t i = 0; i < kNumRows; ++i) {
    const Row& r = kRows[i];
    if (r.attrs & (kAttrEnd | kAttrSys | kAttrPriv | kAttrUd)) continue;
    if ((r.attrs & kAttrI64) && mode == FuzzMode::k64) continue;
    if ((r.attrs & kAttrO64) && mode != FuzzMode::k64) continue;
    // SIMD maps: not integer, except MOVBE (0F 38 F0/F1) and ADCX/ADOX
    // (0F 38 F6, whose 66/F3 are mandatory: kWidX).
    const bool gpr_0f38 = r.feature == kFeatMovbe || r.feature == kFeatAdx;
    if (r.map != kMap1 && r.map != kMap0F && !gpr_0f38) continue;
    if (r.wid == kWidX && !gpr_0f38) continue;  // MMX/SSE forms
    if (r.map == kMap0F && simd_opcode(r.opcode)) continue;
    if (r.imm == kImmAp || r.imm == kRel8 || r.imm == kRelZ) continue;
    bool skip = false;
    for (auto n : kNever) skip |= r.name == n;
    for (const auto& n : excluded) {
      // NAME or NAME@16|32|64 (excluded in that mode only).
      size_t at = n.find('@');
      skip |= at == std::string::npos ? r.name == n
                                      : (r.name == n.substr(0, at) && n.substr(at + 1) == mode_name(mode));
    }
    // x87/SSE rows share maps with the integer ones: only rows whose
    // handlers are integer (the x87 escapes D8..DF, SSE 0F 10.. are not).
    if (r.map == kMap1 && r.opcode >= 0xd8 && r.opcode <= 0xdf) skip = true;
    if (!skip) out.push_back(static_cast<uint16_t>(i));
  }
  return out;
}

uint64_t edge_value(Rng& rng) {
  static const uint64_t kEdges[] = {
      0, 1, 2, ~0ull, ~1ull, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000,
      0x7fffffff, 0x80000000, 0xffffffff, 0x100000000ull, 0x7fffffffffffffffull,
      0x8000000000000000ull, 0xffffffffffffff80ull, 0xffffffffffff8000ull,
      0xffffffff80000000ull, 0x0f0f0f0f0f0f0f0full, 0x8080808080808080ull};
  switch (below(rng, 6)) {
    case 0:
    case 1: return kEdges[below(rng, sizeof kEdges / sizeof kEdges[0])];
    case 2: return below(rng, 70);  // small: shift counts, bit offsets
    case 3: return rng() & ((1ull << (8 << below(rng, 3))) - 1);  // one width
    case 4: return static_cast<uint64_t>(static_cast<int64_t>(static_cast<int8_t>(rng())));
    default: return rng();
  }
}

bool emit_row(Program& p, uint16_t row, Rng& rng, bool native, bool host_kvm) {
  const Row& r = kRows[row];
  const bool m64 = p.mode == FuzzMode::k64;
  if ((r.attrs & kAttrI64) && m64) return false;
  if ((r.attrs & kAttrO64) && !m64) return false;
  const std::string_view name = r.name;

  Encoding e{p.mode};
  const int def = default_osz(p.mode);
  // Operand size (SDM Vol. 1, 3.6 / Vol. 2A 2.2.1.2).
  bool may_66 = r.pfx == kPfxAny || r.pfx == kPfxF3 || r.pfx == kPfxF2;
  e.p66 = r.pfx == kPfx66 || (may_66 && r.wid != kWidB && r.wid != kWidW && chance(rng, 30));
  if (m64) {
    e.rex = chance(rng, 50);
    e.rex_w = e.rex && r.wid != kWidB && chance(rng, 60);
  }
  switch (r.wid) {
    case kWidB: e.osz = 8; break;
    case kWidW: e.osz = 16; break;
    case kWidD64:
      e.osz = m64 ? (e.rex_w ? 64 : e.p66 ? 16 : 64) : (e.p66 ? 48 - def : def);
      break;
    default:
      e.osz = e.rex_w ? 64 : (e.p66 ? 48 - def : def);
      break;
  }
  const bool byte = e.osz == 8;
  // CMPXCHG16B (REX.W) must be 16-aligned and, locked, the host cannot run it.
  const bool is_cx8 = name == "CMPXCHG8B_Mq";

  Insn insn{{}, row, std::string(name)};

  // ModRM (port I/O rows end blocks: kAttrEnd, never generated).
  bool has_modrm = r.mod != kModNone;
  bool mem = false;
  int reg = 0, rm = 0;
  int8_t disp = 0;
  bool use_disp = true;
  bool use_sib = false;  // [rbx + disp] through a SIB byte (index 100: none)
  bool addr67 = false;   // address-size prefix
  if (has_modrm) {
    mem = r.mod == kModMem || (r.mod == kModAny && (chance(rng, 45) || is_cx8));
    if (r.mod == kModReg) mem = false;
    if (r.reg != kRegAny) {
      reg = r.reg;
    } else if (name == "MOV_EvSw") {
      reg = static_cast<int>(below(rng, 6));
    } else {
      reg = pick_reg(rng, byte || name == "SETcc_Eb", e.rex);
    }
    if (mem) {
      disp = static_cast<int8_t>(rng());
      if (is_cx8 && e.rex_w) disp = static_cast<int8_t>(disp & ~0xf);
      use_disp = !chance(rng, 15);
      if (!use_disp) disp = 0;
      // Other encodings of the same address: a SIB byte without index, or
      // the 67 prefix where the other address size still reaches rBX
      // (16-bit mode: [ebx]; 64-bit mode: [ebx]). Not in 32-bit mode, where
      // [bx] would be a different (and live: the GDT) address.
      use_sib = p.mode != FuzzMode::k16 && chance(rng, 15);
      addr67 = p.mode != FuzzMode::k32 && chance(rng, 10);
      if (addr67 && p.mode == FuzzMode::k16 && chance(rng, 30)) use_sib = true;
    } else {
      // The r/m register: byte forms with byte registers; SETcc writes one.
      bool rm_byte = byte || name == "SETcc_Eb" || name == "MOVZX_GvEb" || name == "MOVSX_GvEb";
      rm = pick_reg(rng, rm_byte, e.rex);
    }
    // MOVZX/MOVSX Gv (a full register) never names BH/SPL.
    e.rex_r = reg >= 8;
    e.rex_b = rm >= 8;
  }

  // Setups before the instruction.
  if (starts_with(name, "DIV_") || starts_with(name, "IDIV_")) {
    if (chance(rng, 75)) {
      Insn s{{}, kSetupRow, "setup: high half of the dividend"};
      bool idiv = name[0] == 'I';
      if (byte) {
        if (idiv) {  // cbw (66 98 outside 16-bit mode)
          if (p.mode != FuzzMode::k16) s.bytes.push_back(0x66);
          s.bytes.push_back(0x98);
        } else {  // xor ah, ah
          s.bytes = {0x32, 0xe4};
        }
      } else {
        if (e.p66) s.bytes.push_back(0x66);
        if (e.rex_w) s.bytes.push_back(0x48);
        if (idiv) s.bytes.push_back(0x99);  // cwd/cdq/cqo
        else s.bytes.insert(s.bytes.end(), {0x31, 0xd2});  // xor edx, edx
      }
      p.body.push_back(s);
    }
  }
  if (r.map == kMap0F && (r.opcode == 0xa3 || r.opcode == 0xab || r.opcode == 0xb3 || r.opcode == 0xbb) && mem) {
    // Bit-string forms: the bit offset in Gv addresses memory (SDM Vol. 2A,
    // BT): keep it in -512..511 so the byte lies in the data region.
    for (int k = 0; k < 2; ++k) {
      Insn s{{}, kSetupRow, k == 0 ? "setup: and Gv, 0x3ff (bit offset)" : "setup: sub Gv, 0x200"};
      if (e.p66) s.bytes.push_back(0x66);
      if (m64 && (e.rex_w || reg >= 8)) s.bytes.push_back(static_cast<uint8_t>(0x40 | (e.rex_w ? 8 : 0) | (reg >> 3)));
      s.bytes.push_back(0x81);
      s.bytes.push_back(static_cast<uint8_t>(0xc0 | ((k == 0 ? 4 : 5) << 3) | (reg & 7)));
      put(s.bytes, k == 0 ? 0x3ff : 0x200, e.osz == 16 ? 2 : 4);
      p.body.push_back(s);
    }
  }
  if (name == "ENTER_IwIb" || name == "LEAVE") {
    // A frame pointer on the stack: mov rBP, rSP (89 E5, REX.W in 64-bit).
    Insn s{{}, kSetupRow, "setup: mov rBP, rSP (frame pointer)"};
    if (m64) s.bytes.push_back(0x48);
    s.bytes.insert(s.bytes.end(), {0x89, 0xe5});
    p.body.push_back(s);
  }
  const bool is_string = (r.attrs & kAttrRep) != 0;
  bool rep = false;
  if (is_string) {
    rep = chance(rng, 50);
    string_setup(p, rng, rep);
  }

  // Prefixes: segment override, LOCK, 66, mandatory/REP, REX.
  std::vector<uint8_t>& b = insn.bytes;
  if ((mem || (is_string && !starts_with(name, "STOS") && !starts_with(name, "SCAS"))) && chance(rng, 15)) {
    static const uint8_t kSeg[] = {0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65};
    b.push_back(kSeg[below(rng, native ? 4 : 6)]);
  }
  if ((r.attrs & kAttrLock) && mem && !(is_cx8 && e.rex_w) && chance(rng, 30)) b.push_back(0xf0);
  if (addr67) b.push_back(0x67);
  if (e.p66) b.push_back(0x66);
  if (r.pfx == kPfxF3) b.push_back(0xf3);
  if (r.pfx == kPfxF2) b.push_back(0xf2);
  if (rep) {
    bool cmp = starts_with(name, "CMPS") || starts_with(name, "SCAS");
    b.push_back(cmp && chance(rng, 50) ? 0xf2 : 0xf3);
  }
  int plus = 0;
  if (r.attrs & kAttrPlusR) {
    plus = pick_reg(rng, byte, e.rex);
    if (name == "XCHG_ZveAX" && plus == 0 && !e.rex) plus = 1;  // 90 is NOP (or PAUSE)
    e.rex_b = plus >= 8;
  }
  if (r.attrs & kAttrPlusCc) plus = static_cast<int>(below(rng, 16));
  if (e.rex_r || e.rex_b) e.rex = true;
  if (e.rex) b.push_back(static_cast<uint8_t>(0x40 | (e.rex_w ? 8 : 0) | (e.rex_r ? 4 : 0) | (e.rex_b ? 1 : 0)));
  if (r.map == kMap0F) b.push_back(0x0f);
  if (r.map == kMap0F38) b.insert(b.end(), {0x0f, 0x38});
  b.push_back(static_cast<uint8_t>(r.opcode + (plus & ((r.attrs & kAttrPlusCc) ? 15 : 7))));
  if (has_modrm) {
    if (mem) {
      // 16-bit addressing: [bx] is rm=7; 32/64-bit: [rbx] is rm=3, or rm=4
      // with SIB base=3 (rbx) index=4 (none) (SDM Vol. 2A, Tables 2-1..2-3).
      bool a16 = p.mode == FuzzMode::k16 && !addr67;
      int base_rm = a16 ? 7 : use_sib ? 4 : 3;
      b.push_back(static_cast<uint8_t>(((use_disp ? 1 : 0) << 6) | ((reg & 7) << 3) | base_rm));
      if (!a16 && use_sib) b.push_back(static_cast<uint8_t>((below(rng, 4) << 6) | (4 << 3) | 3));
      if (use_disp) b.push_back(static_cast<uint8_t>(disp));
    } else {
      b.push_back(static_cast<uint8_t>(0xc0 | ((reg & 7) << 3) | (rm & 7)));
    }
  }
  // Immediates (SDM Vol. 2A, 2.2.1.5 for 64-bit immediates).
  const bool count_like = (r.map == kMap1 && (r.opcode == 0xc0 || r.opcode == 0xc1)) ||
                          (r.map == kMap0F && (r.opcode == 0xa4 || r.opcode == 0xac || r.opcode == 0xba));
  switch (r.imm) {
    case kImmNone: break;
    case kImmB:
    case kImmSB:
      if (count_like) b.push_back(edge_count(rng));
      else if (name == "AAM_Ib" && chance(rng, 90)) b.push_back(static_cast<uint8_t>(below(rng, 255) + 1));
      else b.push_back(static_cast<uint8_t>(edge_value(rng)));
      break;
    case kImmW: put(b, edge_value(rng), 2); break;
    case kImmZ: put(b, edge_value(rng), e.osz == 16 ? 2 : 4); break;
    case kImmV: put(b, edge_value(rng), e.osz / 8); break;
    case kImmO: put(b, data_gpa(p.mode) + below(rng, kDataSize - 8), address_bytes(p.mode)); break;
    case kImmWB:  // ENTER: frame size, nesting level (mostly small)
      put(b, below(rng, 4) == 0 ? below(rng, 65) : below(rng, 9) * 8, 2);
      b.push_back(static_cast<uint8_t>(host_kvm ? 0 : chance(rng, 80) ? below(rng, 4) : below(rng, 33)));
      break;
    default: return false;
  }
  p.body.push_back(std::move(insn));
  return true;
}

Program generate(FuzzMode mode, const std::vector<uint16_t>& rows, int length, Rng& rng, bool native,
                 bool host_kvm) {
  Program p;
  p.mode = mode;
  for (auto& v : p.regs) v = edge_value(rng);
  if (mode != FuzzMode::k64) {
    for (auto& v : p.regs) v &= 0xffffffff;
  }
  // Arithmetic flags at random, DF sometimes, IF set (user code always runs
  // with IF=1, which keeps PUSHF comparable with the native oracle).
  p.flags = 0x202 | (static_cast<uint32_t>(rng()) & kFlagsArith) | (chance(rng, 20) ? 0x400 : 0);
  for (size_t i = 0; i < kDataSize; i += 8) {
    uint64_t v = edge_value(rng);
    std::memcpy(p.data + i, &v, 8);
  }
  for (int n = 0; n < length && !rows.empty();) {
    if (emit_row(p, rows[below(rng, rows.size())], rng, native, host_kvm)) ++n;
  }
  return p;
}

}  // namespace skvm::fuzz
