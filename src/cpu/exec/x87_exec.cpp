// SDM Vol. 1 ch. 8 (x87 FPU) and Vol. 2 (D8..DF, FWAIT): the x87 handlers.
// The x87 state lives in CpuState::fxsave (64-bit FXSAVE layout, what
// KVM_GET_FPU / KVM_GET_XSAVE read). Each computing instruction runs on the
// host x87 (x87_native.h) over a copy of that state; this file adds what the
// host cannot know: #NM (CR0.EM/TS/MP), #MF for a pending unmasked exception
// at a waiting instruction, guest memory operands (read before, written after
// the host ran, nothing committed when an access faults), the guest's
// FIP/FDP/FOP, and the environment formats of the guest's mode and operand
// size (FLDENV/FNSTENV/FRSTOR/FNSAVE, SDM Vol. 1 8.1.10, Figs. 8-9..8-12).
#include <cstring>

#include "cpu/exec/x87.h"
#include "cpu/exec/x87_native.h"

namespace skvm::cpu::x87 {
namespace {

// FXSAVE image offsets (SDM Vol. 1 Table 10-2, 64-bit format).
constexpr unsigned kFcw = 0, kFsw = 2, kFtw = 4, kFop = 6, kFip = 8, kFdp = 16, kMxcsr = 24;
constexpr unsigned kSt0 = 32, kX87End = 160;  // ST0..ST7: 16 bytes each
constexpr uint16_t kFswEs = 0x0080, kFswB = 0x8000, kFswExc = 0x003f, kFswSf = 0x0040;

uint16_t get16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
uint32_t get32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint64_t get64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
void put16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }
void put32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }
void put64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, 8); }

bool real_or_v86(const CpuState& s) { return !(s.cr0 & kCr0PE) || (s.rflags & kFlagVM); }

// SDM Vol. 3 Table 2-2: EM or TS -> #NM for every x87 instruction.
bool check_nm(Exec& x) {
  if (x.s.cr0 & (kCr0EM | kCr0TS)) return raise(x.cpu, kNM);
  return true;
}

// An unmasked exception flag in FSW is pending (SDM Vol. 1 8.6): the next
// waiting instruction takes #MF before it executes.
// DEVIATION: with CR0.NE = 0 a bare-metal processor would signal FERR#
// (IRQ 13 through the PIC) instead; KVM on VMX always runs the guest with
// CR0.NE = 1 in hardware, so the guest gets #MF there too, and so here.
bool exception_pending(const CpuState& s) {
  uint16_t fcw = get16(&s.fxsave[kFcw]), fsw = get16(&s.fxsave[kFsw]);
  return (fsw & ~fcw & kFswExc) != 0;
}
bool check_waiting(Exec& x) {
  if (!check_nm(x)) return false;
  if (exception_pending(x.s)) return raise(x.cpu, kMF);
  return true;
}

// Guest pointers as the FPU records them: offsets in protected/long mode,
// 20-bit-style linear addresses in real and virtual-8086 mode (the
// real-mode environment formats have no selector field).
uint64_t guest_fip(const Exec& x, const Insn& i) {
  uint64_t ip = x.s.rip - i.len;
  if (!is_long64(x.s)) ip &= 0xffffffffull;
  if (real_or_v86(x.s)) ip = (x.s.seg[kCs].base + (ip & 0xffff)) & 0xffffffffull;
  return ip;
}
uint64_t guest_fdp(const Exec& x, const Insn& i, uint64_t ea) {
  if (real_or_v86(x.s)) return (x.s.seg[i.seg].base + ea) & 0xffffffffull;
  return ea;
}

