// Handlers for the rows of isa/opcodes_x87.inc.
#pragma once

#include "cpu/exec/exec.h"
