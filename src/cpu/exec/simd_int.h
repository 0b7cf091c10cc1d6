// Handlers for the rows of isa/opcodes_simd_int.inc.
#pragma once

#include "cpu/exec/exec.h"