// The ModRM byte as encoded (for FOP): the first D8..DF byte of the
// instruction is the opcode (no prefix lies in that range), the next the
// ModRM. Read back only when the host updated FOP (unmasked exceptions).
uint8_t encoded_modrm(Exec& x, const Insn& i, unsigned reg) {
  uint64_t la = x.s.seg[kCs].base + (x.s.rip - i.len);
  if (!is_long64(x.s)) la &= 0xffffffffull;
  uint8_t buf[15] = {};
  unsigned n = i.len > 15 ? 15 : i.len;
  Signals saved = x.cpu.signals();
  bool ok = read_linear(x.cpu, la, buf, n, Acc::kExec);
  x.cpu.signals() = saved;
  if (ok) {
    for (unsigned k = 0; k + 1 < n; ++k)
      if (buf[k] >= 0xd8 && buf[k] <= 0xdf) return buf[k + 1];
  }
  return static_cast<uint8_t>((reg << 3) | (i.pfx & kInsnMem ? 0 : 0xc0) | (i.rm & 7));
}

// Copies the guest's x87 state into a host image: FIP/FDP/FOP zeroed (so
// that a non-zero value afterwards tells that the host updated them), a
// host-valid MXCSR, ES/B recomputed from the flags and masks.
void load_image(const CpuState& s, Image* img) {
  std::memset(img->b, 0, sizeof img->b);
  std::memcpy(img->b, s.fxsave.data(), kX87End);
  std::memset(img->b + kFop, 0, kMxcsr - kFop);
  put32(img->b + kMxcsr, 0x1f80);
  uint16_t fsw = get16(img->b + kFsw) & ~(kFswEs | kFswB);
  if (exception_pending(s)) fsw |= kFswEs | kFswB;
  put16(img->b + kFsw, fsw);
}

// Commits a host image: control/status/tag words and the registers; FOP,
// FIP and FDP only where the host updated its own.
void commit_image(Exec& x, const Insn& i, const Image& img, unsigned op, unsigned reg,
                  uint64_t fdp) {
  uint8_t* f = x.s.fxsave.data();
  bool fop = get16(img.b + kFop) != 0, fip = get64(img.b + kFip) != 0,
       fdp_upd = get64(img.b + kFdp) != 0;
  std::memcpy(f, img.b, kFop);
  std::memcpy(f + kSt0, img.b + kSt0, kX87End - kSt0);
  if (fop) put16(f + kFop, static_cast<uint16_t>(((op & 7) << 8) | encoded_modrm(x, i, reg)));
  if (fip) put64(f + kFip, guest_fip(x, i));
  if (fdp_upd) put64(f + kFdp, fdp);
}

// Guest memory in pieces of at most 8 bytes; offsets wrap at the address size.
bool read_bytes(Exec& x, const Insn& i, uint64_t ea, uint8_t* buf, unsigned n) {
  for (unsigned k = 0; k < n; k += 8) {
    unsigned c = n - k < 8 ? n - k : 8;
    if (!read_mem(x.cpu, seg_of(i), (ea + k) & mask_for(i.asize), buf + k, c)) return false;
  }
  return true;
}
bool write_bytes(Exec& x, const Insn& i, uint64_t ea, const uint8_t* buf, unsigned n) {
  for (unsigned k = 0; k < n; k += 8) {
    unsigned c = n - k < 8 ? n - k : 8;
    if (!write_mem(x.cpu, seg_of(i), (ea + k) & mask_for(i.asize), buf + k, c)) return false;
  }
  return true;
}

// ---- Environment formats (SDM Vol. 1 Figs. 8-9 .. 8-12) ------------------

struct Pointers {
  uint64_t fip = 0, fdp = 0;
  uint16_t fop = 0;
};

unsigned env_size(const Insn& i) { return i.osize == 2 ? 14 : 28; }

