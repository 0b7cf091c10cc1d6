// One-instruction disassembly for the VMM's failure diagnostics (Zydis).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "vmm/kvm_abi.h"

namespace skvm::vmm {

// The instruction at `bytes` in the CPU mode `sregs` describes (64-bit,
// 32/16-bit protected, real), Intel syntax; "(undecodable)" when the bytes
// are not a valid instruction.
std::string disassemble(const uint8_t* bytes, size_t size, const kvm_sregs& sregs, uint64_t rip);

}  // namespace skvm::vmm
