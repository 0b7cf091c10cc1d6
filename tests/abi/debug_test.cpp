// api.rst: KVM_SET_GUEST_DEBUG, KVM_GET/SET_DEBUGREGS, KVM_GET/SET_VCPU_EVENTS
// and the guest's own #DB (RFLAGS.TF, DR7), on both backends: every literal
// below must hold on the host /dev/kvm too (STYLE.md rule 4). Real-mode
// guests of a few instructions (the host emulates them at ~1 MIPS).
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "abi_context.h"

namespace skvm::test {
namespace {

const std::set<std::string>& known_failures() {
  static const std::set<std::string> known = load_known_failures(SKVM_ABI_KNOWN_FAILURES);
  return known;
}

std::string key(const char* test, const Backend& b) { return std::string("abi/") + test + "/" + b.name; }

class AbiDebug : public testing::TestWithParam<const Backend*> {};

// A real-mode guest: `code` at kRealEntry, IVT vectors 1, 3 and 6 pointing
// at `hlt` handlers at 0x500 + vector. Returns the vCPU (null after
// recording why in v).
Vcpu* real_guest(AbiContext& c, Verdict& v, const std::vector<uint8_t>& code) {
  std::string why;
  uint8_t* low = c.vm().add_ram(0, 0, 0x10000, 0, &why);
  Vcpu* vcpu = low ? c.vcpu() : nullptr;
  if (vcpu != nullptr) why = vcpu->enter_mode(Mode::kReal, kRealEntry);
  if (vcpu == nullptr || !why.empty()) {
    v.fail("setup: " + why);
    return nullptr;
  }
  for (uint16_t vec : {1, 3, 6}) {
    const uint16_t ivt[2] = {static_cast<uint16_t>(0x500 + vec), 0};
    std::memcpy(low + vec * 4, ivt, sizeof ivt);
    low[0x500 + vec] = 0xf4;
  }
  std::memcpy(low + kRealEntry, code.data(), code.size());
  return vcpu;
}

// vmx.c handle_exception_nmi writes GUEST_DR7 (the effective DR7) into
// debug.arch.dr7; the host here (kvm_pvm) leaves 0 there. softkvm follows
// vmx.c, so dr7 is checked on softkvm only.
void expect_exit_dr7(Verdict& v, const Backend& b, const kvm_run* run, uint64_t dr7) {
  if (&b == &kSoft) v.expect_eq(run->debug.arch.dr7, dr7, "dr7");
}

kvm_regs regs_of(AbiContext& c, Vcpu* vcpu) {
  kvm_regs r{};
  c.must(vcpu->ioctl(KVM_GET_REGS, &r), "KVM_GET_REGS");
  return r;
}

TEST_P(AbiDebug, DebugregsRoundTripAndRejectHighBitsAndFlags) {
  const Backend& b = *GetParam();
  SKVM_SKIP_IF_UNUSABLE(b);
  Verdict v(key("DebugregsRoundTripAndRejectHighBitsAndFlags", b), known_failures());
  AbiContext c(b, v);
  Vcpu* vcpu = c.vcpu();
  if (vcpu == nullptr) return;
  kvm_debugregs d{};
  c.must(vcpu->ioctl(KVM_GET_DEBUGREGS, &d), "KVM_GET_DEBUGREGS");
  v.expect_eq(d.dr6, uint64_t{0xffff0ff0}, "reset dr6");
  v.expect_eq(d.dr7, uint64_t{0x400}, "reset dr7");
  kvm_debugregs in{};
  in.db[0] = 0x1000;
  in.db[3] = 0xffffffff81000000ull;
  in.dr6 = 0xffff4ff1;
  in.dr7 = 0x401;
  v.expect_eq(vcpu->ioctl(KVM_SET_DEBUGREGS, &in).ret, 0, "KVM_SET_DEBUGREGS");
  kvm_debugregs out{};
  c.must(vcpu->ioctl(KVM_GET_DEBUGREGS, &out), "KVM_GET_DEBUGREGS");
  v.expect_eq(out.db[0], in.db[0], "db[0]");
  v.expect_eq(out.db[3], in.db[3], "db[3]");
  v.expect_eq(out.dr6, in.dr6, "dr6");
  v.expect_eq(out.dr7, in.dr7, "dr7");
  v.expect_eq(out.flags, 0u, "flags");
  kvm_debugregs bad = in;
  bad.flags = 1;
  Result r = vcpu->ioctl(KVM_SET_DEBUGREGS, &bad);
  v.expect_eq(r.ret, -1, "flags = 1");
  v.expect_eq(r.err, EINVAL, "flags = 1 errno");
  bad = in;
  bad.dr6 |= 1ull << 32;
  r = vcpu->ioctl(KVM_SET_DEBUGREGS, &bad);
  v.expect_eq(r.err, EINVAL, "dr6 bit 32 errno");
  bad = in;
  bad.dr7 |= 1ull << 40;
  r = vcpu->ioctl(KVM_SET_DEBUGREGS, &bad);
  v.expect_eq(r.err, EINVAL, "dr7 bit 40 errno");
}

TEST_P(AbiDebug, GuestDebugSingleStepExitsAfterOneInstruction) {
  const Backend& b = *GetParam();
  SKVM_SKIP_IF_UNUSABLE(b);
  Verdict v(key("GuestDebugSingleStepExitsAfterOneInstruction", b), known_failures());
  AbiContext c(b, v);
  Vcpu* vcpu = real_guest(c, v, {0x90, 0x90, 0xf4});
  if (vcpu == nullptr) return;
  kvm_guest_debug dbg{};
  dbg.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP;
  v.expect_eq(vcpu->ioctl(KVM_SET_GUEST_DEBUG, &dbg).ret, 0, "KVM_SET_GUEST_DEBUG");
  v.expect_eq(vcpu->ioctl(KVM_RUN, 0UL).ret, 0, "KVM_RUN");
  const kvm_run* run = vcpu->run();
  v.expect_eq(run->exit_reason, uint32_t{KVM_EXIT_DEBUG}, "exit_reason");
  v.expect_eq(run->debug.arch.exception, 1u, "exception");
  v.expect_eq(run->debug.arch.pc, kRealEntry + 1, "pc");
  v.expect_eq(run->debug.arch.dr6, uint64_t{0xffff4ff0}, "dr6");
  expect_exit_dr7(v, b, run, 0x400);
  kvm_regs regs = regs_of(c, vcpu);
  v.expect_eq(regs.rip, kRealEntry + 1, "rip");
  v.expect_eq(regs.rflags & 0x100, 0u, "TF hidden from the client");
  // Off again: the guest runs to its HLT.
  dbg.control = 0;
  c.must(vcpu->ioctl(KVM_SET_GUEST_DEBUG, &dbg), "KVM_SET_GUEST_DEBUG off");
  v.expect_eq(vcpu->ioctl(KVM_RUN, 0UL).ret, 0, "KVM_RUN 2");
  v.expect_eq(run->exit_reason, uint32_t{KVM_EXIT_HLT}, "exit_reason 2");
}

// 32-bit protected mode: in real mode vmx.c (handle_rmode_exception: "it
// breaks guest debugging in real mode") hands #BP to the guest.
TEST_P(AbiDebug, SoftwareBreakpointExitsWithRipOnTheInt3) {
  const Backend& b = *GetParam();
  SKVM_SKIP_IF_UNUSABLE(b);
  if (&b == &kHost) {
    GTEST_SKIP() << "host: its emulator cannot run INT3 outside real mode (KVM_EXIT_INTERNAL_ERROR, "
                    "DESIGN.md Testing), and in real mode vmx.c gives #BP to the guest";
  }
  Verdict v(key("SoftwareBreakpointExitsWithRipOnTheInt3", b), known_failures());
  AbiContext c(b, v);
  std::string why;
  uint8_t* mem = c.vm().add_ram(0, 0, 0x100000, 0, &why);
  Vcpu* vcpu = mem ? c.vcpu() : nullptr;
  if (vcpu != nullptr) why = vcpu->enter_mode(Mode::kProt32, kFlatEntry);
  if (vcpu == nullptr || !why.empty()) {
    v.fail("setup: " + why);
    return;
  }
  static constexpr uint8_t kCode[] = {0x90, 0xcc, 0xf4};
  std::memcpy(mem + kFlatEntry, kCode, sizeof kCode);
  kvm_guest_debug dbg{};
  dbg.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_SW_BP;
  c.must(vcpu->ioctl(KVM_SET_GUEST_DEBUG, &dbg), "KVM_SET_GUEST_DEBUG");
  v.expect_eq(vcpu->ioctl(KVM_RUN, 0UL).ret, 0, "KVM_RUN");
  const kvm_run* run = vcpu->run();
  v.expect_eq(run->exit_reason, uint32_t{KVM_EXIT_DEBUG}, "exit_reason");
  v.expect_eq(run->debug.arch.exception, 3u, "exception");
  v.expect_eq(run->debug.arch.pc, kFlatEntry + 1, "pc");
  v.expect_eq(regs_of(c, vcpu).rip, kFlatEntry + 1, "rip");
}

TEST_P(AbiDebug, HardwareBreakpointExitsBeforeTheInstruction) {
  const Backend& b = *GetParam();
  SKVM_SKIP_IF_UNUSABLE(b);
  Verdict v(key("HardwareBreakpointExitsBeforeTheInstruction", b), known_failures());
  AbiContext c(b, v);
  Vcpu* vcpu = real_guest(c, v, {0x90, 0x90, 0xf4});
  if (vcpu == nullptr) return;
  kvm_guest_debug dbg{};
  dbg.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP;
  dbg.arch.debugreg[1] = kRealEntry + 1;
  dbg.arch.debugreg[7] = 0x404;  // L1, execute
  c.must(vcpu->ioctl(KVM_SET_GUEST_DEBUG, &dbg), "KVM_SET_GUEST_DEBUG");
  v.expect_eq(vcpu->ioctl(KVM_RUN, 0UL).ret, 0, "KVM_RUN");
  const kvm_run* run = vcpu->run();
  v.expect_eq(run->exit_reason, uint32_t{KVM_EXIT_DEBUG}, "exit_reason");
  v.expect_eq(run->debug.arch.exception, 1u, "exception");
  v.expect_eq(run->debug.arch.pc, kRealEntry + 1, "pc");
  v.expect_eq(run->debug.arch.dr6, uint64_t{0xffff0ff2}, "dr6");
  expect_exit_dr7(v, b, run, 0x404);
  kvm_debugregs d{};
  c.must(vcpu->ioctl(KVM_GET_DEBUGREGS, &d), "KVM_GET_DEBUGREGS");
  v.expect_eq(d.dr7, uint64_t{0x400}, "the guest's DR7");
}

TEST_P(AbiDebug, GuestTrapFlagDeliversDebugTrapThroughTheIvt) {
  const Backend& b = *GetParam();
  SKVM_SKIP_IF_UNUSABLE(b);
  Verdict v(key("GuestTrapFlagDeliversDebugTrapThroughTheIvt", b), known_failures());
  AbiContext c(b, v);
  Vcpu* vcpu = real_guest(c, v, {0x90, 0x90, 0xf4});
  if (vcpu == nullptr) return;
  kvm_regs regs = regs_of(c, vcpu);
  regs.rflags |= 0x100;
  c.must(vcpu->ioctl(KVM_SET_REGS, &regs), "KVM_SET_REGS");
  v.expect_eq(vcpu->ioctl(KVM_RUN, 0UL).ret, 0, "KVM_RUN");
  v.expect_eq(vcpu->run()->exit_reason, uint32_t{KVM_EXIT_HLT}, "exit_reason");
  regs = regs_of(c, vcpu);
  v.expect_eq(regs.rip, uint64_t{0x502}, "rip (after the #DB handler's HLT)");
  v.expect_eq(regs.rsp, kRealStack - 6, "rsp");
  uint16_t frame[3];
  std::memcpy(frame, c.vm().host(kRealStack - 6, 6), sizeof frame);
  v.expect_eq(frame[0], uint16_t{kRealEntry + 1}, "stacked IP");
  v.expect_eq(frame[2] & 0x100, 0x100, "stacked TF");
  kvm_debugregs d{};
  c.must(vcpu->ioctl(KVM_GET_DEBUGREGS, &d), "KVM_GET_DEBUGREGS");
  v.expect_eq(d.dr6, uint64_t{0xffff4ff0}, "dr6");
}

TEST_P(AbiDebug, InjectedExceptionRoundTripsAndIsDeliveredAtEntry) {
  const Backend& b = *GetParam();
  SKVM_SKIP_IF_UNUSABLE(b);
  Verdict v(key("InjectedExceptionRoundTripsAndIsDeliveredAtEntry", b), known_failures());
  AbiContext c(b, v);
  Vcpu* vcpu = real_guest(c, v, {0x90, 0xf4});
  if (vcpu == nullptr) return;
  kvm_vcpu_events e{};
  e.exception.injected = 1;
  e.exception.nr = 6;
  e.flags = KVM_VCPUEVENT_VALID_SHADOW;
  e.interrupt.shadow = KVM_X86_SHADOW_INT_MOV_SS;
  e.nmi.masked = 1;
  v.expect_eq(vcpu->ioctl(KVM_SET_VCPU_EVENTS, &e).ret, 0, "KVM_SET_VCPU_EVENTS");
  kvm_vcpu_events out{};
  c.must(vcpu->ioctl(KVM_GET_VCPU_EVENTS, &out), "KVM_GET_VCPU_EVENTS");
  v.expect_eq(out.exception.injected, 1, "exception.injected");
  v.expect_eq(out.exception.nr, 6, "exception.nr");
  v.expect_eq(out.interrupt.shadow, KVM_X86_SHADOW_INT_MOV_SS, "interrupt.shadow");
  v.expect_eq(out.nmi.masked, 1, "nmi.masked");
  v.expect_eq(out.flags, 0x0du, "flags");
  v.expect_eq(vcpu->ioctl(KVM_RUN, 0UL).ret, 0, "KVM_RUN");
  v.expect_eq(vcpu->run()->exit_reason, uint32_t{KVM_EXIT_HLT}, "exit_reason");
  v.expect_eq(regs_of(c, vcpu).rip, uint64_t{0x507}, "rip (after the #UD handler's HLT)");
  c.must(vcpu->ioctl(KVM_GET_VCPU_EVENTS, &out), "KVM_GET_VCPU_EVENTS 2");
  v.expect_eq(out.exception.injected, 0, "exception.injected after delivery");
  e = {};
  e.exception.injected = 1;
  e.exception.nr = 32;
  v.expect_eq(vcpu->ioctl(KVM_SET_VCPU_EVENTS, &e).err, EINVAL, "vector 32 errno");
}

INSTANTIATE_TEST_SUITE_P(Kvm, AbiDebug, testing::Values(&kSoft, &kHost),
                         [](const testing::TestParamInfo<const Backend*>& info) {
                           return std::string(info.param->name);
                         });

}  // namespace
}  // namespace skvm::test
