#include "vmm/disasm.h"

#include <Zydis/Zydis.h>

#include "vmm/x86_setup.h"

namespace skvm::vmm {
namespace {

// SDM Vol. 3A, 2.2 "Modes of Operation": the mode follows CR0.PE, EFER.LMA
// and the code segment's L and D bits.
ZydisMachineMode machine_mode(const kvm_sregs& sregs) {
  if (!(sregs.cr0 & kCr0Pe)) return ZYDIS_MACHINE_MODE_REAL_16;
  if (sregs.efer & kEferLma) {
    if (sregs.cs.l) return ZYDIS_MACHINE_MODE_LONG_64;
    return sregs.cs.db ? ZYDIS_MACHINE_MODE_LONG_COMPAT_32 : ZYDIS_MACHINE_MODE_LONG_COMPAT_16;
  }
  return sregs.cs.db ? ZYDIS_MACHINE_MODE_LEGACY_32 : ZYDIS_MACHINE_MODE_LEGACY_16;
}

}  // namespace

std::string disassemble(const uint8_t* bytes, size_t size, const kvm_sregs& sregs, uint64_t rip) {
  ZydisDisassembledInstruction insn;
  if (!ZYAN_SUCCESS(ZydisDisassembleIntel(machine_mode(sregs), rip, bytes, size, &insn))) {
    return "(undecodable)";
  }
  return insn.text;
}

}  // namespace skvm::vmm
