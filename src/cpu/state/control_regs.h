// Control-register helpers shared inside state/ (and its tests).
#pragma once

#include <cstdint>

#include "cpu/core.h"

namespace skvm::cpu {

inline constexpr uint64_t kCr4FSGSBASE = 1u << 16;

// CR4 bits a MOV to CR4 may not set with the current guest CPUID.
uint64_t cr4_reserved_bits(Cpu& cpu);

}  // namespace skvm::cpu
