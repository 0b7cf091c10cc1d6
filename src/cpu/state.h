// The architectural state of one x86-64 logical processor, as the engine
// keeps it between runs. Plain data: the kvm layer copies it to and from the
// kvm_regs / kvm_sregs / kvm_fpu / MSR structs; the engine reads and writes
// it while running. Lazy flags live inside the engine while it runs: at every
// return from Cpu::run() `rflags` is exact.
#pragma once

#include <array>
#include <cstdint>

namespace skvm::cpu {

enum Gpr : uint8_t {
  kRax, kRcx, kRdx, kRbx, kRsp, kRbp, kRsi, kRdi,
  kR8, kR9, kR10, kR11, kR12, kR13, kR14, kR15,
};

enum SegReg : uint8_t { kEs, kCs, kSs, kDs, kFs, kGs, kNumSegRegs };

// Same fields as struct kvm_segment (VMX "unusable" included), so the
// conversion is field-by-field.
struct Segment {
  uint64_t base = 0;
  uint32_t limit = 0xffff;
  uint16_t selector = 0;
  uint8_t type = 0;  // 4-bit descriptor type
  uint8_t present = 1;
  uint8_t dpl = 0;
  uint8_t db = 0;
  uint8_t s = 1;
  uint8_t l = 0;
  uint8_t g = 0;
  uint8_t avl = 0;
  uint8_t unusable = 0;
};

struct DescTable {
  uint64_t base = 0;
  uint16_t limit = 0xffff;
};

// RFLAGS bits.
inline constexpr uint64_t kFlagCF = 1u << 0;
inline constexpr uint64_t kFlagFixed1 = 1u << 1;
inline constexpr uint64_t kFlagPF = 1u << 2;
inline constexpr uint64_t kFlagAF = 1u << 4;
inline constexpr uint64_t kFlagZF = 1u << 6;
inline constexpr uint64_t kFlagSF = 1u << 7;
inline constexpr uint64_t kFlagTF = 1u << 8;
inline constexpr uint64_t kFlagIF = 1u << 9;
inline constexpr uint64_t kFlagDF = 1u << 10;
inline constexpr uint64_t kFlagOF = 1u << 11;
inline constexpr uint64_t kFlagIOPL = 3u << 12;
inline constexpr uint64_t kFlagNT = 1u << 14;
inline constexpr uint64_t kFlagRF = 1u << 16;
inline constexpr uint64_t kFlagVM = 1u << 17;
inline constexpr uint64_t kFlagAC = 1u << 18;
inline constexpr uint64_t kFlagVIF = 1u << 19;
inline constexpr uint64_t kFlagVIP = 1u << 20;
inline constexpr uint64_t kFlagID = 1u << 21;
inline constexpr uint64_t kFlagsArith = kFlagCF | kFlagPF | kFlagAF | kFlagZF | kFlagSF | kFlagOF;

// Control register / EFER bits.
inline constexpr uint64_t kCr0PE = 1u << 0, kCr0MP = 1u << 1, kCr0EM = 1u << 2, kCr0TS = 1u << 3,
                          kCr0ET = 1u << 4, kCr0NE = 1u << 5, kCr0WP = 1u << 16, kCr0AM = 1u << 18,
                          kCr0NW = 1u << 29, kCr0CD = 1u << 30, kCr0PG = 1u << 31;
inline constexpr uint64_t kCr4VME = 1u << 0, kCr4PVI = 1u << 1, kCr4TSD = 1u << 2, kCr4DE = 1u << 3,
                          kCr4PSE = 1u << 4, kCr4PAE = 1u << 5, kCr4MCE = 1u << 6, kCr4PGE = 1u << 7,
                          kCr4PCE = 1u << 8, kCr4OSFXSR = 1u << 9, kCr4OSXMMEXCPT = 1u << 10,
                          kCr4OSXSAVE = 1u << 18;
inline constexpr uint64_t kEferSCE = 1u << 0, kEferLME = 1u << 8, kEferLMA = 1u << 10, kEferNXE = 1u << 11;

// Exception vectors.
enum Vector : uint8_t {
  kDE = 0, kDB = 1, kNMI = 2, kBP = 3, kOF = 4, kBR = 5, kUD = 6, kNM = 7, kDF = 8,
  kTS = 10, kNP = 11, kSS = 12, kGP = 13, kPF = 14, kMF = 16, kAC = 17, kMC = 18, kXM = 19,
};

// The model-specific registers the engine keeps (the ones a 64-bit kernel
// uses). FS/GS base live in seg[kFs]/seg[kGs].base.
struct Msrs {
  uint64_t star = 0, lstar = 0, cstar = 0, sfmask = 0;
  uint64_t kernel_gs_base = 0;
  uint64_t sysenter_cs = 0, sysenter_esp = 0, sysenter_eip = 0;
  uint64_t tsc_aux = 0;
  uint64_t pat = 0x0007040600070406ull;
  uint64_t misc_enable = 1;  // fast strings, as KVM's reset value
  uint64_t tsc_offset = 0;   // guest TSC = host-independent counter + offset
  uint64_t mtrr_def_type = 0;
  std::array<uint64_t, 11> mtrr_fixed{};  // 0x250, 0x258, 0x259, 0x268..0x26f
  std::array<uint64_t, 16> mtrr_var{};    // 0x200..0x20f (base/mask pairs)
};

struct CpuState {
  std::array<uint64_t, 16> gpr{};
  uint64_t rip = 0xfff0;
  uint64_t rflags = kFlagFixed1;

  std::array<Segment, kNumSegRegs> seg{};
  Segment ldt{}, tr{};
  DescTable gdt{}, idt{};

  uint64_t cr0 = 0x60000010;  // KVM's reset value: CD | NW | ET
  uint64_t cr2 = 0, cr3 = 0, cr4 = 0, cr8 = 0;
  uint64_t efer = 0;
  uint64_t apic_base = 0xfee00900;  // BSP | enabled | 0xfee00000
  std::array<uint64_t, 4> dr{};
  uint64_t dr6 = 0xffff0ff0, dr7 = 0x400;
  uint64_t xcr0 = 1;
  // XSAVE components (bit 0 x87, bit 1 SSE) last loaded as "in use"
  // (XRSTOR, KVM_SET_XSAVE); ORed with the components whose state differs
  // from the initial configuration to form XINUSE (SDM Vol. 1 13.6).
  uint64_t xinuse = 0;
  Msrs msr{};

  // x87/SSE state in FXSAVE layout (512 bytes, 64-bit format).
  alignas(16) std::array<uint8_t, 512> fxsave{};

  // Execution status.
  bool halted = false;
  uint8_t interrupt_shadow = 0;  // KVM_X86_SHADOW_INT_MOV_SS / _STI bits
  bool nmi_masked = false;
};

}  // namespace skvm::cpu
