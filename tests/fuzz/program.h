// A differential-fuzz case: the initial state (GPRs, RFLAGS, a data region)
// and a short body of user-level instructions generated from the instruction
// table (src/cpu/isa/opcodes.inc). The case is turned into one flat guest
// binary (prologue that loads the state, body, HLT, data region) that runs
// identically on every oracle and is written out verbatim as a regression
// guest (tests/guest/<family>/<name>.asm format).
//
// Guest layout (entry as tests/support/vm.h: 0x7c00 real, 0x10000 flat):
//   entry            prologue: (real mode: IVT -> stub) mov r, imm for every
//                    GPR but rsp; push/popf
//   ...              body, then hlt
//   entry + 0xff0    hlt: the real-mode exception stub
//   entry + 0x1000   data region (kDataSize bytes); rBX = its middle, every
//                    memory operand is [rBX + disp8] (or rBX-relative)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace skvm::fuzz {

enum class FuzzMode { k16, k32, k64 };  // real mode, flat prot32, long mode

inline constexpr uint64_t kDataOffset = 0x1000;  // from the entry point
inline constexpr uint64_t kStubOffset = 0xff0;   // real mode: every IVT vector -> hlt here
inline constexpr uint64_t kDataSize = 0x200;
inline constexpr uint64_t kBaseOffset = 0x100;  // rBX = data + kBaseOffset
inline constexpr uint32_t kFlagsArith = 0x8d5;  // CF PF AF ZF SF OF
inline constexpr int kRbx = 3;
inline constexpr int kRsp = 4;

// One generated instruction (or a setup instruction the generator put in
// front of one, e.g. `xor edx, edx` before DIV); shrinking drops these.
struct Insn {
  std::vector<uint8_t> bytes;
  uint16_t row;     // isa::kRows index, or kSetupRow
  std::string note;  // what the generator meant (row name, setup role)
};
inline constexpr uint16_t kSetupRow = 0xfffe;

struct Program {
  FuzzMode mode = FuzzMode::k64;
  uint64_t regs[16] = {};  // initial GPRs in kvm_regs / ModRM order (rsp, rbx ignored)
  uint32_t flags = 0x2;
  uint8_t data[kDataSize] = {};
  std::vector<Insn> body;
};

uint64_t entry_of(FuzzMode mode);
inline uint64_t data_gpa(FuzzMode mode) { return entry_of(mode) + kDataOffset; }
inline uint64_t base_gpa(FuzzMode mode) { return data_gpa(mode) + kBaseOffset; }
const char* mode_name(FuzzMode mode);  // "16" | "32" | "64"

// The flat binary: prologue, body, hlt, padding, data region.
std::vector<uint8_t> assemble(const Program& p);
// Byte offset of the body inside assemble(p).
size_t body_offset(const Program& p);

}  // namespace skvm::fuzz
