// Attaches handlers to the rows of isa/opcodes.inc: each row's family
// template is instantiated for every operand width; the decoder picks the
// one for the instruction's operand size.
#include "cpu/decode/decoder.h"
#include "cpu/exec/alu.h"
#include "cpu/exec/bcd.h"
#include "cpu/exec/bits.h"
#include "cpu/exec/branch.h"
#include "cpu/exec/mov.h"
#include "cpu/exec/movbe.h"
#include "cpu/exec/adx.h"
#include "cpu/exec/muldiv.h"
#include "cpu/exec/shift.h"
#include "cpu/exec/simd_int.h"
#include "cpu/exec/specialize.h"
#include "cpu/exec/sse.h"
#include "cpu/exec/stack.h"
#include "cpu/exec/string_io.h"
#include "cpu/exec/system.h"
#include "cpu/exec/system_seg.h"
#include "cpu/exec/x87.h"
#include "cpu/isa/isa.h"

#include <array>
#include <string_view>
#include <utility>

namespace skvm::cpu::exec {
namespace {

using namespace isa;

struct HandlerSet {
  Handler by_width[4];  // operand size 1, 2, 4, 8
};

#define H(fn, ...)                                                                           \
  HandlerSet {                                                                               \
    {                                                                                        \
      &fn<1 __VA_OPT__(, ) __VA_ARGS__>, &fn<2 __VA_OPT__(, ) __VA_ARGS__>,                  \
          &fn<4 __VA_OPT__(, ) __VA_ARGS__>, &fn<8 __VA_OPT__(, ) __VA_ARGS__>               \
    }                                                                                        \
  }

constexpr HandlerSet kHandlers[] = {
#define ROW(name, map, op, pfx, reg, mod, imm, wid, attrs, flags, feature, handler) handler,
#include "cpu/isa/opcodes.inc"
#undef ROW
};
#undef H
static_assert(sizeof(kHandlers) / sizeof(kHandlers[0]) == kNumRows, "one handler per row");

constexpr unsigned width_index(unsigned osize) { return osize == 1 ? 0 : osize == 2 ? 1 : osize == 4 ? 2 : 3; }

}  // namespace

Handler handler_for(uint16_t row, unsigned osize) {
  if (row >= kNumRows) return &unimplemented<4>;
  return kHandlers[row].by_width[width_index(osize)];
}
// ---- Block-build time specialization (exec/specialize.h) ----
namespace {

constexpr uint16_t row_named(std::string_view name) {
  for (size_t k = 0; k < kNumRows; ++k)
    if (kRows[k].name == name) return static_cast<uint16_t>(k);
  return kRowUnknown;
}
constexpr uint16_t kRowJccJb = row_named("Jcc_Jb");
constexpr uint16_t kRowJccJz = row_named("Jcc_Jz");
constexpr uint16_t kRowMovDdRd = row_named("MOV_DdRd");
constexpr uint16_t kRowJmpJb = row_named("JMP_Jb");
constexpr uint16_t kRowJmpJz = row_named("JMP_Jz");
constexpr uint16_t kRowCallJz = row_named("CALL_Jz");
constexpr uint16_t kRowIncEb = row_named("INC_Eb");
constexpr uint16_t kRowDecEb = row_named("DEC_Eb");
constexpr uint16_t kRowIncEv = row_named("INC_Ev");
constexpr uint16_t kRowDecEv = row_named("DEC_Ev");
static_assert(kRowIncEb != kRowUnknown && kRowDecEb != kRowUnknown && kRowIncEv != kRowUnknown &&
              kRowDecEv != kRowUnknown);
static_assert(kRowJccJb != kRowUnknown && kRowJccJz != kRowUnknown && kRowMovDdRd != kRowUnknown);
static_assert(kRowJmpJb != kRowUnknown && kRowJmpJz != kRowUnknown && kRowCallJz != kRowUnknown);

template <unsigned W, size_t... Cc>
constexpr std::array<Handler, 16> jcc_cc_table(std::index_sequence<Cc...>) {
  return {&jcc_cc<W, Cc>...};
}
template <unsigned W, PredFlags P, size_t... Cc>
constexpr std::array<Handler, 16> jcc_after_table(std::index_sequence<Cc...>) {
  return {&jcc_after<W, P, Cc>...};
}
// [width index 1..3][cc]; Jcc has no 8-bit operand size.
template <unsigned W>
constexpr std::array<Handler, 16> kJccCc = jcc_cc_table<W>(std::make_index_sequence<16>());
template <unsigned W, PredFlags P>
constexpr std::array<Handler, 16> kJccAfter = jcc_after_table<W, P>(std::make_index_sequence<16>());

// The lazy-flag operation a handler always leaves when it retires.
template <unsigned W>
bool pred_flags_w(Handler fn, PredFlags* p) {
  const Handler sub[] = {&alu_eg<W, AluOp::kSub>, &alu_ge<W, AluOp::kSub>, &alu_ei<W, AluOp::kSub>,
                         &alu_ai<W, AluOp::kSub>, &alu_eg<W, AluOp::kCmp>, &alu_ge<W, AluOp::kCmp>,
                         &alu_ei<W, AluOp::kCmp>, &alu_ai<W, AluOp::kCmp>};
  const Handler logic[] = {&alu_eg<W, AluOp::kAnd>,  &alu_ge<W, AluOp::kAnd>, &alu_ei<W, AluOp::kAnd>,
                           &alu_ai<W, AluOp::kAnd>,  &alu_eg<W, AluOp::kOr>,  &alu_ge<W, AluOp::kOr>,
                           &alu_ei<W, AluOp::kOr>,   &alu_ai<W, AluOp::kOr>,  &alu_eg<W, AluOp::kXor>,
                           &alu_ge<W, AluOp::kXor>,  &alu_ei<W, AluOp::kXor>, &alu_ai<W, AluOp::kXor>,
                           &alu_eg<W, AluOp::kTest>, &alu_ei<W, AluOp::kTest>, &alu_ai<W, AluOp::kTest>};
  const Handler incdec[] = {&incdec_e<W, false>,  &incdec_e<W, true>,  &incdec_r<W, false>,
                            &incdec_r<W, true>,   &incdec_rm<W, false>, &incdec_rm<W, true>};
  for (Handler h : sub)
    if (h == fn) return *p = PredFlags::kSub, true;
  for (Handler h : logic)
    if (h == fn) return *p = PredFlags::kLogic, true;
  for (Handler h : incdec)
    if (h == fn) return *p = PredFlags::kIncDec, true;
  return false;
}
bool pred_flags(Handler fn, PredFlags* p) {
  return pred_flags_w<1>(fn, p) || pred_flags_w<2>(fn, p) || pred_flags_w<4>(fn, p) || pred_flags_w<8>(fn, p);
}

template <unsigned W>
Handler jcc_for(const Insn* prev, unsigned cc) {
  PredFlags p;
  if (prev && pred_flags(prev->fn, &p)) {
    switch (p) {
      case PredFlags::kSub: return kJccAfter<W, PredFlags::kSub>[cc];
      case PredFlags::kLogic: return kJccAfter<W, PredFlags::kLogic>[cc];
      case PredFlags::kIncDec: return kJccAfter<W, PredFlags::kIncDec>[cc];
    }
  }
  return kJccCc<W>[cc];
}

}  // namespace

bool may_arm_checks(const Insn& in) {
  if (in.row >= kNumRows || in.row == kRowMovDdRd) return true;
  const Row& r = kRows[in.row];
  return (r.flags & (kFlagTF | kFlagIF)) != 0 || (r.attrs & kAttrSys) != 0;
}

bool direct_target(const Insn& in, uint64_t next_rip, uint64_t* target) {
  if (in.row != kRowJmpJb && in.row != kRowJmpJz && in.row != kRowCallJz) return false;
  // Only the generic handlers (branch.h jmp_rel / call_rel) with a 64-bit
  // IP: RIP = next RIP + displacement, no IP truncation (SDM Vol. 2A, JMP,
  // CALL: 64-bit mode near branches).
  if (in.osize != 8 || in.fn != handler_for(in.row, in.osize)) return false;
  *target = next_rip + in.imm;
  return true;
}

Handler specialize(const Insn& in, const Insn* prev) {
  if (in.row >= kNumRows || in.fn != handler_for(in.row, in.osize)) return in.fn;
  if ((in.row == kRowIncEb || in.row == kRowDecEb || in.row == kRowIncEv || in.row == kRowDecEv) &&
      !(in.pfx & kInsnMem)) {
    // INC/DEC r/m with a register operand: no memory-form test.
    const bool dec = in.row == kRowDecEb || in.row == kRowDecEv;
    switch (in.osize) {
      case 1: return dec ? &incdec_rm<1, true> : &incdec_rm<1, false>;
      case 2: return dec ? &incdec_rm<2, true> : &incdec_rm<2, false>;
      case 4: return dec ? &incdec_rm<4, true> : &incdec_rm<4, false>;
      case 8: return dec ? &incdec_rm<8, true> : &incdec_rm<8, false>;
      default: break;
    }
  }
  if (in.row == kRowJccJb || in.row == kRowJccJz) {
    const unsigned cc = in.opcode & 0xf;
    switch (in.osize) {
      case 2: return jcc_for<2>(prev, cc);
      case 4: return jcc_for<4>(prev, cc);
      case 8: return jcc_for<8>(prev, cc);
      default: break;
    }
  }
  return in.fn;
}

Handler handler_unimplemented() { return &unimplemented<4>; }
Handler handler_ud() { return &ud<4>; }
Handler handler_gp0() { return &gp0<4>; }

}  // namespace skvm::cpu::exec
