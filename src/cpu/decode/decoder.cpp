// SDM Vol. 2A ch. 2 (instruction format) and Appendix A (opcode maps).
#include "cpu/decode/decoder.h"

#include <array>
#include <vector>

#include "cpu/exec/locked.h"
#include "cpu/isa/isa.h"
#include "cpu/state.h"

namespace skvm::cpu::decode {
namespace {

using isa::kRows;

// Row candidates per (map, opcode byte), in table order. Built once.
struct Index {
  std::array<std::array<std::vector<uint16_t>, 256>, isa::kNumMaps> rows;
  Index() {
    for (uint16_t i = 0; i < isa::kNumRows; ++i) {
      const isa::Row& r = kRows[i];
      unsigned n = (r.attrs & isa::kAttrPlusCc) ? 16 : (r.attrs & isa::kAttrPlusR) ? 8 : 1;
      for (unsigned k = 0; k < n; ++k) rows[r.map][(r.opcode + k) & 0xff].push_back(i);
    }
  }
};
const Index& index() {
  static const Index idx;
  return idx;
}

struct Cursor {
  const uint8_t* p;
  unsigned avail;
  unsigned pos = 0;
  bool short_ = false;  // ran past avail
  uint8_t u8() {
    if (pos >= avail) {
      short_ = true;
      ++pos;
      return 0;
    }
    return p[pos++];
  }
  uint64_t le(unsigned n) {
    uint64_t v = 0;
    for (unsigned i = 0; i < n; ++i) v |= uint64_t{u8()} << (8 * i);
    return v;
  }
};

// Opcodes that take a ModRM byte (SDM Vol. 2D Appendix A), for encodings
// without a row: the emulation-failure exit then reports the right length
// for the ModRM-based forms. One bit per opcode, maps 1 and 0F.
bool has_modrm_unknown(unsigned map, uint8_t op) {
  if (map == isa::kMap0F38 || map == isa::kMap0F3A) return true;  // all take ModRM
  if (map == isa::kMap1) {
    if (op < 0x40) return (op & 7) < 4;
    return (op >= 0x62 && op <= 0x63) || op == 0x69 || op == 0x6b || (op >= 0x80 && op <= 0x8f) ||
           op == 0xc0 || op == 0xc1 || (op >= 0xc4 && op <= 0xc7) || (op >= 0xd0 && op <= 0xd3) ||
           (op >= 0xd8 && op <= 0xdf) || op == 0xf6 || op == 0xf7 || op == 0xfe || op == 0xff;
  }
  static constexpr uint8_t kNoModrm[] = {0x05, 0x06, 0x07, 0x08, 0x09, 0x0b, 0x0e, 0x30, 0x31, 0x32,
                                         0x33, 0x34, 0x35, 0x37, 0x77, 0xa0, 0xa1, 0xa2, 0xa8, 0xa9, 0xaa};
  for (uint8_t n : kNoModrm)
    if (n == op) return false;
  if (op >= 0x80 && op <= 0x8f) return false;
  if (op >= 0xc8 && op <= 0xcf) return false;
  return true;
}

int64_t sext(uint64_t v, unsigned bytes) {
  unsigned sh = 64 - 8 * bytes;
  return static_cast<int64_t>(v << sh) >> sh;
}

}  // namespace

Decoded decode(const uint8_t* bytes, unsigned avail, unsigned code_size, Insn* out, isa::FeatureSet features) {
  Cursor c{bytes, avail};
  const bool m64 = code_size == 8;
  bool opsize_ovr = false, addr_ovr = false, lock = false;
  uint8_t rep = 0;  // 0, 0xf2, 0xf3 (last wins)
  uint8_t seg = 0xff;
  uint8_t rex = 0;
  uint8_t b;
  // Legacy prefixes, any order; REX counts only when it is the last byte
  // before the opcode (SDM Vol. 2A 2.2.1).
  for (;;) {
    b = c.u8();
    if (c.short_ || c.pos > kMaxInsnLen) break;
    switch (b) {
      case 0x26: case 0x2e: case 0x36: case 0x3e:
        // In 64-bit mode ES/CS/SS/DS overrides are ignored (null prefixes).
        if (!m64) seg = static_cast<uint8_t>((b >> 3) & 3);  // 26->ES 2E->CS 36->SS 3E->DS
        rex = 0;
        continue;
      case 0x64: seg = kFs; rex = 0; continue;
      case 0x65: seg = kGs; rex = 0; continue;
      case 0x66: opsize_ovr = true; rex = 0; continue;
      case 0x67: addr_ovr = true; rex = 0; continue;
      case 0xf0: lock = true; rex = 0; continue;
      case 0xf2: case 0xf3: rep = b; rex = 0; continue;
      default: break;
    }
    if (m64 && (b & 0xf0) == 0x40) {
      rex = b;
      continue;
    }
    break;
  }
  Insn& in = *out;
  in = Insn{};
  auto finish_special = [&](Handler h, unsigned len) {
    in.fn = h;
    in.len = static_cast<uint8_t>(len);
    in.row = isa::kRowUnknown;
    in.attrs_end = 1;
    return Decoded{len, true, false};
  };
  auto need_more = [&]() -> Decoded {
    if (avail >= kMaxInsnLen) return finish_special(exec::handler_gp0(), kMaxInsnLen);
    return Decoded{0, false, false};
  };
  if (c.short_) return need_more();
  if (c.pos > kMaxInsnLen) return finish_special(exec::handler_gp0(), kMaxInsnLen);

  unsigned map = isa::kMap1;
  if (b == 0x0f) {
    map = isa::kMap0F;
    b = c.u8();
    if (c.short_) return need_more();
    if (b == 0x38 || b == 0x3a) {  // three-byte opcode maps
      map = b == 0x38 ? isa::kMap0F38 : isa::kMap0F3A;
      b = c.u8();
      if (c.short_) return need_more();
    }
  }
  in.opcode = b;
  const std::vector<uint16_t>& cands = index().rows[map][b];

  // Mandatory prefix class of this instruction: F2/F3 take precedence over
  // 66 whatever the order (SDM Vol. 2A 2.1.2, "mandatory prefix"); between
  // F2 and F3 the last one counts.
  isa::Pfx have = rep == 0xf3 ? isa::kPfxF3
                  : rep == 0xf2 ? isa::kPfxF2
                  : opsize_ovr  ? isa::kPfx66
                                : isa::kPfxNone;
  bool any_modrm = cands.empty() && has_modrm_unknown(map, b);
  for (uint16_t r : cands) any_modrm |= kRows[r].mod != isa::kModNone;
  uint8_t modrm = 0;
  if (any_modrm) {
    modrm = c.u8();
    if (c.short_) return need_more();
  }
  const unsigned mod = modrm >> 6, mreg = (modrm >> 3) & 7, mrm = modrm & 7;

  const isa::Row* row = nullptr;
  uint16_t row_idx = isa::kRowUnknown;
  auto pick = [&](isa::Pfx pfx_class) {
    row = nullptr;
    row_idx = isa::kRowUnknown;
    for (uint16_t r : cands) {
      const isa::Row& cand = kRows[r];
      if ((cand.attrs & isa::kAttrO64) && !m64) continue;
      if (cand.pfx != isa::kPfxAny && cand.pfx != pfx_class) continue;
      if (cand.mod != isa::kModNone) {
        if (cand.reg != isa::kRegAny && cand.reg != static_cast<int8_t>(mreg)) continue;
        if (cand.mod == isa::kModMem && mod == 3) continue;
        if (cand.mod == isa::kModReg && mod != 3) continue;
      }
      row = &cand;
      row_idx = r;
      return;
    }
  };
  pick(have);

  // CPUID gate (the row's feature column, isa/features.h): decided here so
  // that executing the record checks nothing. Without the feature the form
  // raises #UD, or, for kAttrGateFallback rows, is the form without the
  // mandatory prefix (TZCNT/LZCNT run as BSF/BSR on CPUs without them).
  bool gated = false;
  if (row != nullptr &&
      !isa::has_feature(features, isa::effective_feature(row->feature, m64, (rex & 8) != 0))) {
    if (row->attrs & isa::kAttrGateFallback) {
      pick(isa::kPfxNone);
    } else {
      gated = true;
    }
  }

  // Operand and address size (SDM Vol. 1 3.6, Vol. 2A 2.2.1.2).
  const bool rex_w = rex & 8;
  unsigned osz = code_size == 8 ? 4 : code_size;
  if (opsize_ovr) osz = osz == 2 ? 4 : 2;
  unsigned asz = code_size;
  if (addr_ovr) asz = code_size == 8 ? 4 : (code_size == 4 ? 2 : 4);
  isa::Wid wid = row ? row->wid : isa::kWidV;
  switch (wid) {
    case isa::kWidB: osz = 1; break;
    case isa::kWidV: if (rex_w) osz = 8; break;
    case isa::kWidD64: if (m64) osz = opsize_ovr && !rex_w ? 2 : 8; break;
    case isa::kWidF64: if (m64) osz = 8; break;
    case isa::kWidZ: break;
    case isa::kWidW: osz = 2; break;
    case isa::kWidCr: osz = m64 ? 8 : 4; break;
    case isa::kWidX: osz = m64 && rex_w ? 8 : 4; break;
  }
  in.osize = static_cast<uint8_t>(osz);
  in.asize = static_cast<uint8_t>(asz);
  in.pfx = static_cast<uint8_t>((rep == 0xf3 ? kInsnRep : 0) | (rep == 0xf2 ? kInsnRepne : 0) |
                                (lock ? kInsnLock : 0) | (rex ? kInsnRex : 0));

  // Registers: byte registers 4..7 are AH..BH unless a REX prefix is present.
  auto reg_operand = [&](unsigned r, bool extend, bool byte) -> uint8_t {
    unsigned full = r | (extend ? 8u : 0u);
    if (byte && !rex && r >= 4) return static_cast<uint8_t>(kHighByteReg + r - 4);
    return static_cast<uint8_t>(full);
  };

  uint8_t eff_seg_default = kDs;
  bool force_reg = map == isa::kMap0F && (b >= 0x20 && b <= 0x23);  // MOV CRn/DRn: mod ignored
  if (any_modrm) {
    in.reg = reg_operand(mreg, rex & 4, osz == 1);
    if (mod == 3 || force_reg) {
      // MOVZX/MOVSX Gv, Eb read a byte register whatever the operand size.
      bool byte_src = map == isa::kMap0F && (b == 0xb6 || b == 0xbe);
      in.rm = reg_operand(mrm, rex & 1, osz == 1 || byte_src);
    } else {
      in.pfx |= kInsnMem;
      if (asz == 2) {
        // 16-bit addressing forms (SDM Vol. 2A Table 2-1).
        static constexpr uint8_t kBase[8] = {kRbx, kRbx, kRbp, kRbp, kRsi, kRdi, kRbp, kRbx};
        static constexpr uint8_t kIndex[8] = {kRsi, kRdi, kRsi, kRdi, kNoReg, kNoReg, kNoReg, kNoReg};
        if (mod == 0 && mrm == 6) {
          in.disp = static_cast<int32_t>(sext(c.le(2), 2));
        } else {
          in.base = kBase[mrm];
          in.index = kIndex[mrm];
          if (mrm == 2 || mrm == 3 || mrm == 6) eff_seg_default = kSs;
          if (mod == 1) in.disp = static_cast<int32_t>(sext(c.u8(), 1));
          if (mod == 2) in.disp = static_cast<int32_t>(sext(c.le(2), 2));
        }
      } else {
        // 32/64-bit forms (SDM Vol. 2A Tables 2-2, 2-3).
        unsigned base_lo = mrm;
        if (mrm == 4) {
          uint8_t sib = c.u8();
          unsigned ss = sib >> 6, idx = ((sib >> 3) & 7) | ((rex & 2) ? 8 : 0);
          base_lo = sib & 7;
          in.scale = static_cast<uint8_t>(ss);
          in.index = idx == 4 ? kNoReg : static_cast<uint8_t>(idx);
          if (base_lo == 5 && mod == 0) {
            in.base = kNoReg;
            in.disp = static_cast<int32_t>(c.le(4));
          } else {
            in.base = static_cast<uint8_t>(base_lo | ((rex & 1) ? 8 : 0));
          }
        } else if (mrm == 5 && mod == 0) {
          in.base = m64 ? kRipReg : kNoReg;
          in.disp = static_cast<int32_t>(c.le(4));
        } else {
          in.base = static_cast<uint8_t>(mrm | ((rex & 1) ? 8 : 0));
        }
        if (in.base == kRsp || in.base == kRbp) eff_seg_default = kSs;
        if (mod == 1) in.disp = static_cast<int32_t>(sext(c.u8(), 1));
        if (mod == 2) in.disp = static_cast<int32_t>(c.le(4));
      }
    }
  }
  in.seg = seg != 0xff ? seg : eff_seg_default;

  if (row && (row->attrs & (isa::kAttrPlusR))) {
    in.reg = reg_operand(b & 7, rex & 1, osz == 1);
  }

  // Immediates.
  if (row) {
    switch (row->imm) {
      case isa::kImmNone: break;
      case isa::kImmB: in.imm = c.u8(); break;
      case isa::kImmSB: in.imm = static_cast<uint64_t>(sext(c.u8(), 1)); break;
      case isa::kImmW: in.imm = c.le(2); break;
      case isa::kImmZ: {
        unsigned n = osz == 2 ? 2 : 4;
        in.imm = static_cast<uint64_t>(sext(c.le(n), n));
        break;
      }
      case isa::kImmV: in.imm = c.le(osz); break;
      case isa::kImmO: in.imm = c.le(asz); break;
      case isa::kImmAp: {
        unsigned n = osz == 2 ? 2 : 4;
        in.imm = c.le(n);
        in.imm2 = static_cast<uint16_t>(c.le(2));
        break;
      }
      case isa::kImmWB:
        in.imm = c.le(2);
        in.imm2 = c.u8();
        break;
      case isa::kRel8: in.imm = static_cast<uint64_t>(sext(c.u8(), 1)); break;
      case isa::kRelZ: {
        unsigned n = osz == 2 ? 2 : 4;
        in.imm = static_cast<uint64_t>(sext(c.le(n), n));
        break;
      }
    }
  }
  if (c.short_) return need_more();
  if (c.pos > kMaxInsnLen) return finish_special(exec::handler_gp0(), kMaxInsnLen);
  in.len = static_cast<uint8_t>(c.pos);
  in.row = row_idx;

  if (!row) {
    in.fn = exec::handler_unimplemented();
    in.attrs_end = 1;
    return Decoded{c.pos, true, false};
  }
  bool invalid = gated || (row->attrs & isa::kAttrUd) || ((row->attrs & isa::kAttrI64) && m64) ||
                 (lock && (!(row->attrs & isa::kAttrLock) || !(in.pfx & kInsnMem)));
  if (invalid) {
    in.fn = exec::handler_ud();
    in.attrs_end = 1;
    return Decoded{c.pos, true, false};
  }
  in.fn = exec::handler_for(row_idx, osz);
  if (needs_bus_lock(lock, map == isa::kMap1, b, in.pfx & kInsnMem)) in.fn = exec::handler_bus_locked();
  bool end = row->attrs & (isa::kAttrEnd | isa::kAttrSys);
  bool sys = row->attrs & isa::kAttrSys;
  // REP string forms may stop mid-way (I/O exits) or run long: keep them
  // as the last record of their block so that the restart point is clean.
  if ((row->attrs & isa::kAttrRep) && (rep != 0)) end = true;
  in.attrs_end = static_cast<uint8_t>((end ? 1 : 0) | (sys ? 2 : 0));
  return Decoded{c.pos, end, sys};
}

}  // namespace skvm::cpu::decode
