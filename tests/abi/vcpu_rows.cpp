// Rows for the vCPU fd: registers, MSRs, CPUID, translation, MP state,
// signal mask, immediate_exit, and requests that belong to other fd kinds.
// api.rst 4.10 .. 4.120; errno values from arch/x86/kvm/x86.c.
#include <cstring>

#include "abi_row.h"

namespace skvm::test {
namespace {

constexpr unsigned long kBogusRequest = _IO(KVMIO, 0xfe);
constexpr uint32_t kSysenterCs = 0x174;
constexpr uint32_t kSysenterEsp = 0x175;
constexpr uint32_t kUnknownMsr = 0xdeadbeef;


kvm_msrs* msrs(AbiContext& c, std::initializer_list<std::pair<uint32_t, uint64_t>> list,
               uint32_t nmsrs_override = 0) {
  auto* m = c.make<kvm_msrs>(list.size() * sizeof(kvm_msr_entry));
  m->nmsrs = nmsrs_override ? nmsrs_override : static_cast<uint32_t>(list.size());
  uint32_t i = 0;
  for (auto [index, data] : list) {
    m->entries[i].index = index;
    m->entries[i].data = data;
    ++i;
  }
  return m;
}

kvm_sregs* fresh_sregs(AbiContext& c) {
  auto* s = c.make<kvm_sregs>();
  if (Vcpu* v = c.vcpu()) c.must(v->ioctl(KVM_GET_SREGS, s), "KVM_GET_SREGS");
  return s;
}

kvm_signal_mask* signal_mask(AbiContext& c, uint32_t len) {
  auto* m = c.make<kvm_signal_mask>(8);
  m->len = len;
  return m;
}

void set_cpuid(AbiContext& c) {
  if (Vcpu* v = c.vcpu()) {
    std::string why = v->set_supported_cpuid();
    if (!why.empty()) c.verdict().fail("setup: " + why);
  }
}

kvm_translation* translation(AbiContext& c, uint64_t linear) {
  auto* t = c.make<kvm_translation>();
  t->linear_address = linear;
  return t;
}

void expect_translation(AbiContext& c, Verdict& v, uint64_t phys, int valid) {
  auto* t = c.arg_as<kvm_translation>();
  if (valid) v.expect_eq(t->physical_address, phys, "physical_address");
  v.expect_eq(int{t->valid}, valid, "valid");
}

void long_mode(AbiContext& c) {
  std::string why;
  if (!c.vm().add_ram(0, 0, 0x200000, 0, &why)) c.verdict().fail("setup: " + why);
  set_cpuid(c);
  if (Vcpu* v = c.vcpu()) {
    why = v->enter_mode(Mode::kLong, kFlatEntry);
    if (!why.empty()) c.verdict().fail("setup: " + why);
  }
}

AbiRow vcpu(const char* name, unsigned long request, std::function<unsigned long(AbiContext&)> arg,
            int ret, int err, std::function<void(AbiContext&, Verdict&, int)> check = nullptr,
            std::function<void(AbiContext&)> setup = nullptr) {
  return {name, FdKind::kVcpu, request, std::move(arg), ret, err, std::move(check),
          std::move(setup)};
}

}  // namespace

std::vector<AbiRow> vcpu_rows() {
  return {
      vcpu("RunNonZeroArgIsEINVAL", KVM_RUN, [](AbiContext&) { return 1UL; }, -1, EINVAL),
      // api.rst: immediate_exit makes KVM_RUN return -EINTR at once. KVM
      // returns before touching exit_reason (x86.c: !vcpu->wants_to_run), so
      // a fresh vCPU still reads KVM_EXIT_UNKNOWN; KVM_EXIT_INTR is for a
      // pending signal (AbiBehaviour.PendingSignalRunIsEINTRWithExitIntr).
      vcpu("ImmediateExitRunIsEINTRWithExitReasonUntouched", KVM_RUN, nullptr, -1, EINTR,
           [](AbiContext& c, Verdict& v, int) {
             v.expect_eq(c.vcpu()->run()->exit_reason, uint32_t{KVM_EXIT_UNKNOWN}, "exit_reason");
           },
           [](AbiContext& c) {
             if (Vcpu* v = c.vcpu()) v->run()->immediate_exit = 1;
           }),
      vcpu("GetRegsFreshVcpuIsResetState", KVM_GET_REGS,
           [](AbiContext& c) { return addr(c.make<kvm_regs>()); }, 0, 0,
           [](AbiContext& c, Verdict& v, int) {
             // SDM Vol. 3A, 9.1.1 Processor State After Reset; KVM puts
             // 0x600 in RDX while no CPUID is set.
             auto* r = c.arg_as<kvm_regs>();
             v.expect_eq(r->rip, 0xfff0ULL, "rip");
             v.expect_eq(r->rflags, 0x2ULL, "rflags");
             v.expect_eq(r->rdx, 0x600ULL, "rdx");
             v.expect_eq(r->rax | r->rbx | r->rcx | r->rsp | r->rbp | r->rsi | r->rdi, 0ULL, "gprs");
           }),
      vcpu("GetRegsBadPointerIsEFAULT", KVM_GET_REGS, [](AbiContext&) { return 8UL; }, -1, EFAULT),
      vcpu("SetRegsRoundTrips", KVM_SET_REGS,
           [](AbiContext& c) {
             auto* r = c.make<kvm_regs>();
             r->rax = 0x1122334455667788ULL;
             r->r15 = 0xf00d;
             r->rip = 0x1000;
             r->rflags = 0x202;
             return addr(r);
           },
           0, 0,
           [](AbiContext& c, Verdict& v, int) {
             kvm_regs r{};
             c.must(c.vcpu()->ioctl(KVM_GET_REGS, &r), "KVM_GET_REGS");
             v.expect_eq(r.rax, 0x1122334455667788ULL, "rax");
             v.expect_eq(r.r15, 0xf00dULL, "r15");
             v.expect_eq(r.rip, 0x1000ULL, "rip");
             v.expect_eq(r.rflags, 0x202ULL, "rflags");
           }),
      vcpu("SetRegsBadPointerIsEFAULT", KVM_SET_REGS, [](AbiContext&) { return 8UL; }, -1, EFAULT),
      vcpu("GetSregsFreshVcpuIsResetState", KVM_GET_SREGS,
           [](AbiContext& c) { return addr(c.make<kvm_sregs>()); }, 0, 0,
           [](AbiContext& c, Verdict& v, int) {
             auto* s = c.arg_as<kvm_sregs>();
             v.expect_eq(s->cr0, 0x60000010ULL, "cr0");
             v.expect_eq(int{s->cs.selector}, 0xf000, "cs.selector");
             v.expect_eq(s->cs.base, 0xffff0000ULL, "cs.base");
             v.expect_eq(s->cs.limit, 0xffffu, "cs.limit");
             v.expect_eq(s->efer, 0ULL, "efer");
             v.expect_eq(s->apic_base, 0xfee00900ULL, "apic_base");
           }),
      vcpu("GetSregsBadPointerIsEFAULT", KVM_GET_SREGS, [](AbiContext&) { return 8UL; }, -1, EFAULT),
      vcpu("SetSregsRoundTripSucceeds", KVM_SET_SREGS,
           [](AbiContext& c) { return addr(fresh_sregs(c)); }, 0, 0),
      vcpu("SetSregsPagingWithoutProtectionIsEINVAL", KVM_SET_SREGS,
           [](AbiContext& c) {
             auto* s = fresh_sregs(c);
             s->cr0 = 0x80000000;
             return addr(s);
           },
           -1, EINVAL),
      vcpu("SetSregsLongModeWithoutPaeIsEINVAL", KVM_SET_SREGS,
           [](AbiContext& c) {
             auto* s = fresh_sregs(c);
             s->cr0 = 0x80000011;
             s->efer = 0x500;
             s->cr4 = 0;
             return addr(s);
           },
           -1, EINVAL, nullptr, set_cpuid),
      vcpu("SetSregsCsLOutsideLongModeIsEINVAL", KVM_SET_SREGS,
           [](AbiContext& c) {
             auto* s = fresh_sregs(c);
             s->cs.l = 1;
             return addr(s);
           },
           -1, EINVAL),
      // MXCSR is not checked: the host reports 0 for a fresh vCPU where the
      // SDM's reset value is 0x1f80; AbiDiff compares the whole kvm_fpu.
      vcpu("GetFpuFreshVcpuHasDefaultFcw", KVM_GET_FPU,
           [](AbiContext& c) { return addr(c.make<kvm_fpu>()); }, 0, 0,
           [](AbiContext& c, Verdict& v, int) {
             auto* f = c.arg_as<kvm_fpu>();
             v.expect_eq(int{f->fcw}, 0x37f, "fcw");
           }),
      vcpu("SetFpuRoundTrips", KVM_SET_FPU,
           [](AbiContext& c) {
             auto* f = c.make<kvm_fpu>();
             f->fcw = 0x27f;
             f->mxcsr = 0x1f80;
             f->xmm[3][0] = 0x5a;
             return addr(f);
           },
           0, 0,
           [](AbiContext& c, Verdict& v, int) {
             kvm_fpu f{};
             c.must(c.vcpu()->ioctl(KVM_GET_FPU, &f), "KVM_GET_FPU");
             v.expect_eq(int{f.fcw}, 0x27f, "fcw");
             v.expect_eq(int{f.xmm[3][0]}, 0x5a, "xmm3 byte 0");
           }),
      // ---- XSAVE / XCRS (api.rst: KVM_GET_XSAVE ... KVM_SET_XCRS; x86.c,
      // fpu/xstate.c). Region offsets: MXCSR 24, MXCSR_MASK 28, XMM0 160,
      // XSTATE_BV 512, XCOMP_BV 520.
      vcpu("GetXsaveFreshVcpuIsInitialState", KVM_GET_XSAVE,
           [](AbiContext& c) { return addr(c.make<kvm_xsave>()); }, 0, 0,
           [](AbiContext& c, Verdict& v, int) {
             const auto* b = reinterpret_cast<const uint8_t*>(c.arg_as<kvm_xsave>()->region);
             uint64_t bv;
             uint32_t mx, mask;
             uint16_t fcw;
             std::memcpy(&bv, b + 512, 8);
             std::memcpy(&mx, b + 24, 4);
             std::memcpy(&mask, b + 28, 4);
             std::memcpy(&fcw, b, 2);
             v.expect_eq(bv, uint64_t{0}, "XSTATE_BV");
             v.expect_eq(int{fcw}, 0x37f, "FCW");
             v.expect_eq(mx, 0x1f80u, "MXCSR");
             v.expect_eq(mask, 0xffffu, "MXCSR_MASK");
           }),
      vcpu("SetXsaveRoundTripsX87AndSse", KVM_SET_XSAVE,
           [](AbiContext& c) {
             auto* x = c.make<kvm_xsave>();
             auto* b = reinterpret_cast<uint8_t*>(x->region);
             const uint64_t bv = 3;
             const uint32_t mx = 0x1f81;
             const uint16_t fcw = 0x27f;
             std::memcpy(b + 512, &bv, 8);
             std::memcpy(b + 24, &mx, 4);
             std::memcpy(b, &fcw, 2);
             for (unsigned k = 0; k < 256; ++k) b[160 + k] = static_cast<uint8_t>(k * 7 + 1);
             return addr(x);
           },
           0, 0,
           [](AbiContext& c, Verdict& v, int) {
             kvm_xsave out{};
             c.must(c.vcpu()->ioctl(KVM_GET_XSAVE, &out), "KVM_GET_XSAVE");
             const auto* in = reinterpret_cast<const uint8_t*>(c.arg_as<kvm_xsave>()->region);
             const auto* b = reinterpret_cast<const uint8_t*>(out.region);
             v.expect_eq(std::memcmp(in + 160, b + 160, 256), 0, "XMM0..15");
             v.expect_eq(std::memcmp(in, b, 4), 0, "FCW, FSW");
             v.expect_eq(std::memcmp(in + 24, b + 24, 4), 0, "MXCSR");
             v.expect_eq(std::memcmp(in + 512, b + 512, 16), 0, "XSTATE_BV, XCOMP_BV");
             kvm_fpu f{};
             c.must(c.vcpu()->ioctl(KVM_GET_FPU, &f), "KVM_GET_FPU");
             v.expect_eq(int{f.fcw}, 0x27f, "KVM_GET_FPU fcw");
             v.expect_eq(int{f.xmm[1][0]}, 16 * 7 + 1, "KVM_GET_FPU xmm1 byte 0");
             v.expect_eq(f.mxcsr, 0u, "KVM_GET_FPU mxcsr is not reported");
           }),
      vcpu("SetXsaveInitHeaderResetsComponents", KVM_SET_XSAVE,
           [](AbiContext& c) {
             auto* x = c.make<kvm_xsave>();
             auto* b = reinterpret_cast<uint8_t*>(x->region);
             const uint32_t mx = 0x1f81;
             std::memcpy(b + 24, &mx, 4);
             b[160] = 7;
             return addr(x);
           },
           0, 0,
           [](AbiContext& c, Verdict& v, int) {
             kvm_xsave out{};
             c.must(c.vcpu()->ioctl(KVM_GET_XSAVE, &out), "KVM_GET_XSAVE");
             const auto* b = reinterpret_cast<const uint8_t*>(out.region);
             uint32_t mx;
             std::memcpy(&mx, b + 24, 4);
             v.expect_eq(mx, 0x1f80u, "MXCSR initial");
             v.expect_eq(int{b[160]}, 0, "XMM0 initial");
           }),
      vcpu("SetXsaveNonZeroXcompBvIsEINVAL", KVM_SET_XSAVE,
           [](AbiContext& c) {
             auto* x = c.make<kvm_xsave>();
             const uint64_t v = 3;
             std::memcpy(reinterpret_cast<uint8_t*>(x->region) + 520, &v, 8);
             return addr(x);
           },
           -1, EINVAL),
      vcpu("SetXsaveReservedHeaderByteIsEINVAL", KVM_SET_XSAVE,
           [](AbiContext& c) {
             auto* x = c.make<kvm_xsave>();
             reinterpret_cast<uint8_t*>(x->region)[540] = 1;
             return addr(x);
           },
           -1, EINVAL),
      vcpu("SetXsaveReservedMxcsrBitIsEINVAL", KVM_SET_XSAVE,
           [](AbiContext& c) {
             auto* x = c.make<kvm_xsave>();
             auto* b = reinterpret_cast<uint8_t*>(x->region);
             const uint64_t bv = 3;
             const uint32_t mx = 0x10000;
             std::memcpy(b + 512, &bv, 8);
             std::memcpy(b + 24, &mx, 4);
             return addr(x);
           },
           -1, EINVAL),
      vcpu("GetXcrsReportsXcr0", KVM_GET_XCRS, [](AbiContext& c) { return addr(c.make<kvm_xcrs>()); }, 0, 0,
           [](AbiContext& c, Verdict& v, int) {
             auto* x = c.arg_as<kvm_xcrs>();
             v.expect_eq(x->nr_xcrs, 1u, "nr_xcrs");
             v.expect_eq(x->xcrs[0].xcr, 0u, "xcr");
             v.expect_eq(x->xcrs[0].value, uint64_t{1}, "XCR0 at reset");
           }),
      vcpu("SetXcrsSseBeforeCpuidIsEINVAL", KVM_SET_XCRS,
           [](AbiContext& c) {
             auto* x = c.make<kvm_xcrs>();
             x->nr_xcrs = 1;
             x->xcrs[0].value = 3;
             return addr(x);
           },
           -1, EINVAL),
      vcpu("SetXcrsX87SseAfterSupportedCpuidRoundTrips", KVM_SET_XCRS,
           [](AbiContext& c) {
             auto* x = c.make<kvm_xcrs>();
             x->nr_xcrs = 1;
             x->xcrs[0].value = 3;
             return addr(x);
           },
           0, 0,
           [](AbiContext& c, Verdict& v, int) {
             kvm_xcrs out{};
             c.must(c.vcpu()->ioctl(KVM_GET_XCRS, &out), "KVM_GET_XCRS");
             v.expect_eq(out.xcrs[0].value, uint64_t{3}, "XCR0");
           },
           set_cpuid),
      vcpu("SetXcrsFlagsIsEINVAL", KVM_SET_XCRS,
           [](AbiContext& c) {
             auto* x = c.make<kvm_xcrs>();
             x->flags = 1;
             return addr(x);
           },
           -1, EINVAL),
      vcpu("GetMsrsKnownReturnsCount", KVM_GET_MSRS,
           [](AbiContext& c) { return addr(msrs(c, {{kSysenterCs, 1}, {kSysenterEsp, 1}})); }, 2, 0,
           [](AbiContext& c, Verdict& v, int) {
             auto* m = c.arg_as<kvm_msrs>();
             v.expect_eq(m->entries[0].data, 0ULL, "SYSENTER_CS after reset");
           }),
      vcpu("GetMsrsStopsAtFirstUnknown", KVM_GET_MSRS,
           [](AbiContext& c) {
             return addr(msrs(c, {{kSysenterCs, 0}, {kUnknownMsr, 0}, {kSysenterEsp, 0}}));
           },
           1, 0),
      vcpu("GetMsrsUnknownFirstReturns0", KVM_GET_MSRS,
           [](AbiContext& c) { return addr(msrs(c, {{kUnknownMsr, 0}, {kSysenterCs, 0}})); }, 0, 0),
      vcpu("GetMsrsTooManyIsE2BIG", KVM_GET_MSRS,
           [](AbiContext& c) { return addr(msrs(c, {{kSysenterCs, 0}}, 256)); }, -1, E2BIG),
      vcpu("GetMsrsBadPointerIsEFAULT", KVM_GET_MSRS, [](AbiContext&) { return 8UL; }, -1, EFAULT),
      vcpu("SetMsrsStopsAtFirstUnknown", KVM_SET_MSRS,
           [](AbiContext& c) {
             return addr(msrs(c, {{kSysenterCs, 0x10}, {kUnknownMsr, 0}, {kSysenterEsp, 0x99}}));
           },
           1, 0,
           [](AbiContext& c, Verdict& v, int) {
             kvm_msrs* m = msrs(c, {{kSysenterCs, 0}, {kSysenterEsp, 0}});
             c.must(c.vcpu()->ioctl(KVM_GET_MSRS, m), "KVM_GET_MSRS");
             v.expect_eq(m->entries[0].data, 0x10ULL, "SYSENTER_CS written");
             v.expect_eq(m->entries[1].data, 0ULL, "SYSENTER_ESP not written");
           }),
      // EFER bit 20 is reserved: the write is refused, so 0 MSRs processed.
      vcpu("SetMsrsReservedEferBitStops", KVM_SET_MSRS,
           [](AbiContext& c) { return addr(msrs(c, {{0xc0000080, 1ULL << 20}})); }, 0, 0),
      vcpu("SetMsrsTooManyIsE2BIG", KVM_SET_MSRS,
           [](AbiContext& c) { return addr(msrs(c, {{kSysenterCs, 0}}, 256)); }, -1, E2BIG),
      vcpu("SetCpuid2TooManyEntriesIsE2BIG", KVM_SET_CPUID2,
           [](AbiContext& c) {
             auto* l = c.make<kvm_cpuid2>(257 * sizeof(kvm_cpuid_entry2));
             l->nent = 257;
             return addr(l);
           },
           -1, E2BIG),
      vcpu("GetCpuid2FreshVcpuReturnsNoEntries", KVM_GET_CPUID2,
           [](AbiContext& c) {
             auto* l = c.make<kvm_cpuid2>(4 * sizeof(kvm_cpuid_entry2));
             l->nent = 4;
             return addr(l);
           },
           0, 0,
           [](AbiContext& c, Verdict& v, int) {
             v.expect_eq(c.arg_as<kvm_cpuid2>()->nent, 0u, "nent");
           }),
      vcpu("GetCpuid2AfterSetReturnsTheSetEntries", KVM_GET_CPUID2,
           [](AbiContext& c) {
             auto* l = c.make<kvm_cpuid2>(256 * sizeof(kvm_cpuid_entry2));
             l->nent = 256;
             return addr(l);
           },
           0, 0,
           [](AbiContext& c, Verdict& v, int) {
             // The entries KVM_GET_SUPPORTED_CPUID gave and set_cpuid set.
             auto* got = c.arg_as<kvm_cpuid2>();
             auto* want = c.make<kvm_cpuid2>(256 * sizeof(kvm_cpuid_entry2));
             want->nent = 256;
             c.must(c.vm().sys_ioctl(KVM_GET_SUPPORTED_CPUID, addr(want)), "KVM_GET_SUPPORTED_CPUID");
             v.expect_eq(got->nent, want->nent, "nent");
             if (got->nent == want->nent && got->nent > 0) {
               v.expect_eq(got->entries[0].function, want->entries[0].function, "entry 0 leaf");
               v.expect_eq(got->entries[0].eax, want->entries[0].eax, "entry 0 eax");
             }
           },
           set_cpuid),
      vcpu("GetCpuid2TooSmallIsE2BIG", KVM_GET_CPUID2,
           [](AbiContext& c) {
             auto* l = c.make<kvm_cpuid2>(sizeof(kvm_cpuid_entry2));
             l->nent = 1;
             return addr(l);
           },
           -1, E2BIG, nullptr, set_cpuid),
      vcpu("TranslatePagingOffIsIdentity", KVM_TRANSLATE,
           [](AbiContext& c) { return addr(translation(c, 0x12345)); }, 0, 0,
           [](AbiContext& c, Verdict& v, int) { expect_translation(c, v, 0x12345, 1); }),
      vcpu("TranslateLongModeIdentityMapped", KVM_TRANSLATE,
           [](AbiContext& c) { return addr(translation(c, 0x200123)); }, 0, 0,
           [](AbiContext& c, Verdict& v, int) { expect_translation(c, v, 0x200123, 1); }, long_mode),
      vcpu("TranslateLongModeUnmappedIsInvalid", KVM_TRANSLATE,
           [](AbiContext& c) { return addr(translation(c, 0x40000000)); }, 0, 0,
           [](AbiContext& c, Verdict& v, int) { expect_translation(c, v, 0, 0); }, long_mode),
      vcpu("GetMpStateFreshBspIsRunnable", KVM_GET_MP_STATE,
           [](AbiContext& c) { return addr(c.make<kvm_mp_state>()); }, 0, 0,
           [](AbiContext& c, Verdict& v, int) {
             v.expect_eq(c.arg_as<kvm_mp_state>()->mp_state,
                         uint32_t{KVM_MP_STATE_RUNNABLE}, "mp_state");
           }),
      vcpu("SetMpStateRunnableSucceeds", KVM_SET_MP_STATE,
           [](AbiContext& c) { return addr(c.make<kvm_mp_state>()); }, 0, 0),
      vcpu("SetMpStateHaltedWithoutIrqchipIsEINVAL", KVM_SET_MP_STATE,
           [](AbiContext& c) {
             auto* m = c.make<kvm_mp_state>();
             m->mp_state = KVM_MP_STATE_HALTED;
             return addr(m);
           },
           -1, EINVAL),
      vcpu("SetMpStateBogusIsEINVAL", KVM_SET_MP_STATE,
           [](AbiContext& c) {
             auto* m = c.make<kvm_mp_state>();
             m->mp_state = 100;
             return addr(m);
           },
           -1, EINVAL),
      vcpu("SetSignalMaskLen8Succeeds", KVM_SET_SIGNAL_MASK,
           [](AbiContext& c) { return addr(signal_mask(c, 8)); }, 0, 0),
      vcpu("SetSignalMaskBadLenIsEINVAL", KVM_SET_SIGNAL_MASK,
           [](AbiContext& c) { return addr(signal_mask(c, 4)); }, -1, EINVAL),
      vcpu("SetSignalMaskNullClearsAndSucceeds", KVM_SET_SIGNAL_MASK, nullptr, 0, 0),
      vcpu("SetSignalMaskBadPointerIsEFAULT", KVM_SET_SIGNAL_MASK, [](AbiContext&) { return 8UL; },
           -1, EFAULT),
      vcpu("CreateVcpuOnVcpuFdIsEINVAL", KVM_CREATE_VCPU, nullptr, -1, EINVAL),
      vcpu("SetUserMemoryRegionOnVcpuFdIsEINVAL", KVM_SET_USER_MEMORY_REGION,
           [](AbiContext& c) { return addr(c.make<kvm_userspace_memory_region>()); }, -1, EINVAL),
      vcpu("BogusRequestOnVcpuFdIsEINVAL", kBogusRequest, nullptr, -1, EINVAL),
  };
}

}  // namespace skvm::test
