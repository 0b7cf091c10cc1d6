// I/O permission check for IN/OUT/INS/OUTS (SDM Vol. 1 19.5): when
// CPL > IOPL or in virtual-8086 mode, the TSS I/O permission bitmap decides.
#pragma once

#include <cstdint>

#include "cpu/core.h"

namespace skvm::cpu {

// Returns true when the access to ports [port, port + size) is allowed;
// otherwise raises #GP(0) (or a page fault while reading the TSS) and
// returns false.
bool io_permitted(Cpu& cpu, uint16_t port, unsigned size);

}  // namespace skvm::cpu
