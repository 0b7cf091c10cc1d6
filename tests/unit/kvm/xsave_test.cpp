// KVM_GET/SET_XSAVE and KVM_GET/SET_XCRS over CpuState (kvm/xsave.h). The
// literal expectations were checked on the host /dev/kvm (Linux 6.18):
// a fresh vCPU reads XSTATE_BV 0, FCW 037F, MXCSR 1F80, MXCSR_MASK FFFF;
// components not named in XSTATE_BV read as their initial values; XCOMP_BV,
// reserved header bytes and reserved MXCSR bits (with x87/SSE named) are
// EINVAL; XCR0 needs bit 0 and a guest CPUID 0xD that allows the rest.
#include "kvm/xsave.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>

#include "kvm/regs.h"

namespace skvm::kvm {
namespace {

uint8_t* bytes(kvm_xsave& x) { return reinterpret_cast<uint8_t*>(x.region); }
template <typename T>
T at(kvm_xsave& x, unsigned off) {
  T v;
  std::memcpy(&v, bytes(x) + off, sizeof v);
  return v;
}
template <typename T>
void put(kvm_xsave& x, unsigned off, T v) {
  std::memcpy(bytes(x) + off, &v, sizeof v);
}

TEST(Xsave, FreshVcpuReadsInitialStateWithEmptyXstateBv) {
  cpu::CpuState s;
  reset_state(s, true);
  kvm_xsave x;
  std::memset(&x, 0xaa, sizeof x);
  get_xsave(s, kSupportedXcr0, bytes(x), sizeof x.region);
  EXPECT_EQ(at<uint64_t>(x, 512), 0u) << "XSTATE_BV";
  EXPECT_EQ(at<uint16_t>(x, 0), 0x37fu) << "FCW";
  EXPECT_EQ(at<uint32_t>(x, 24), 0x1f80u) << "MXCSR";
  EXPECT_EQ(at<uint32_t>(x, 28), 0xffffu) << "MXCSR_MASK";
  for (unsigned k = 576; k < 4096; ++k) ASSERT_EQ(bytes(x)[k], 0) << "byte " << k;
}

TEST(Xsave, SetThenGetRoundTripsNamedComponents) {
  cpu::CpuState s;
  reset_state(s, true);
  kvm_xsave in{};
  put<uint64_t>(in, 512, 3);
  put<uint16_t>(in, 0, 0x27f);
  put<uint32_t>(in, 24, 0x1f81);
  for (unsigned k = 0; k < 256; ++k) bytes(in)[160 + k] = static_cast<uint8_t>(k);
  for (unsigned k = 0; k < 80; ++k) bytes(in)[32 + k] = static_cast<uint8_t>(k + 1);
  ASSERT_EQ(set_xsave(s, kSupportedXcr0, bytes(in)), 0);
  kvm_xsave out{};
  get_xsave(s, kSupportedXcr0, bytes(out), sizeof out.region);
  EXPECT_EQ(at<uint64_t>(out, 512), 3u);
  EXPECT_EQ(at<uint16_t>(out, 0), 0x27fu);
  EXPECT_EQ(at<uint32_t>(out, 24), 0x1f81u);
  EXPECT_EQ(std::memcmp(bytes(in) + 160, bytes(out) + 160, 256), 0) << "XMM0..15";
  EXPECT_EQ(std::memcmp(bytes(in) + 32, bytes(out) + 32, 80), 0) << "ST0..ST4";
  // KVM_GET_FPU sees the same state.
  kvm_fpu f{};
  get_fpu(s, &f);
  EXPECT_EQ(f.fcw, 0x27f);
  EXPECT_EQ(f.xmm[1][0], 16);
}

TEST(Xsave, ComponentsNotNamedTakeTheirInitialValues) {
  cpu::CpuState s;
  reset_state(s, true);
  kvm_xsave in{};
  put<uint64_t>(in, 512, 0);
  put<uint32_t>(in, 24, 0x1f81);
  bytes(in)[160] = 7;
  ASSERT_EQ(set_xsave(s, kSupportedXcr0, bytes(in)), 0);
  kvm_xsave out{};
  get_xsave(s, kSupportedXcr0, bytes(out), sizeof out.region);
  EXPECT_EQ(at<uint64_t>(out, 512), 0u);
  EXPECT_EQ(at<uint32_t>(out, 24), 0x1f80u);
  EXPECT_EQ(bytes(out)[160], 0);
  put<uint64_t>(in, 512, 2);  // SSE only: MXCSR and XMM loaded, x87 initial
  put<uint32_t>(in, 24, 0x1f82);
  put<uint16_t>(in, 0, 0x27f);
  ASSERT_EQ(set_xsave(s, kSupportedXcr0, bytes(in)), 0);
  get_xsave(s, kSupportedXcr0, bytes(out), sizeof out.region);
  EXPECT_EQ(at<uint64_t>(out, 512), 2u);
  EXPECT_EQ(at<uint32_t>(out, 24), 0x1f82u);
  EXPECT_EQ(bytes(out)[160], 7);
  EXPECT_EQ(at<uint16_t>(out, 0), 0x37fu);
}

TEST(Xsave, InvalidHeadersAndMxcsrAreEinval) {
  cpu::CpuState s;
  reset_state(s, true);
  struct Case {
    const char* what;
    unsigned off;
    uint64_t value;
    int expected;
  } cases[] = {
      {"XSTATE_BV with AVX (not supported)", 512, 7, -EINVAL},
      {"XCOMP_BV non-zero", 520, 3, -EINVAL},
      {"reserved header byte", 540, 1, -EINVAL},
      {"reserved MXCSR bit with x87|SSE named", 24, 0x10000, -EINVAL},
      {"byte after the header is ignored", 600, 9, 0},
  };
  for (const Case& c : cases) {
    kvm_xsave in{};
    put<uint64_t>(in, 512, 3);
    put<uint32_t>(in, 24, 0x1f80);
    if (c.off == 24) put<uint32_t>(in, 24, static_cast<uint32_t>(c.value));
    else put<uint64_t>(in, c.off, c.value);
    EXPECT_EQ(set_xsave(s, kSupportedXcr0, bytes(in)), c.expected) << c.what;
  }
  kvm_xsave in{};
  put<uint32_t>(in, 24, 0x10000);
  EXPECT_EQ(set_xsave(s, kSupportedXcr0, bytes(in)), 0) << "MXCSR is not checked when XSTATE_BV is 0";
  put<uint64_t>(in, 512, 2);
  put<uint32_t>(in, 24, 0x1f80);
  EXPECT_EQ(set_xsave(s, 1, bytes(in)), -EINVAL) << "SSE outside the guest's user xfeatures";
}

TEST(Xsave, UserXfeaturesFollowGuestCpuidLeafD) {
  std::vector<kvm_cpuid_entry2> none;
  EXPECT_EQ(user_xfeatures(none), kSupportedXcr0) << "before KVM_SET_CPUID2";
  EXPECT_EQ(guest_supported_xcr0(none), 0u);
  kvm_cpuid_entry2 e{};
  e.function = 0xd;
  e.eax = 0xe7;
  std::vector<kvm_cpuid_entry2> with{e};
  EXPECT_EQ(guest_supported_xcr0(with), 3u) << "AVX and up are not supported";
  kvm_cpuid_entry2 other{};
  other.function = 1;
  EXPECT_EQ(user_xfeatures({other}), 0u) << "a CPUID table without leaf 0xD";
}

TEST(Xcrs, GetReportsXcr0AndSetFollowsKvmSetXcrRules) {
  cpu::CpuState s;
  kvm_xcrs x;
  std::memset(&x, 0x77, sizeof x);
  get_xcrs(s, &x);
  EXPECT_EQ(x.nr_xcrs, 1u);
  EXPECT_EQ(x.flags, 0u);
  EXPECT_EQ(x.xcrs[0].xcr, 0u);
  EXPECT_EQ(x.xcrs[0].value, 1u);
  EXPECT_EQ(x.padding[0], 0u);
  kvm_xcrs in{};
  in.nr_xcrs = 1;
  in.xcrs[0].value = 3;
  EXPECT_EQ(set_xcrs(s, 0, in), -EINVAL) << "SSE before a CPUID allows it";
  EXPECT_EQ(set_xcrs(s, 3, in), 0);
  EXPECT_EQ(s.xcr0, 3u);
  in.xcrs[0].value = 0;
  EXPECT_EQ(set_xcrs(s, 3, in), -EINVAL) << "x87 bit clear";
  in.xcrs[0].value = 7;
  EXPECT_EQ(set_xcrs(s, 3, in), -EINVAL) << "AVX not supported";
  in.nr_xcrs = 17;
  EXPECT_EQ(set_xcrs(s, 3, in), -EINVAL) << "nr_xcrs > KVM_MAX_XCRS";
  in.nr_xcrs = 1;
  in.flags = 1;
  EXPECT_EQ(set_xcrs(s, 3, in), -EINVAL) << "flags";
  in.flags = 0;
  in.xcrs[0].xcr = 1;
  EXPECT_EQ(set_xcrs(s, 3, in), 0) << "other XCRs are ignored";
  in.nr_xcrs = 0;
  EXPECT_EQ(set_xcrs(s, 3, in), 0);
  EXPECT_EQ(s.xcr0, 3u);
}

}  // namespace
}  // namespace skvm::kvm
