// The decoder against hand-checked encodings (SDM Vol. 2A ch. 2): lengths,
// prefixes (last-wins, REX position), ModRM/SIB/displacements, RIP-relative,
// 16-bit addressing, immediates, the 15-byte limit, and the table's own
// consistency.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "cpu/decode/decoder.h"
#include "cpu/isa/isa.h"
#include "cpu/state.h"

namespace skvm::cpu {
namespace {

struct D {
  Insn in;
  decode::Decoded d;
  std::string name;
};
D dec(std::vector<uint8_t> b, unsigned code_size = 8) {
  D r;
  r.d = decode::decode(b.data(), static_cast<unsigned>(b.size()), code_size, &r.in);
  r.name = std::string(isa::row_name(r.in.row));
  return r;
}

TEST(Decode, AluFormsGetTheirRowLengthAndOperands) {
  D a = dec({0x48, 0x01, 0xc8});  // add rax, rcx
  EXPECT_EQ(a.name, "ADD_EvGv");
  EXPECT_EQ(a.d.len, 3u);
  EXPECT_EQ(a.in.osize, 8);
  EXPECT_EQ(a.in.reg, kRcx);
  EXPECT_EQ(a.in.rm, kRax);
  D b = dec({0x83, 0xe8, 0xff});  // sub eax, -1
  EXPECT_EQ(b.name, "SUB_EvIb");
  EXPECT_EQ(b.in.imm, ~0ull);
  D c = dec({0x66, 0x81, 0xc3, 0x34, 0x12});  // add bx, 0x1234
  EXPECT_EQ(c.d.len, 5u);
  EXPECT_EQ(c.in.osize, 2);
  EXPECT_EQ(c.in.imm, 0x1234u);
}

TEST(Decode, SibWithIndexScaleAndDisp8) {
  D a = dec({0x8b, 0x44, 0x8e, 0x08});  // mov eax, [rsi+rcx*4+8]
  EXPECT_EQ(a.d.len, 4u);
  EXPECT_EQ(a.in.base, kRsi);
  EXPECT_EQ(a.in.index, kRcx);
  EXPECT_EQ(a.in.scale, 2);
  EXPECT_EQ(a.in.disp, 8);
  EXPECT_TRUE(a.in.pfx & kInsnMem);
}

TEST(Decode, RexExtendsSibBaseButR13WithModZeroStillNeedsDisp) {
  D a = dec({0x41, 0x8b, 0x45, 0x00});  // mov eax, [r13+0]
  EXPECT_EQ(a.d.len, 4u);
  EXPECT_EQ(a.in.base, kR13);
  D b = dec({0x42, 0x8b, 0x04, 0x25, 0x00, 0x31, 0, 0});  // mov eax, [abs 0x3100] (index none even with REX.X=1? no: r12)
  EXPECT_EQ(b.d.len, 8u);
  EXPECT_EQ(b.in.base, kNoReg);
  EXPECT_EQ(b.in.index, kR12);
}

TEST(Decode, RipRelativeOnlyIn64BitMode) {
  D a = dec({0x8b, 0x05, 0x10, 0, 0, 0});
  EXPECT_EQ(a.in.base, kRipReg);
  EXPECT_EQ(a.in.disp, 0x10);
  D b = dec({0x8b, 0x05, 0x10, 0, 0, 0}, 4);
  EXPECT_EQ(b.in.base, kNoReg);
}

TEST(Decode, SixteenBitAddressingUsesBpWithSs) {
  D a = dec({0x8b, 0x46, 0xfe}, 2);  // mov ax, [bp-2]
  EXPECT_EQ(a.d.len, 3u);
  EXPECT_EQ(a.in.base, kRbp);
  EXPECT_EQ(a.in.disp, -2);
  EXPECT_EQ(a.in.seg, kSs);
  EXPECT_EQ(a.in.asize, 2);
  D b = dec({0x8b, 0x00}, 2);  // mov ax, [bx+si]
  EXPECT_EQ(b.in.base, kRbx);
  EXPECT_EQ(b.in.index, kRsi);
  EXPECT_EQ(b.in.seg, kDs);
  D c = dec({0x8b, 0x06, 0x34, 0x12}, 2);  // mov ax, [0x1234]
  EXPECT_EQ(c.in.base, kNoReg);
  EXPECT_EQ(c.in.disp, 0x1234);
}

TEST(Decode, Imm64AndMoffs64) {
  D a = dec({0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8});
  EXPECT_EQ(a.d.len, 10u);
  EXPECT_EQ(a.in.imm, 0x0807060504030201ull);
  EXPECT_EQ(a.in.reg, kRax);
  D b = dec({0xa1, 1, 2, 3, 4, 5, 6, 7, 8});  // mov eax, [moffs64]
  EXPECT_EQ(b.d.len, 9u);
  EXPECT_EQ(b.in.imm, 0x0807060504030201ull);
  D c = dec({0x67, 0xa1, 1, 2, 3, 4});  // addr32 moffs
  EXPECT_EQ(c.d.len, 6u);
}

TEST(Decode, LastSegmentOverrideWinsAndEsCsSsDsAreIgnoredIn64BitMode) {
  D a = dec({0x26, 0x64, 0x8b, 0x00}, 4);
  EXPECT_EQ(a.in.seg, kFs);
  D b = dec({0x64, 0x26, 0x8b, 0x00}, 4);
  EXPECT_EQ(b.in.seg, kEs);
  D c = dec({0x26, 0x8b, 0x00}, 8);
  EXPECT_EQ(c.in.seg, kDs);
}

TEST(Decode, RexFollowedByALegacyPrefixIsIgnored) {
  D a = dec({0x48, 0x66, 0x01, 0xc8});  // REX.W then 66: REX dropped -> 16-bit
  EXPECT_EQ(a.in.osize, 2);
  D b = dec({0x66, 0x48, 0x01, 0xc8});  // 66 then REX.W: 64-bit
  EXPECT_EQ(b.in.osize, 8);
}

TEST(Decode, ByteRegistersAreHighBytesWithoutRexAndLowBytesWithIt) {
  D a = dec({0x88, 0xe0});  // mov al, ah
  EXPECT_EQ(a.in.reg, kHighByteReg + 0);
  D b = dec({0x40, 0x88, 0xe0});  // mov al, spl
  EXPECT_EQ(b.in.reg, kRsp);
}

TEST(Decode, PushDefaultsTo64BitAndJccNearIsForced64) {
  D a = dec({0x50});
  EXPECT_EQ(a.in.osize, 8);
  D b = dec({0x66, 0x50});
  EXPECT_EQ(b.in.osize, 2);
  D c = dec({0x66, 0x0f, 0x84, 0, 0, 0, 0});  // 66 ignored by Intel for Jcc in 64-bit mode
  EXPECT_EQ(c.in.osize, 8);
  EXPECT_TRUE(c.d.ends_block);
}

TEST(Decode, MovCrnIs32BitOutside64BitModeWhateverThePrefixes) {
  EXPECT_EQ(dec({0x0f, 0x20, 0xc0}, 2).in.osize, 4);  // mov eax, cr0 in 16-bit code
  EXPECT_EQ(dec({0x66, 0x0f, 0x22, 0xc0}, 4).in.osize, 4);
  EXPECT_EQ(dec({0x0f, 0x22, 0xc0}, 8).in.osize, 8);
  EXPECT_EQ(dec({0x0f, 0x20, 0x00}, 4).in.pfx & kInsnMem, 0);  // mod ignored: register
}

TEST(Decode, FifteenByteLimitDecodesToGeneralProtection) {
  std::vector<uint8_t> b(14, 0x66);
  b.push_back(0x01);
  b.push_back(0xc8);
  D a = dec(b);
  EXPECT_EQ(a.d.len, 15u);
  EXPECT_EQ(a.in.fn, exec::handler_gp0());
  EXPECT_TRUE(a.d.ends_block);
}

TEST(Decode, TruncatedInputAsksForMoreBytes) {
  D a = dec({0x48, 0xb8, 1, 2});
  EXPECT_EQ(a.d.len, 0u);
}

TEST(Decode, UnknownOpcodeIsNotImplementedAndInvalidFormsAreUd) {
  D a = dec({0x0f, 0x0d, 0x08});
  EXPECT_EQ(a.in.fn, exec::handler_unimplemented());
  EXPECT_EQ(a.d.len, 3u);
  D b = dec({0x0f, 0x0b});
  EXPECT_EQ(b.in.fn, exec::handler_ud());
  D c = dec({0xf0, 0x01, 0xc8});  // lock add eax, ecx: register destination
  EXPECT_EQ(c.in.fn, exec::handler_ud());
  D d = dec({0xf0, 0x01, 0x08});  // lock add [rax], ecx
  EXPECT_NE(d.in.fn, exec::handler_ud());
  EXPECT_TRUE(d.in.pfx & kInsnLock);
  D e = dec({0x06});  // push es: invalid in 64-bit mode
  EXPECT_EQ(e.in.fn, exec::handler_ud());
  D f = dec({0x06}, 4);
  EXPECT_EQ(f.name, "PUSH_ES");
}

TEST(Decode, MovsxdExistsOnlyIn64BitMode) {
  EXPECT_EQ(dec({0x48, 0x63, 0xc1}).name, "MOVSXD_GvEd");
  EXPECT_EQ(dec({0x63, 0xc1}, 4).name, "ARPL_EwGw");  // outside 64-bit mode 63 is ARPL
}

TEST(IsaTable, EveryRowHasANameAndAHandlerForEachWidth) {
  std::set<std::string_view> names;
  for (uint16_t r = 0; r < isa::kNumRows; ++r) {
    EXPECT_FALSE(isa::kRows[r].name.empty());
    EXPECT_TRUE(names.insert(isa::kRows[r].name).second) << isa::kRows[r].name;
    for (unsigned w : {1u, 2u, 4u, 8u}) EXPECT_NE(exec::handler_for(r, w), nullptr);
  }
  EXPECT_GT(isa::kNumRows, 200u);
}

TEST(IsaTable, EveryRowDecodesBackToItself) {
  // Coverage from the table: build each row's encoding (map, opcode, a
  // ModRM satisfying its constraints, zero immediates) and decode it.
  for (uint16_t r = 0; r < isa::kNumRows; ++r) {
    const isa::Row& row = isa::kRows[r];
    for (unsigned cs : {4u, 8u}) {
      if ((row.attrs & isa::kAttrI64) && cs == 8) continue;
      if ((row.attrs & isa::kAttrO64) && cs != 8) continue;
      std::vector<uint8_t> b;
      if (row.pfx == isa::kPfxF3) b.push_back(0xf3);
      if (row.pfx == isa::kPfx66) b.push_back(0x66);
      if (row.pfx == isa::kPfxF2) b.push_back(0xf2);
      if (row.map != isa::kMap1) b.push_back(0x0f);
      if (row.map == isa::kMap0F38) b.push_back(0x38);
      if (row.map == isa::kMap0F3A) b.push_back(0x3a);
      b.push_back(row.opcode);
      if (row.mod != isa::kModNone) {
        unsigned reg = row.reg == isa::kRegAny ? 1 : static_cast<unsigned>(row.reg);
        unsigned mod = row.mod == isa::kModMem ? 0 : 3;
        b.push_back(static_cast<uint8_t>((mod << 6) | (reg << 3) | (mod == 3 ? 0 : 3)));
      }
      b.resize(b.size() + 16, 0);
      D d = dec(b, cs);
      EXPECT_EQ(d.name, row.name) << "code size " << cs;
    }
  }
}

}  // namespace
}  // namespace skvm::cpu