// Host 28-byte (32-bit protected) environment -> the guest's format. The
// control, status and tag words (and the reserved halves the host writes
// next to them in the 32-bit formats) come from the host; the pointers from
// the guest state. FCS/FDS are stored as 0: the reference host deprecates
// them (CPUID.(EAX=07H,ECX=0):EBX[13]).
void env_to_guest(const CpuState& s, const Insn& i, const uint8_t* h, const Pointers& p, uint8_t* g) {
  const bool real = real_or_v86(s);
  const uint32_t fip = static_cast<uint32_t>(p.fip), fdp = static_cast<uint32_t>(p.fdp);
  const uint16_t fop = p.fop & 0x7ff;
  if (i.osize == 2) {
    put16(g + 0, get16(h + 0));
    put16(g + 2, get16(h + 4));
    put16(g + 4, get16(h + 8));
    put16(g + 6, static_cast<uint16_t>(fip));
    if (real) {
      put16(g + 8, static_cast<uint16_t>(((fip >> 4) & 0xf000) | fop));
      put16(g + 10, static_cast<uint16_t>(fdp));
      put16(g + 12, static_cast<uint16_t>((fdp >> 4) & 0xf000));
    } else {
      put16(g + 8, 0);
      put16(g + 10, static_cast<uint16_t>(fdp));
      put16(g + 12, 0);
    }
    return;
  }
  std::memcpy(g, h, 12);
  if (real) {
    put32(g + 12, (get32(h + 12) & 0xffff0000u) | (fip & 0xffff));
    put32(g + 16, ((fip >> 4) & 0x0ffff000u) | fop);
    put32(g + 20, (get32(h + 20) & 0xffff0000u) | (fdp & 0xffff));
    put32(g + 24, (fdp >> 4) & 0x0ffff000u);
  } else {
    put32(g + 12, fip);
    put32(g + 16, static_cast<uint32_t>(fop) << 16);
    put32(g + 20, fdp);
    put32(g + 24, get32(h + 24) & 0xffff0000u);
  }
}

// Guest environment -> host 28-byte format (control/status/tag words only;
// the pointers are returned separately and committed by the caller).
void env_from_guest(const CpuState& s, const Insn& i, const uint8_t* g, uint8_t* h, Pointers* p) {
  const bool real = real_or_v86(s);
  std::memset(h, 0, 28);
  if (i.osize == 2) {
    put16(h + 0, get16(g + 0));
    put16(h + 4, get16(g + 2));
    put16(h + 8, get16(g + 4));
    uint16_t ip = get16(g + 6), w8 = get16(g + 8), dp = get16(g + 10), w12 = get16(g + 12);
    if (real) {
      p->fip = ip | (uint64_t{w8 & 0xf000u} << 4);
      p->fop = w8 & 0x7ff;
      p->fdp = dp | (uint64_t{w12 & 0xf000u} << 4);
    } else {
      p->fip = ip;
      p->fop = 0;
      p->fdp = dp;
    }
    return;
  }
  std::memcpy(h, g, 12);
  uint32_t d12 = get32(g + 12), d16 = get32(g + 16), d20 = get32(g + 20), d24 = get32(g + 24);
  if (real) {
    p->fip = (d12 & 0xffff) | ((d16 & 0x0ffff000u) << 4);
    p->fop = d16 & 0x7ff;
    p->fdp = (d20 & 0xffff) | ((d24 & 0x0ffff000u) << 4);
  } else {
    p->fip = d12;
    p->fop = (d16 >> 16) & 0x7ff;
    p->fdp = d20;
  }
}

Pointers state_pointers(const CpuState& s) {
  Pointers p;
  p.fip = get64(&s.fxsave[kFip]);
  p.fdp = get64(&s.fxsave[kFdp]);
  p.fop = get16(&s.fxsave[kFop]);
  return p;
}
void set_pointers(CpuState& s, const Pointers& p) {
  put64(&s.fxsave[kFip], p.fip);
  put64(&s.fxsave[kFdp], p.fdp);
  put16(&s.fxsave[kFop], p.fop);
}

// Host ModRM for a memory form: mod = 00, rm = 111 ([rdi]).
constexpr uint8_t mem_modrm(unsigned reg) { return static_cast<uint8_t>((reg << 3) | 7); }

