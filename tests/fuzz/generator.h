// Random valid instruction sequences from the instruction table
// (isa::kRows): every user-level, non-control-transfer form, with register
// and memory operands, random operand/size prefixes, LOCK, segment overrides
// and edge-case register, memory and immediate values.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "program.h"

namespace skvm::fuzz {

using Rng = std::mt19937_64;

// Rows the generator may emit in `mode`: user-level, no control transfer,
// no I/O, not system (kAttrEnd/Sys/Priv/Ud), and not in `excluded` (row
// names; NAME@16, NAME@32, NAME@64 exclude a row in one mode only).
std::vector<uint16_t> fuzzable_rows(FuzzMode mode, const std::vector<std::string>& excluded);

// A comma-separated list of names.
std::vector<std::string> split_names(const std::string& csv);

// A value biased to the interesting ones (0, 1, -1, sign bits, width
// boundaries) or random.
uint64_t edge_value(Rng& rng);

// Encodes one instance of `row` (plus its setup instructions) at the end of
// p.body. False when the row cannot be encoded in p.mode.
// `native`: the case must also run natively in user space (no FS/GS
// overrides, whose bases differ there). `host_kvm`: it must also run on the
// host's KVM emulator (ENTER with nesting level 0 only: em_enter refuses
// the others).
bool emit_row(Program& p, uint16_t row, Rng& rng, bool native = false, bool host_kvm = true);

// A full random case: initial state and `length` instructions from `rows`.
Program generate(FuzzMode mode, const std::vector<uint16_t>& rows, int length, Rng& rng,
                 bool native = false, bool host_kvm = true);

}  // namespace skvm::fuzz
