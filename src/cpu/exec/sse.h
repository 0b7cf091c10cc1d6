// Handlers for the rows of isa/opcodes_sse.inc.
#pragma once

#include "cpu/exec/exec.h"