// FNSTENV / FNSAVE (non-waiting): the host stores its environment (and
// registers) and masks / reinitializes; the guest gets its own format.
bool store_env(Exec& x, const Insn& i, unsigned op, unsigned reg, bool save) {
  if (!check_nm(x)) return false;
  uint64_t ea = effective_address(x, i);
  Image img;
  load_image(x.s, &img);
  uint8_t host[108], guest[108];
  std::memset(host, 0, sizeof host);
  run(static_cast<uint8_t>(op), mem_modrm(reg), &img, host, 0);
  Pointers p = state_pointers(x.s);
  unsigned n = env_size(i);
  env_to_guest(x.s, i, host, p, guest);
  if (save) {
    std::memcpy(guest + n, host + 28, 80);
    n += 80;
  }
  if (!write_bytes(x, i, ea, guest, n)) return false;
  uint8_t* f = x.s.fxsave.data();
  std::memcpy(f, img.b, kFop);
  // FNSAVE's FNINIT sets TOP = 0: FXSAVE's ST(i) order rotates with it.
  std::memcpy(f + kSt0, img.b + kSt0, kX87End - kSt0);
  if (save) set_pointers(x.s, Pointers{});  // FNINIT part of FNSAVE clears them
  return true;
}

// FLDENV / FRSTOR (waiting): the guest's image is converted to the host
// format and loaded by the host instruction (tag word translation, ES/B).
bool load_env(Exec& x, const Insn& i, unsigned op, unsigned reg, bool rstor) {
  if (!check_waiting(x)) return false;
  uint64_t ea = effective_address(x, i);
  uint8_t guest[108], host[108];
  unsigned n = env_size(i) + (rstor ? 80 : 0);
  if (!read_bytes(x, i, ea, guest, n)) return false;
  Pointers p;
  env_from_guest(x.s, i, guest, host, &p);
  if (rstor) std::memcpy(host + 28, guest + env_size(i), 80);
  Image img;
  load_image(x.s, &img);
  run(static_cast<uint8_t>(op), mem_modrm(reg), &img, host, 0);
  uint8_t* f = x.s.fxsave.data();
  std::memcpy(f, img.b, kFop);
  std::memcpy(f + kSt0, img.b + kSt0, kX87End - kSt0);
  set_pointers(x.s, p);
  return true;
}

// Memory operand kinds per (escape opcode, ModRM.reg) (SDM Vol. 2 Table A-7..A-22).
enum class MemKind : uint8_t { kLoad, kStore, kLdEnv, kStEnv, kRstor, kSave, kStCw, kStSw };
struct MemForm {
  MemKind kind;
  uint8_t size;
};
constexpr MemForm L(uint8_t n) { return {MemKind::kLoad, n}; }
constexpr MemForm S(uint8_t n) { return {MemKind::kStore, n}; }
constexpr MemForm kMemForms[8][8] = {
    {L(4), L(4), L(4), L(4), L(4), L(4), L(4), L(4)},                                       // D8 m32fp
    {L(4), L(4), S(4), S(4), {MemKind::kLdEnv, 0}, L(2), {MemKind::kStEnv, 0}, {MemKind::kStCw, 2}},  // D9
    {L(4), L(4), L(4), L(4), L(4), L(4), L(4), L(4)},                                       // DA m32int
    {L(4), S(4), S(4), S(4), L(4), L(10), L(4), S(10)},                                     // DB
    {L(8), L(8), L(8), L(8), L(8), L(8), L(8), L(8)},                                       // DC m64fp
    {L(8), S(8), S(8), S(8), {MemKind::kRstor, 0}, L(8), {MemKind::kSave, 0}, {MemKind::kStSw, 2}},  // DD
    {L(2), L(2), L(2), L(2), L(2), L(2), L(2), L(2)},                                       // DE m16int
    {L(2), S(2), S(2), S(2), L(10), L(8), S(10), S(8)},                                     // DF
};
// (D9 /1, DB /4, DB /6, DD /5 are kAttrUd rows: never reach the handler.)

}  // namespace

