// Segment descriptors (SDM Vol. 3A 3.4.5, 5.x): fetching them from the
// GDT/LDT, decoding them into Segment, setting the accessed bit.
#pragma once

#include <cstdint>

#include "cpu/core.h"

namespace skvm::cpu {

enum class DescFetch : uint8_t {
  kOk,
  kOutOfLimits,  // selector index beyond the table (caller raises with the selector)
  kFault,        // memory fault while reading: signals() already set
};

// Read the 8-byte descriptor for `selector` from the GDT or LDT (TI bit).
DescFetch fetch_descriptor(Cpu& cpu, uint16_t selector, uint64_t* raw);
// Read the upper 8 bytes of a 16-byte system descriptor (long mode).
DescFetch fetch_descriptor_high(Cpu& cpu, uint16_t selector, uint64_t* raw);

// Decode a descriptor into the Segment shape of struct kvm_segment.
Segment decode_descriptor(uint64_t raw, uint16_t selector);

// Set the accessed bit of a code/data descriptor in memory if it is clear
// (implicit supervisor write). Returns false on a memory fault.
bool set_descriptor_accessed(Cpu& cpu, uint16_t selector, uint64_t raw);

inline unsigned desc_type(uint64_t raw) { return (raw >> 40) & 0xf; }
inline bool desc_s(uint64_t raw) { return (raw >> 44) & 1; }
inline unsigned desc_dpl(uint64_t raw) { return (raw >> 45) & 3; }
inline bool desc_present(uint64_t raw) { return (raw >> 47) & 1; }
inline bool desc_l(uint64_t raw) { return (raw >> 53) & 1; }
inline bool desc_db(uint64_t raw) { return (raw >> 54) & 1; }

// The segment a null selector leaves in a data segment register.
Segment null_segment(uint16_t selector);

}  // namespace skvm::cpu
