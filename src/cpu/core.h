// Internal contract between the two halves of the engine:
//   exec/ (decoder, handlers, run loop)   calls
//   mmu/ + events/ + state/ (memory, exceptions, system state)  which implement
// these functions. Every function that can fault returns false after
// recording why in cpu.signals() (an exception to deliver, or a VM exit);
// the caller then abandons the instruction and returns to the run loop.
#pragma once

#include <cstdint>

#include "cpu/cpu.h"

namespace skvm::cpu {

// ---- Execution mode -------------------------------------------------------

enum class Mode : uint8_t {
  kReal,     // CR0.PE = 0
  kV86,      // RFLAGS.VM = 1
  kProt16,   // protected, CS.D = 0
  kProt32,   // protected, CS.D = 1
  kCompat16, // long mode, CS.L = 0, CS.D = 0
  kCompat32, // long mode, CS.L = 0, CS.D = 1
  kLong64,   // long mode, CS.L = 1
};

// Current mode from CR0/EFER/RFLAGS/CS. Cheap; exec/ caches it per block.
Mode current_mode(const CpuState& s);
// Default operand/address size in bytes (2, 4 or 8 for address in 64-bit).
inline unsigned default_operand_size(Mode m) {
  return (m == Mode::kProt32 || m == Mode::kCompat32 || m == Mode::kLong64) ? 4 : 2;
}
inline unsigned default_address_size(Mode m) {
  return m == Mode::kLong64 ? 8 : default_operand_size(m);
}
inline unsigned cpl(const CpuState& s) {
  if (!(s.cr0 & kCr0PE)) return 0;
  if (s.rflags & kFlagVM) return 3;
  return s.seg[kCs].selector & 3;  // KVM keeps CPL = CS.RPL = SS.DPL
}

// ---- Exceptions ------------------------------------------------------------

// Record an exception for the current instruction (fault semantics: RIP is
// rolled back to the instruction start by the run loop). Always returns false
// so handlers can `return raise(...)`.
bool raise(Cpu& cpu, uint8_t vector);
bool raise(Cpu& cpu, uint8_t vector, uint32_t error_code);
bool raise_pf(Cpu& cpu, uint64_t linear, uint32_t error_code);

// Deliver the exception in cpu.signals() (or a software/hardware interrupt)
// through the IVT/IDT of the current mode: pushes the frame, loads CS:RIP,
// handles #DF escalation. Returns Stop::kShutdown via `*stop` (and false) on
// a triple fault.
enum class EventKind : uint8_t { kException, kExternal, kSoftwareInt, kNmi };
bool deliver_event(Cpu& cpu, EventKind kind, uint8_t vector, bool has_error,
                   uint32_t error_code, uint64_t return_rip, bool* shutdown);

// ---- Memory ----------------------------------------------------------------

enum class Acc : uint8_t {
  kRead,
  kWrite,
  kExec,
  kSysRead,   // implicit supervisor read (descriptor tables, TSS, IDT)
  kSysWrite,  // implicit supervisor write (accessed bits, busy bits)
};

// Linear address accesses (paging + soft TLB + MMIO/readonly exits). Any size
// 1..16; page-crossing accesses are split.
bool read_linear(Cpu& cpu, uint64_t la, void* dst, unsigned size, Acc acc);
bool write_linear(Cpu& cpu, uint64_t la, const void* src, unsigned size, Acc acc);

// Segmented accesses: limit / rights checks (#GP/#SS with error 0) or the
// canonical check in 64-bit mode, then base + offset (offset already
// truncated to the address size by the caller).
bool seg_to_linear(Cpu& cpu, SegReg seg, uint64_t offset, unsigned size, Acc acc, uint64_t* la);
bool read_mem(Cpu& cpu, SegReg seg, uint64_t offset, void* dst, unsigned size);
bool write_mem(Cpu& cpu, SegReg seg, uint64_t offset, const void* src, unsigned size);

// Instruction fetch: host pointer to the bytes at linear address `la` for an
// instruction fetch, and how many bytes are readable there up to the end of
// the page (0 on fault, signals set). Used by the decoder.
const uint8_t* fetch_ptr(Cpu& cpu, uint64_t la, unsigned* avail, uint64_t* gpa);

// Soft TLB maintenance.
void tlb_flush_all(Cpu& cpu);
void tlb_flush_nonglobal(Cpu& cpu);
void tlb_flush_page(Cpu& cpu, uint64_t la);
// Drop writable mappings of a guest-physical page (it now holds cached code:
// further writes must go through code_page_written()).
void tlb_protect_code(Cpu& cpu, uint64_t gpa_page);

// ---- Implemented by exec/ for mmu/ ----------------------------------------

// True when gpa_page holds decoded code; mmu/ then never creates a writable
// TLB entry for it and calls code_page_written() on every write.
bool is_code_page(Cpu& cpu, uint64_t gpa_page);
void code_page_written(Cpu& cpu, uint64_t gpa, unsigned size);

// ---- System state ----------------------------------------------------------

// MOV to control registers with the SDM's checks (#GP) and side effects
// (mode change, TLB flush). n in {0, 2, 3, 4, 8}.
bool write_cr(Cpu& cpu, unsigned n, uint64_t value);
// Segment register loads (MOV Sreg, POP Sreg, LDS...): real/v86 mode
// base = sel << 4; protected mode descriptor checks and loading.
bool load_segment(Cpu& cpu, SegReg seg, uint16_t selector);
// Far control transfer to selector:offset (JMP/CALL far through code
// segment descriptors; call gates are raised as not implemented in this
// slice by returning false with an internal-error exit).
bool load_code_segment(Cpu& cpu, uint16_t selector, uint64_t offset);
bool rdmsr(Cpu& cpu, uint32_t index, uint64_t* value);  // #GP on unknown
bool wrmsr(Cpu& cpu, uint32_t index, uint64_t value);   // #GP on unknown/bad
void do_cpuid(Cpu& cpu);  // reads EAX/ECX, writes EAX..EDX from Bus::cpuid

}  // namespace skvm::cpu