bool exec_mem(Exec& x, const Insn& i, unsigned op, unsigned reg) {
  const MemForm form = kMemForms[(op - 0xd8) & 7][reg & 7];
  switch (form.kind) {
    case MemKind::kLdEnv: return load_env(x, i, op, reg, false);
    case MemKind::kRstor: return load_env(x, i, op, reg, true);
    case MemKind::kStEnv: return store_env(x, i, op, reg, false);
    case MemKind::kSave: return store_env(x, i, op, reg, true);
    case MemKind::kStCw:
    case MemKind::kStSw: {
      // FNSTCW / FNSTSW m16: non-waiting, pointers unchanged.
      if (!check_nm(x)) return false;
      uint64_t v = get16(&x.s.fxsave[form.kind == MemKind::kStCw ? kFcw : kFsw]);
      return seg_write<2>(x, seg_of(i), effective_address(x, i), v);
    }
    case MemKind::kLoad:
    case MemKind::kStore: break;
  }
  if (!check_waiting(x)) return false;
  const uint64_t ea = effective_address(x, i);
  uint8_t buf[16] = {};
  if (form.kind == MemKind::kLoad && !read_bytes(x, i, ea, buf, form.size)) return false;
  Image img;
  load_image(x.s, &img);
  const uint16_t fcw = get16(img.b + kFcw);
  run(static_cast<uint8_t>(op), mem_modrm(reg), &img, buf, 0);
  if (form.kind == MemKind::kStore) {
    // An unmasked IE/DE/ZE/OE/UE leaves the memory destination unwritten
    // (SDM Vol. 1 8.5); an unmasked PE still stores.
    bool suppressed = (get16(img.b + kFsw) & ~fcw & 0x1f) != 0;
    if (!suppressed && !write_bytes(x, i, ea, buf, form.size)) return false;
  }
  commit_image(x, i, img, op, reg, guest_fdp(x, i, ea));
  return true;
}

bool exec_reg(Exec& x, const Insn& i, unsigned op, unsigned reg) {
  const uint8_t modrm = static_cast<uint8_t>(0xc0 | (reg << 3) | (i.rm & 7));
  if (!reg_form_valid(static_cast<uint8_t>(op), modrm)) return raise(x.cpu, kUD);
  uint8_t* f = x.s.fxsave.data();
  if (op == 0xdb && reg == 4) {
    // Non-waiting control forms (SDM Vol. 2A FCLEX/FINIT; FNENI, FNDISI,
    // FNSETPM are no-ops since the 80387).
    if (!check_nm(x)) return false;
    if (modrm == 0xe2) {
      put16(f + kFsw, get16(f + kFsw) & ~(kFswB | kFswEs | kFswSf | kFswExc));
    } else if (modrm == 0xe3) {
      put16(f + kFcw, 0x037f);
      put16(f + kFsw, 0);
      f[kFtw] = 0;  // abridged: all empty
      set_pointers(x.s, Pointers{});
    }
    return true;
  }
  if (op == 0xdf && reg == 4) {  // FNSTSW AX (non-waiting)
    if (!check_nm(x)) return false;
    reg_set<2>(x.s, kRax, get16(f + kFsw));
    return true;
  }
  if (!check_waiting(x)) return false;
  // FCMOVcc reads and FCOMI/FUCOMI(P) write the arithmetic flags.
  const bool fcmov = (op == 0xda || op == 0xdb) && reg < 4;
  const bool fcomi = (op == 0xdb || op == 0xdf) && (reg == 5 || reg == 6);
  uint64_t rflags = (fcmov || fcomi) ? x.flags() : 0;
  Image img;
  load_image(x.s, &img);
  uint64_t out = run(static_cast<uint8_t>(op), modrm, &img, nullptr, rflags);
  commit_image(x, i, img, op, reg, 0);
  if (fcomi) x.set_arith_flags(out);
  return true;
}

bool exec_fwait(Exec& x, const Insn&) {
  // SDM Vol. 3 Table 2-2: WAIT takes #NM only when both MP and TS are set.
  if ((x.s.cr0 & (kCr0MP | kCr0TS)) == (kCr0MP | kCr0TS)) return raise(x.cpu, kNM);
  if (exception_pending(x.s)) return raise(x.cpu, kMF);
  return true;
}

}  // namespace skvm::cpu::x87
