// Attaches handlers to the rows of isa/opcodes.inc: each row's family
// template is instantiated for every operand width; the decoder picks the
// one for the instruction's operand size.
#include "cpu/decode/decoder.h"
#include "cpu/exec/alu.h"
#include "cpu/exec/bcd.h"
#include "cpu/exec/bits.h"
#include "cpu/exec/branch.h"
#include "cpu/exec/mov.h"
#include "cpu/exec/muldiv.h"
#include "cpu/exec/shift.h"
#include "cpu/exec/simd_int.h"
#include "cpu/exec/sse.h"
#include "cpu/exec/stack.h"
#include "cpu/exec/string_io.h"
#include "cpu/exec/system.h"
#include "cpu/exec/system_seg.h"
#include "cpu/exec/x87.h"
#include "cpu/isa/isa.h"

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
#define ROW(name, map, op, pfx, reg, mod, imm, wid, attrs, flags, handler) handler,
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
Handler handler_unimplemented() { return &unimplemented<4>; }
Handler handler_ud() { return &ud<4>; }
Handler handler_gp0() { return &gp0<4>; }

}  // namespace skvm::cpu::exec
