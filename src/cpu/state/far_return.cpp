// SDM Vol. 2B RET (far) and IRET, protected mode and IA-32e mode returns.
// Checks in the SDM's order (see also arch/x86/kvm/emulate.c em_ret_far,
// emulator_do_iret is real-mode only there: KVM relies on hardware).
#include "cpu/state/far_return.h"

#include "cpu/mmu/mmu_impl.h"
#include "cpu/state/descriptor.h"

namespace skvm::cpu {
namespace {

bool is_canonical(uint64_t v) { return static_cast<uint64_t>(static_cast<int64_t>(v << 16) >> 16) == v; }

}  // namespace

bool far_return(Cpu& cpu, const FarReturn& r) {
  CpuState& s = cpu.state();
  const unsigned old_cpl = cpl(s);
  const unsigned rpl = r.cs & 3u;
  const bool lma = (s.efer & kEferLMA) != 0;
  if ((r.cs & ~3u) == 0) return raise(cpu, kGP, 0);
  uint64_t cs_raw;
  const uint32_t cs_err = r.cs & 0xfffcu;
  switch (fetch_descriptor(cpu, r.cs, &cs_raw)) {
    case DescFetch::kOutOfLimits: return raise(cpu, kGP, cs_err);
    case DescFetch::kFault: return false;
    case DescFetch::kOk: break;
  }
  const unsigned type = desc_type(cs_raw);
  const unsigned dpl = desc_dpl(cs_raw);
  if (!desc_s(cs_raw) || !(type & 8) || rpl < old_cpl) return raise(cpu, kGP, cs_err);
  if ((type & 4) ? dpl > rpl : dpl != rpl) return raise(cpu, kGP, cs_err);
  if (!desc_present(cs_raw)) return raise(cpu, kNP, cs_err);
  if (lma && desc_l(cs_raw) && desc_db(cs_raw)) return raise(cpu, kGP, cs_err);
  Segment cs = decode_descriptor(cs_raw | (1ull << 40), r.cs);
  const bool to64 = lma && cs.l;
  if (to64 ? !is_canonical(r.rip) : r.rip > cs.limit) return raise(cpu, kGP, 0);

  const bool outer = rpl > old_cpl;
  Segment ss = s.seg[kSs];
  uint64_t ss_raw = 0;
  if (outer || r.has_stack) {
    const uint32_t ss_err = r.ss & 0xfffcu;
    if ((r.ss & ~3u) == 0) {
      // A null SS is only allowed when returning to 64-bit code below ring 3.
      if (!to64 || rpl == 3) return raise(cpu, kGP, 0);
      ss = null_segment(r.ss);
      ss.dpl = static_cast<uint8_t>(rpl);
    } else {
      switch (fetch_descriptor(cpu, r.ss, &ss_raw)) {
        case DescFetch::kOutOfLimits: return raise(cpu, kGP, ss_err);
        case DescFetch::kFault: return false;
        case DescFetch::kOk: break;
      }
      if ((r.ss & 3u) != rpl || desc_dpl(ss_raw) != rpl || !desc_s(ss_raw) || (desc_type(ss_raw) & 0xa) != 2) {
        return raise(cpu, kGP, ss_err);
      }
      if (!desc_present(ss_raw)) return raise(cpu, kSS, ss_err);
      ss = decode_descriptor(ss_raw | (1ull << 40), r.ss);
    }
  }
  if (!set_descriptor_accessed(cpu, r.cs, cs_raw)) return false;
  if (ss_raw != 0 && !set_descriptor_accessed(cpu, r.ss, ss_raw)) return false;

  // Commit.
  s.seg[kCs] = cs;
  s.rip = r.rip;
  if (outer || r.has_stack) {
    s.seg[kSs] = ss;
    if (to64 || ss.db) {
      s.gpr[kRsp] = to64 ? r.rsp : (r.rsp & 0xffffffffull);
    } else {
      s.gpr[kRsp] = (s.gpr[kRsp] & ~0xffffull) | (r.rsp & 0xffff);
    }
  }
  if (outer) {
    for (SegReg reg : {kEs, kDs, kFs, kGs}) {
      Segment& d = s.seg[reg];
      if (d.unusable || !d.present) continue;
      const bool conforming_code = (d.type & 8) && (d.type & 4);
      if (!conforming_code && d.dpl < rpl) {
        uint64_t base = d.base;
        d = null_segment(0);
        // The FS/GS bases of 64-bit code come from MSRs: keep them.
        if (lma && (reg == kFs || reg == kGs)) d.base = base;
      }
    }
  }
  return true;
}

}  // namespace skvm::cpu
