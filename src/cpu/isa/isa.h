// The instruction table's vocabulary. Every instruction fact lives in one
// place, opcodes.inc (X-macro rows); this header turns the rows into a
// constexpr array that the decoder, the diagnostics (mnemonic names) and the
// unit tests' coverage read. Handlers are attached in exec/dispatch.cpp from
// the same rows.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "cpu/isa/features.h"

namespace skvm::cpu::isa {

// Opcode map.
// Opcode maps: one-byte, 0F, 0F 38 and 0F 3A (SDM Vol. 2D Appendix A).
enum Map : uint8_t { kMap1 = 0, kMap0F = 1, kMap0F38 = 2, kMap0F3A = 3 };
inline constexpr unsigned kNumMaps = 4;

// Mandatory prefix (the last of 66/F2/F3 that selects the form).
enum Pfx : uint8_t { kPfxAny, kPfxNone, kPfx66, kPfxF3, kPfxF2 };

// ModRM presence and constraints.
inline constexpr int8_t kRegAny = -1;
enum ModC : uint8_t { kModNone, kModAny, kModMem, kModReg };

// Immediate / extra encoded operand.
enum Imm : uint8_t {
  kImmNone,
  kImmB,    // imm8, zero-extended
  kImmSB,   // imm8, sign-extended
  kImmW,    // imm16
  kImmZ,    // imm16/imm32 by operand size, sign-extended to 64
  kImmV,    // imm16/32/64 by operand size (MOV r, imm)
  kImmO,    // moffs: address-size offset
  kImmAp,   // far pointer: offset (16/32 by operand size) then selector16
  kImmWB,   // imm16 then imm8 (ENTER)
  kRel8,    // rel8, sign-extended
  kRelZ,    // rel16/rel32 by operand size, sign-extended
};

// Operand-size class.
enum Wid : uint8_t {
  kWidB,    // byte
  kWidV,    // 16/32/64 (66, REX.W)
  kWidD64,  // defaults to 64 in 64-bit mode (66 selects 16)
  kWidF64,  // forced 64 in 64-bit mode (near branches)
  kWidZ,    // 16/32 only (IN/OUT eAX)
  kWidW,    // always 16
  kWidCr,   // 64 in 64-bit mode, else 32 whatever the prefixes (MOV CRn/DRn)
  kWidX,    // SSE/MMX forms: 66/F2/F3 are mandatory prefixes and do not change
            // the size; 8 with REX.W in 64-bit mode (MOVD/MOVQ, CVTSI2SS), else 4
};

// Attributes.
enum Attr : uint16_t {
  kAttrLock = 1 << 0,    // LOCK allowed (with a memory destination)
  kAttrRep = 1 << 1,     // F3/F2 act as REP/REPE/REPNE
  kAttrEnd = 1 << 2,     // ends the decoded block (control transfer)
  kAttrPriv = 1 << 3,    // CPL 0 only (#GP(0) otherwise)
  kAttrI64 = 1 << 4,     // invalid in 64-bit mode (#UD)
  kAttrO64 = 1 << 5,     // exists only in 64-bit mode (else the next row)
  kAttrSys = 1 << 6,     // may change mode/paging/descriptor tables: ends
                         // the block and drops chained successors
  kAttrUd = 1 << 7,      // architecturally #UD (UD2 and friends)
  kAttrPlusR = 1 << 8,   // opcode+0..7 select a register (+rb/+rw/+rd)
  kAttrPlusCc = 1 << 9,  // opcode+0..15 select a condition code
  kAttrGateFallback = 1 << 10,  // without its CPUID feature the mandatory
                                // prefix is ignored: decodes as the NP row
                                // (TZCNT/LZCNT -> BSF/BSR, SDM Vol. 2B)
};

// Flags written (RFLAGS bit mask), for readers of the table.
inline constexpr uint32_t kFNone = 0;
inline constexpr uint32_t kFArith = 0x8d5;      // CF PF AF ZF SF OF
inline constexpr uint32_t kFArithNoCf = 0x8d4;  // INC/DEC
inline constexpr uint32_t kFCfOf = 0x801;       // rotates
inline constexpr uint32_t kFCf = 0x001;
inline constexpr uint32_t kFOf = 0x800;
inline constexpr uint32_t kFZf = 0x040;
inline constexpr uint32_t kFAll = 0x3f7fd5;      // POPF/IRET (filtered by mode)
inline constexpr uint32_t kFIf = 0x200;
inline constexpr uint32_t kFDf = 0x400;
inline constexpr uint32_t kFLow = 0xd5;          // SAHF

struct Row {
  std::string_view name;  // SDM operand notation: ADD_EbGb
  Map map;
  uint8_t opcode;
  Pfx pfx;
  int8_t reg;  // ModRM.reg constraint (or the +r register base for kModNone rows)
  ModC mod;
  Imm imm;
  Wid wid;
  uint16_t attrs;
  uint32_t flags;
  Feature feature;  // CPUID gate (features.h): without it the form is #UD
};

inline constexpr Row kRows[] = {
#define ROW(name, map, op, pfx, reg, mod, imm, wid, attrs, flags, feature, handler) \
  Row{#name, map, op, pfx, reg, mod, imm, wid, static_cast<uint16_t>(attrs), flags, feature},
#include "cpu/isa/opcodes.inc"
#undef ROW
};
inline constexpr size_t kNumRows = sizeof(kRows) / sizeof(kRows[0]);

// Two rows with the same map/opcode/prefix/reg/mod (and 64-bit validity)
// would make the decoder's choice depend on row order: rejected.
// Sorted, so duplicates are neighbours: O(n log n) keeps the compile-time
// evaluation within the compilers' constexpr step limits as the table grows.
consteval bool rows_unique() {
  std::array<uint64_t, kNumRows> keys{};
  std::array<std::string_view, kNumRows> names{};
  for (size_t i = 0; i < kNumRows; ++i) {
    const Row& r = kRows[i];
    keys[i] = (uint64_t{r.map} << 40) | (uint64_t{r.opcode} << 32) | (uint64_t{r.pfx} << 24) |
              (uint64_t(uint8_t(r.reg + 1)) << 16) | (uint64_t{r.mod} << 8) |
              ((r.attrs & kAttrO64) ? 1u : 0u);
    names[i] = r.name;
  }
  std::sort(keys.begin(), keys.end());
  std::sort(names.begin(), names.end());
  for (size_t i = 1; i < kNumRows; ++i) {
    if (keys[i] == keys[i - 1] || names[i] == names[i - 1]) return false;
  }
  return true;
}
static_assert(rows_unique(), "opcodes.inc: duplicate row (same encoding or same name)");

// A row with ModRM constraints must declare a ModRM byte; LOCK needs one.
consteval bool rows_consistent() {
  for (const Row& r : kRows) {
    if (r.mod == kModNone && (r.attrs & kAttrLock)) return false;
    if (r.reg < -1 || r.reg > 7) return false;
    if (r.feature >= kNumFeatures) return false;
    if ((r.attrs & kAttrGateFallback) && (r.feature == kFeatNone || r.pfx == kPfxNone || r.pfx == kPfxAny)) return false;
  }
  return true;
}
static_assert(rows_consistent(), "opcodes.inc: inconsistent row");

inline constexpr uint16_t kRowUnknown = 0xffff;

inline std::string_view row_name(uint16_t row) {
  return row < kNumRows ? kRows[row].name : std::string_view("(unknown)");
}

}  // namespace skvm::cpu::isa
