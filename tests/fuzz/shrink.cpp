#include "shrink.h"

#include <cstdio>
#include <cstring>
#include <sstream>

#include "cpu/isa/isa.h"

namespace skvm::fuzz {

Program shrink(Program p, const StillFails& still_fails) {
  // 1. Instructions: drop one at a time, last first, until nothing drops.
  for (bool progress = true; progress;) {
    progress = false;
    for (size_t i = p.body.size(); i-- > 0;) {
      Program q = p;
      q.body.erase(q.body.begin() + static_cast<long>(i));
      if (still_fails(q)) {
        p = std::move(q);
        progress = true;
      }
    }
  }
  // 2. Registers to zero, RFLAGS to IF only.
  for (int r = 0; r < 16; ++r) {
    if (r == kRsp || r == kRbx || p.regs[r] == 0) continue;
    Program q = p;
    q.regs[r] = 0;
    if (still_fails(q)) p = std::move(q);
  }
  if (p.flags != 0x202) {
    Program q = p;
    q.flags = 0x202;
    if (still_fails(q)) p = std::move(q);
  }
  // 3. Data: zero 64-byte chunks, then 8-byte ones.
  for (size_t chunk : {size_t{64}, size_t{8}}) {
    for (size_t off = 0; off < kDataSize; off += chunk) {
      bool zero = true;
      for (size_t k = 0; k < chunk; ++k) zero &= p.data[off + k] == 0;
      if (zero) continue;
      Program q = p;
      std::memset(q.data + off, 0, chunk);
      if (still_fails(q)) p = std::move(q);
    }
  }
  return p;
}

namespace {

std::string hex(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

const char* reg_name(FuzzMode m, int r) {
  static const char* k64[16] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
  static const char* k32[8] = {"eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"};
  return m == FuzzMode::k64 ? k64[r] : k32[r];
}

// One `; expect-mem:` line per 32-byte run that differs from `before`
// (the initial contents).
void mem_lines(std::ostringstream& os, uint64_t gpa, const std::vector<uint8_t>& bytes,
               const std::vector<uint8_t>& before) {
  for (size_t off = 0; off < bytes.size(); off += 32) {
    bool any = false;
    for (size_t k = off; k < off + 32 && k < bytes.size(); ++k) any |= bytes[k] != before[k];
    if (!any) continue;
    os << "; expect-mem: " << hex(gpa + off) << " =";
    char b[4];
    for (size_t k = off; k < off + 32 && k < bytes.size(); ++k) {
      std::snprintf(b, sizeof b, " %02x", bytes[k]);
      os << b;
    }
    os << "\n";
  }
}

}  // namespace

std::string to_asm(const Program& p, const Outcome& oracle, const std::string& title,
                   const std::string& why) {
  std::ostringstream os;
  os << "; " << title << "\n";
  std::istringstream lines(why);
  for (std::string l; std::getline(lines, l);) os << "; softkvm vs oracle: " << l << "\n";
  os << "; Written by tests/fuzz (skvm-fuzz); expectations are the host /dev/kvm result.\n";
  const char* mode = p.mode == FuzzMode::k16 ? "real" : p.mode == FuzzMode::k32 ? "prot32" : "long";
  os << "; mode: " << mode << "\n";
  if (oracle.exit == "hlt") {
    static const char* kKvmNames[16] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                        "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
    const int nregs = p.mode == FuzzMode::k64 ? 16 : 8;
    for (int r = 0; r < nregs; r += 4) {
      os << "; expect:";
      for (int k = r; k < r + 4; ++k) os << " " << kKvmNames[k] << "=" << hex(oracle.regs[k]);
      os << "\n";
    }
    os << "; expect: rflags=" << hex(oracle.rflags) << "\n";
    // The data region and the stack where the case changed them.
    mem_lines(os, data_gpa(p.mode), oracle.data, std::vector<uint8_t>(p.data, p.data + kDataSize));
    uint64_t sp = p.mode == FuzzMode::k16 ? 0x7000 : 0x80000;
    mem_lines(os, sp - oracle.stack.size(), oracle.stack, std::vector<uint8_t>(oracle.stack.size(), 0));
  }
  os << "; expect-exit: " << oracle.exit << "\n";
  os << "bits " << mode_name(p.mode) << "\norg " << hex(entry_of(p.mode)) << "\n";
  if (p.mode == FuzzMode::k16) {
    os << "  xor ax, ax  ; every IVT vector -> the hlt stub\n  mov es, ax\n  xor di, di\n"
          "  mov cx, 256\n  cld\nivt:\n  mov ax, stub\n  stosw\n  xor ax, ax\n  stosw\n  loop ivt\n";
  }
  const int nregs = p.mode == FuzzMode::k64 ? 16 : 8;
  for (int r = 0; r < nregs; ++r) {
    if (r == kRsp) continue;
    os << "  mov " << reg_name(p.mode, r) << ", "
       << (r == kRbx ? hex(base_gpa(p.mode)) + "  ; the data pointer" : hex(p.regs[r])) << "\n";
  }
  os << "  push " << (p.mode == FuzzMode::k64 ? "qword " : "dword ") << hex(p.flags) << "\n";
  os << "  " << (p.mode == FuzzMode::k64 ? "popfq" : "popfd") << "\n";
  for (const Insn& i : p.body) {
    os << "  db ";
    char b[8];
    for (size_t k = 0; k < i.bytes.size(); ++k) {
      std::snprintf(b, sizeof b, "%s0x%02x", k ? ", " : "", i.bytes[k]);
      os << b;
    }
    os << "  ; " << i.note << "\n";
  }
  os << "  hlt\n";
  if (p.mode == FuzzMode::k16) {
    os << "  times " << hex(kStubOffset) << " - ($ - $$) db 0\nstub:\n  hlt  ; real-mode exceptions land here\n";
  }
  os << "  times " << hex(kDataOffset) << " - ($ - $$) db 0\n";
  os << "data:  ; " << hex(data_gpa(p.mode)) << ", rbx points at data + " << hex(kBaseOffset) << "\n";
  for (size_t off = 0; off < kDataSize; off += 16) {
    os << "  db ";
    char b[8];
    for (size_t k = 0; k < 16; ++k) {
      std::snprintf(b, sizeof b, "%s0x%02x", k ? ", " : "", p.data[off + k]);
      os << b;
    }
    os << "\n";
  }
  return os.str();
}

}  // namespace skvm::fuzz
