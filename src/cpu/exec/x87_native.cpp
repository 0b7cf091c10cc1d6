// SDM Vol. 1 ch. 8 (x87 FPU), Vol. 2 D8..DF: the host x87 runner (see
// x87_native.h).
#include "cpu/exec/x87_native.h"

// The entry point and a table of 8 x 256 four-byte stubs, one per
// (escape opcode, ModRM): `.byte D8+op, modrm; ret; nop`. The entry saves
// the host x87/SSE state, loads the guest image, loads the arithmetic flags,
// calls the stub, captures RFLAGS, saves the image and restores the host.
//   rdi = mem, rsi = image, rdx = host save area, rcx = stub, r8 = rflags.
// Only stubs whose ModRM is a register form or mod=00 rm=111 ([rdi]) are
// ever called.
asm(R"(
  .pushsection .text
  .p2align 4
  .globl skvm_x87_native_entry
  .hidden skvm_x87_native_entry
  .type skvm_x87_native_entry, @function
skvm_x87_native_entry:
  fxsave64 (%rdx)
  fxrstor64 (%rsi)
  push %r8
  popfq
  call *%rcx
  pushfq
  pop %rax
  fxsave64 (%rsi)
  fxrstor64 (%rdx)
  ret
  .size skvm_x87_native_entry, .-skvm_x87_native_entry
  .p2align 4
  .globl skvm_x87_native_stubs
  .hidden skvm_x87_native_stubs
skvm_x87_native_stubs:
  .set skvm_x87_op, 0
  .rept 8
  .set skvm_x87_mr, 0
  .rept 256
  .byte 0xd8 + skvm_x87_op, skvm_x87_mr, 0xc3, 0x90
  .set skvm_x87_mr, skvm_x87_mr + 1
  .endr
  .set skvm_x87_op, skvm_x87_op + 1
  .endr
  .popsection
)");

extern "C" uint64_t skvm_x87_native_entry(void* mem, void* img, void* host, const void* stub,
                                          uint64_t rflags);
extern "C" const unsigned char skvm_x87_native_stubs[];

namespace skvm::cpu::x87 {

uint64_t run(uint8_t opcode, uint8_t modrm, Image* img, void* mem, uint64_t rflags) {
  Image host;
  const unsigned char* stub = skvm_x87_native_stubs + 4u * (((opcode & 7u) << 8) | modrm);
  // Only the arithmetic flags (plus the fixed bit 1): no TF/DF/AC on the host.
  rflags = (rflags & 0x8d5) | 2;
  // SAFETY: img and host are 64-byte aligned 512-byte FXSAVE areas; img's
  // MXCSR is host-valid (the caller's contract); the stub is one x87
  // instruction whose only memory operand is [mem] (caller-sized) and a ret.
  return skvm_x87_native_entry(mem, img->b, host.b, stub, rflags);
}

bool reg_form_valid(uint8_t opcode, uint8_t modrm) {
  if (modrm < 0xc0 || opcode < 0xd8 || opcode > 0xdf) return false;
  // One byte per (opcode, reg): bit rm set when ModRM 11 reg rm is valid.
  static constexpr uint8_t kValid[8][8] = {
      {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},  // D8
      {0xff, 0xff, 0x01, 0xff, 0x33, 0x7f, 0xff, 0xff},  // D9
      {0xff, 0xff, 0xff, 0xff, 0x00, 0x02, 0x00, 0x00},  // DA
      {0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, 0x00},  // DB
      {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},  // DC
      {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00},  // DD
      {0xff, 0xff, 0xff, 0x02, 0xff, 0xff, 0xff, 0xff},  // DE
      {0xff, 0xff, 0xff, 0xff, 0x01, 0xff, 0xff, 0x00},  // DF
  };
  return (kValid[opcode - 0xd8][(modrm >> 3) & 7] >> (modrm & 7)) & 1;
}

}  // namespace skvm::cpu::x87
