// SDM Vol. 2A CALL (Operation: CALL-GATE, MORE-PRIVILEGE, SAME-PRIVILEGE),
// JMP (CALL-GATE); Vol. 3A 5.8 (privilege level checks for call gates) and
// 5.8.5 / 5.8.6 (stack switching, parameter copy).
#include "cpu/events/call_gate.h"

#include <cstring>

#include "cpu/state/descriptor.h"

namespace skvm::cpu {
namespace {

bool is_canonical(uint64_t la) { return static_cast<uint64_t>(static_cast<int64_t>(la << 16) >> 16) == la; }

// Frame built highest address first (as pushes), then written in one go.
struct Frame {
  uint8_t bytes[8 * 36] = {};  // 31 parameters + SS, ESP, CS, EIP at 8 bytes
  unsigned size = 0;
  unsigned width = 0;
  void push(uint64_t v) {
    size += width;
    std::memcpy(bytes + sizeof bytes - size, &v, width);
  }
  const uint8_t* data() const { return bytes + sizeof bytes - size; }
};

// Where `f` lands below `sp` in stack segment `ss` (legacy) or flat (64-bit).
// #SS(error) when it does not fit.
bool place(Cpu& cpu, const Segment& ss, bool flat, uint64_t sp, unsigned size, uint32_t error, uint64_t* top,
           uint64_t* la) {
  if (flat) {
    *top = sp - size;
    if (!is_canonical(*top) || !is_canonical(sp - 1)) return raise(cpu, kSS, error);
    *la = *top;
    return true;
  }
  const uint64_t mask = ss.db ? 0xffffffffull : 0xffffull;
  sp &= mask;
  *top = (sp - size) & mask;
  const bool expand_down = !(ss.type & 8) && (ss.type & 4);
  const uint64_t upper = expand_down ? mask : ss.limit;
  const uint64_t lower = expand_down ? uint64_t{ss.limit} + 1 : 0;
  if (sp < size || *top < lower || sp - 1 > upper) return raise(cpu, kSS, error);
  *la = (ss.base + *top) & 0xffffffffull;
  return true;
}

}  // namespace

GateResult far_through_call_gate(Cpu& cpu, bool is_call, uint16_t selector, uint64_t return_rip) {
  CpuState& s = cpu.state();
  if ((selector & ~3u) == 0) return GateResult::kNotGate;
  uint64_t raw;
  switch (fetch_descriptor(cpu, selector, &raw)) {
    case DescFetch::kOutOfLimits: return GateResult::kNotGate;  // #GP(selector) on the normal path
    case DescFetch::kFault: return GateResult::kFailed;
    case DescFetch::kOk: break;
  }
  const unsigned gtype = desc_type(raw);
  if (desc_s(raw) || (gtype != 0x4 && gtype != 0xc)) return GateResult::kNotGate;
  const bool lma = (s.efer & kEferLMA) != 0;
  const uint32_t gerr = selector & 0xfffcu;
  auto fail = [&](uint8_t vector, uint32_t error) {
    raise(cpu, vector, error);
    return GateResult::kFailed;
  };
  if (lma && gtype == 0x4) return fail(kGP, gerr);  // no 16-bit gates in IA-32e mode
  const unsigned cur_cpl = cpl(s);
  const unsigned gdpl = desc_dpl(raw);
  if (gdpl < cur_cpl || gdpl < (selector & 3u)) return fail(kGP, gerr);
  if (!desc_present(raw)) return fail(kNP, gerr);
  uint64_t high = 0;
  if (lma) {
    switch (fetch_descriptor_high(cpu, selector, &high)) {
      case DescFetch::kOutOfLimits: return fail(kGP, gerr);
      case DescFetch::kFault: return GateResult::kFailed;
      case DescFetch::kOk: break;
    }
    if (((high >> 40) & 0x1f) != 0) return fail(kGP, gerr);  // upper half type must be 0
  }
  const uint16_t tsel = static_cast<uint16_t>(raw >> 16);
  uint64_t offset = (raw & 0xffff) | ((raw >> 32) & 0xffff0000ull);
  if (gtype == 0x4) offset &= 0xffff;
  if (lma) offset |= (high & 0xffffffffull) << 32;
  const unsigned params = lma ? 0 : static_cast<unsigned>((raw >> 32) & 0x1f);
  const unsigned gsize = lma ? 8 : (gtype == 0xc ? 4 : 2);

  // The target code segment.
  if ((tsel & ~3u) == 0) return fail(kGP, 0);
  const uint32_t terr = tsel & 0xfffcu;
  uint64_t cs_raw;
  switch (fetch_descriptor(cpu, tsel, &cs_raw)) {
    case DescFetch::kOutOfLimits: return fail(kGP, terr);
    case DescFetch::kFault: return GateResult::kFailed;
    case DescFetch::kOk: break;
  }
  if (!desc_s(cs_raw) || !(desc_type(cs_raw) & 8) || desc_dpl(cs_raw) > cur_cpl) return fail(kGP, terr);
  if (lma && (!desc_l(cs_raw) || desc_db(cs_raw))) return fail(kGP, terr);
  const bool conforming = (desc_type(cs_raw) & 4) != 0;
  if (!is_call && !conforming && desc_dpl(cs_raw) != cur_cpl) return fail(kGP, terr);
  if (!desc_present(cs_raw)) return fail(kNP, terr);
  const unsigned new_cpl = conforming ? cur_cpl : desc_dpl(cs_raw);
  const Segment new_cs = decode_descriptor(cs_raw | (1ull << 40), static_cast<uint16_t>((tsel & ~3u) | new_cpl));
  if (lma ? !is_canonical(offset) : offset > new_cs.limit) return fail(kGP, 0);

  if (!is_call) {
    if (!set_descriptor_accessed(cpu, tsel, cs_raw)) return GateResult::kFailed;
    s.seg[kCs] = new_cs;
    s.rip = offset;
    return GateResult::kDone;
  }

  const bool long64 = lma && s.seg[kCs].l;
  Frame f;
  f.width = gsize;
  Segment new_ss = s.seg[kSs];
  uint64_t new_sp = s.gpr[kRsp];
  uint64_t ss_raw = 0;
  uint32_t stack_error = 0;
  if (new_cpl < cur_cpl) {
    // MORE-PRIVILEGE: the stack for new_cpl from the TSS.
    const uint32_t tss_error = s.tr.selector & 0xfffcu;
    auto tss_read = [&](uint32_t off, unsigned size, uint64_t* v) {
      *v = 0;
      if (off + size - 1 > s.tr.limit) return raise(cpu, kTS, tss_error);
      uint64_t la = s.tr.base + off;
      if (!lma) la &= 0xffffffffull;
      return read_linear(cpu, la, v, size, Acc::kSysRead);
    };
    if (lma) {
      if (!tss_read(4 + new_cpl * 8, 8, &new_sp)) return GateResult::kFailed;
      new_ss = null_segment(static_cast<uint16_t>(new_cpl));
      new_ss.dpl = static_cast<uint8_t>(new_cpl);
    } else {
      uint64_t ss_sel64 = 0;
      const bool tss32 = (s.tr.type & 8) != 0;
      const bool ok = tss32 ? tss_read(4 + new_cpl * 8, 4, &new_sp) && tss_read(8 + new_cpl * 8, 2, &ss_sel64)
                            : tss_read(2 + new_cpl * 4, 2, &new_sp) && tss_read(4 + new_cpl * 4, 2, &ss_sel64);
      if (!ok) return GateResult::kFailed;
      const uint16_t ss_sel = static_cast<uint16_t>(ss_sel64);
      const uint32_t ss_error = ss_sel & 0xfffcu;
      if ((ss_sel & ~3u) == 0) return fail(kTS, 0);
      switch (fetch_descriptor(cpu, ss_sel, &ss_raw)) {
        case DescFetch::kOutOfLimits: return fail(kTS, ss_error);
        case DescFetch::kFault: return GateResult::kFailed;
        case DescFetch::kOk: break;
      }
      if ((ss_sel & 3u) != new_cpl || desc_dpl(ss_raw) != new_cpl || !desc_s(ss_raw) ||
          (desc_type(ss_raw) & 0xa) != 0x2) {
        return fail(kTS, ss_error);
      }
      if (!desc_present(ss_raw)) return fail(kSS, ss_error);
      new_ss = decode_descriptor(ss_raw | (1ull << 40), ss_sel);
      stack_error = ss_error;
    }
    // Push the caller's SS:ESP, its parameters (copied from its stack,
    // highest first) and CS:EIP.
    f.push(s.seg[kSs].selector);
    f.push(s.gpr[kRsp]);
    const uint64_t old_mask = s.seg[kSs].db ? 0xffffffffull : 0xffffull;
    for (unsigned k = params; k-- > 0;) {
      uint64_t v = 0;
      if (!read_mem(cpu, kSs, (s.gpr[kRsp] + k * gsize) & old_mask, &v, gsize)) return GateResult::kFailed;
      f.push(v);
    }
  }
  f.push(s.seg[kCs].selector);
  f.push(return_rip);

  const bool flat = lma && (new_cpl < cur_cpl || long64);
  uint64_t top = 0, la = 0;
  if (!place(cpu, new_ss, flat, new_sp, f.size, stack_error, &top, &la)) return GateResult::kFailed;
  if (!write_linear(cpu, la, f.data(), f.size, new_cpl == 3 ? Acc::kWrite : Acc::kSysWrite)) {
    return GateResult::kFailed;
  }
  if (!set_descriptor_accessed(cpu, tsel, cs_raw)) return GateResult::kFailed;
  if (ss_raw != 0 && !set_descriptor_accessed(cpu, new_ss.selector, ss_raw)) return GateResult::kFailed;
  s.seg[kCs] = new_cs;
  if (new_cpl < cur_cpl) s.seg[kSs] = new_ss;
  if (flat) {
    s.gpr[kRsp] = top;
  } else {
    const uint64_t mask = new_ss.db ? 0xffffffffull : 0xffffull;
    s.gpr[kRsp] = (new_sp & ~mask) | top;
  }
  s.rip = offset;
  return GateResult::kDone;
}

}  // namespace skvm::cpu
