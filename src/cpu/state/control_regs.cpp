// SDM Vol. 3A 2.5 (control registers), 9.8.5 (entering long mode), Vol. 2B
// MOV to CR. Checks and side effects follow arch/x86/kvm/x86.c
// (kvm_set_cr0 / kvm_set_cr3 / kvm_set_cr4 / kvm_set_cr8).
#include "cpu/mmu/mmu_impl.h"
#include "cpu/state/control_regs.h"

namespace skvm::cpu {

Mode current_mode(const CpuState& s) {
  if (!(s.cr0 & kCr0PE)) return Mode::kReal;
  if (s.rflags & kFlagVM) return Mode::kV86;
  const Segment& cs = s.seg[kCs];
  if (s.efer & kEferLMA) {
    if (cs.l) return Mode::kLong64;
    return cs.db ? Mode::kCompat32 : Mode::kCompat16;
  }
  return cs.db ? Mode::kProt32 : Mode::kProt16;
}

uint64_t cr4_reserved_bits(Cpu& cpu) {
  // Implemented: VME/PVI are gated on CPUID.1:EDX.VME, the rest of the
  // classic bits always; OSXSAVE and FSGSBASE follow the guest CPUID.
  // PCIDE, SMEP, SMAP, UMIP, LA57, PKE, VMXE, SMXE, CET are not implemented
  // by this engine and therefore always reserved (KVM's __cr4_reserved_bits
  // with those CPUID bits clear).
  uint64_t allowed = kCr4TSD | kCr4DE | kCr4PSE | kCr4PAE | kCr4MCE | kCr4PGE | kCr4PCE | kCr4OSFXSR |
                     kCr4OSXMMEXCPT;
  uint32_t r[4];
  cpu.bus().cpuid(0, 0, r);
  uint32_t max_basic = r[0];
  cpu.bus().cpuid(1, 0, r);
  if (r[3] & (1u << 1)) allowed |= kCr4VME | kCr4PVI;
  if (r[2] & (1u << 26)) allowed |= kCr4OSXSAVE;
  if (max_basic >= 7) {
    cpu.bus().cpuid(7, 0, r);
    if (r[1] & 1u) allowed |= kCr4FSGSBASE;
  }
  return ~allowed;
}

namespace {

bool write_cr0(Cpu& cpu, uint64_t value) {
  CpuState& s = cpu.state();
  const uint64_t old = s.cr0;
  if (value >> 32) return raise(cpu, kGP, 0);
  if ((value & kCr0NW) && !(value & kCr0CD)) return raise(cpu, kGP, 0);
  if ((value & kCr0PG) && !(value & kCr0PE)) return raise(cpu, kGP, 0);
  value |= kCr0ET;
  value &= kCr0PE | kCr0MP | kCr0EM | kCr0TS | kCr0ET | kCr0NE | kCr0WP | kCr0AM | kCr0NW | kCr0CD |
           kCr0PG;
  const bool enabling_pg = (value & kCr0PG) && !(old & kCr0PG);
  if (enabling_pg && (s.efer & kEferLME)) {
    // SDM 9.8.5: PAE required; CS.L must be 0 while activating.
    if (!(s.cr4 & kCr4PAE) || s.seg[kCs].l) return raise(cpu, kGP, 0);
  }
  if (!(s.efer & kEferLME) && (value & kCr0PG) && (s.cr4 & kCr4PAE) &&
      ((value ^ old) & (kCr0PG | kCr0CD | kCr0NW))) {
    if (!cpu.mmu().load_pdptes(s.cr3)) return raise(cpu, kGP, 0);
  }
  // Paging cannot be turned off in 64-bit mode (only from compatibility mode).
  if (!(value & kCr0PG) && (s.efer & kEferLMA) && s.seg[kCs].l) return raise(cpu, kGP, 0);

  s.cr0 = value;
  if (enabling_pg && (s.efer & kEferLME)) s.efer |= kEferLMA;
  if (!(value & kCr0PG) && (old & kCr0PG)) s.efer &= ~kEferLMA;
  if ((value ^ old) & (kCr0PG | kCr0WP | kCr0PE)) tlb_flush_all(cpu);
  return true;
}

bool write_cr3(Cpu& cpu, uint64_t value) {
  CpuState& s = cpu.state();
  if (s.efer & kEferLMA) {
    // Bits 63:MAXPHYADDR reserved (no PCID: bit 63 too).
    if (value >> cpu.mmu().maxphyaddr()) return raise(cpu, kGP, 0);
  } else {
    value &= 0xffffffffull;
    if ((s.cr0 & kCr0PG) && (s.cr4 & kCr4PAE) && !cpu.mmu().load_pdptes(value)) return raise(cpu, kGP, 0);
  }
  s.cr3 = value;
  tlb_flush_nonglobal(cpu);
  return true;
}

bool write_cr4(Cpu& cpu, uint64_t value) {
  CpuState& s = cpu.state();
  const uint64_t old = s.cr4;
  if (value & cr4_reserved_bits(cpu)) return raise(cpu, kGP, 0);
  if (s.efer & kEferLMA) {
    if (!(value & kCr4PAE)) return raise(cpu, kGP, 0);
  } else if ((s.cr0 & kCr0PG) && (value & kCr4PAE) && ((value ^ old) & (kCr4PGE | kCr4PSE | kCr4PAE))) {
    if (!cpu.mmu().load_pdptes(s.cr3)) return raise(cpu, kGP, 0);
  }
  s.cr4 = value;
  if ((value ^ old) & (kCr4PGE | kCr4PAE | kCr4PSE)) tlb_flush_all(cpu);
  return true;
}

}  // namespace

bool write_cr(Cpu& cpu, unsigned n, uint64_t value) {
  CpuState& s = cpu.state();
  switch (n) {
    case 0: return write_cr0(cpu, value);
    case 2:
      s.cr2 = (s.efer & kEferLMA) ? value : (value & 0xffffffffull);
      return true;
    case 3: return write_cr3(cpu, value);
    case 4: return write_cr4(cpu, value);
    case 8:
      if (value & ~0xfull) return raise(cpu, kGP, 0);
      s.cr8 = value;
      return true;
    default:
      return raise(cpu, kUD);
  }
}

}  // namespace skvm::cpu
