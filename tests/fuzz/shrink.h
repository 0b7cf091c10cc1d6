// Shrinking a failing case and writing it out as a regression guest.
#pragma once

#include <functional>
#include <string>

#include "program.h"
#include "runner.h"

namespace skvm::fuzz {

// True while the (smaller) program still shows the failure being shrunk.
using StillFails = std::function<bool(const Program&)>;

// Drops instructions and simplifies values (registers to 0, RFLAGS to its
// minimum, data to zeros) while `still_fails` holds. Deterministic.
Program shrink(Program p, const StillFails& still_fails);

// The case as a tests/guest .asm (tests/guest/guest_spec.h header): the
// prologue as nasm instructions, the body as bytes commented with the table
// row, the data region, and the expectations taken from `oracle` (the final
// state of the reference run). `title` and `why` become the leading comment.
std::string to_asm(const Program& p, const Outcome& oracle, const std::string& title,
                   const std::string& why);

}  // namespace skvm::fuzz
