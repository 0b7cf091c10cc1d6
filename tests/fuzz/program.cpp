#include "program.h"

#include <cstring>

namespace skvm::fuzz {
namespace {

void put(std::vector<uint8_t>& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// mov r, imm for every GPR but rSP (rBX gets the data pointer), then
// RFLAGS through push/popf. SDM Vol. 2B, MOV (B8+r), PUSH (68), POPF.
std::vector<uint8_t> prologue(const Program& p) {
  std::vector<uint8_t> out;
  if (p.mode == FuzzMode::k16) {
    // Real mode delivers exceptions through the IVT: point all 256 vectors
    // at the HLT stub, so that e.g. #DE ends the case (SDM Vol. 3A, 20.1.4).
    const uint16_t stub = static_cast<uint16_t>(entry_of(p.mode) + kStubOffset);
    out.insert(out.end(), {0x31, 0xc0, 0x8e, 0xc0, 0x31, 0xff, 0xb9, 0x00, 0x01, 0xfc,  // es=0 di=0 cx=256 cld
                           0xb8, static_cast<uint8_t>(stub), static_cast<uint8_t>(stub >> 8),  // L: mov ax, stub
                           0xab, 0x31, 0xc0, 0xab, 0xe2, 0xf7});  // stosw; xor ax,ax; stosw; loop L
  }
  const int nregs = p.mode == FuzzMode::k64 ? 16 : 8;
  for (int r = 0; r < nregs; ++r) {
    if (r == kRsp) continue;
    uint64_t v = r == kRbx ? base_gpa(p.mode) : p.regs[r];
    switch (p.mode) {
      case FuzzMode::k64:
        out.push_back(static_cast<uint8_t>(0x48 | (r >> 3)));
        out.push_back(static_cast<uint8_t>(0xb8 + (r & 7)));
        put(out, v, 8);
        break;
      case FuzzMode::k32:
        out.push_back(static_cast<uint8_t>(0xb8 + r));
        put(out, v, 4);
        break;
      case FuzzMode::k16:
        out.push_back(0x66);
        out.push_back(static_cast<uint8_t>(0xb8 + r));
        put(out, v, 4);
        break;
    }
  }
  if (p.mode == FuzzMode::k16) out.push_back(0x66);
  out.push_back(0x68);
  put(out, p.flags, 4);
  if (p.mode == FuzzMode::k16) out.push_back(0x66);
  out.push_back(0x9d);
  return out;
}

}  // namespace

uint64_t entry_of(FuzzMode mode) { return mode == FuzzMode::k16 ? 0x7c00 : 0x10000; }

const char* mode_name(FuzzMode mode) {
  switch (mode) {
    case FuzzMode::k16: return "16";
    case FuzzMode::k32: return "32";
    case FuzzMode::k64: return "64";
  }
  return "?";
}

size_t body_offset(const Program& p) { return prologue(p).size(); }

std::vector<uint8_t> assemble(const Program& p) {
  std::vector<uint8_t> out = prologue(p);
  for (const Insn& i : p.body) out.insert(out.end(), i.bytes.begin(), i.bytes.end());
  out.push_back(0xf4);  // hlt
  out.resize(kDataOffset, 0);
  out[kStubOffset] = 0xf4;  // the exception stub (real mode)
  out.insert(out.end(), p.data, p.data + kDataSize);
  return out;
}

}  // namespace skvm::fuzz
