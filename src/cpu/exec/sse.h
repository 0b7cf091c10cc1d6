// Handlers for the rows of isa/opcodes_sse.inc: data movement
// (sse_move.h), floating point and shuffles (sse_arith.h), MXCSR and state
// management (sse_state.h). Operand access: simd_operands.h.
#pragma once

#include "cpu/exec/exec.h"
#include "cpu/exec/sse_arith.h"
#include "cpu/exec/sse_move.h"
#include "cpu/exec/sse_state.h"
