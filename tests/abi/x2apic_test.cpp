// x2APIC from a guest and from the client, on both backends (same literal
// expectations; SDM Vol. 3A, 10.12; lapic.c: kvm_x2apic_msr_read/write,
// kvm_apic_state_fixup): a real-mode guest on vCPU 3 sets IA32_APIC_BASE.EXTD,
// reads its x2APIC ID, enables the APIC through SVR, sends itself an
// interrupt through SELF IPI (MSR 0x83f), takes it, EOIs it by MSR, and
// takes a #GP for a write to the read-only ID MSR; then KVM_GET_LAPIC and
// KVM_GET_MSRS show the x2APIC state.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "backend.h"
#include "kvm_abi.h"
#include "vm.h"

namespace skvm::test {
namespace {

constexpr uint32_t kCpuid1EcxX2apic = 1u << 21;
constexpr uint32_t kApicId = 0x20, kApicLdr = 0xd0, kApicSpiv = 0xf0, kApicIsr = 0x100, kApicIcr = 0x300,
                   kApicIcr2 = 0x310;

// 0x7c00 (bits 16):
//   mov ecx, 0x1b ; rdmsr ; or eax, 0x400 ; wrmsr     IA32_APIC_BASE.EXTD
//   mov ecx, 0x802 ; rdmsr ; mov ebx, eax             the x2APIC ID
//   mov ecx, 0x80f ; mov eax, 0x1ff ; xor edx, edx ; wrmsr      SVR
//   mov ecx, 0x83f ; mov eax, 0x66 ; wrmsr            SELF IPI vector 0x66
//   sti
//   .spin: cmp byte [0x7f00], 0 ; je .spin            (delivery is not
//                                 synchronous with the WRMSR on hardware)
//   mov al, 0x11 ; out 0x80, al
//   mov ecx, 0x80b ; mov eax, 1 ; xor edx, edx ; wrmsr   EOI, non-zero value
//   mov al, 0x12 ; out 0x80, al
//   mov ecx, 0x802 ; wrmsr                            read-only ID: #GP
//   mov al, 0x13 ; out 0x80, al ; hlt
constexpr uint8_t kGuest[] = {
    0x66, 0xb9, 0x1b, 0x00, 0x00, 0x00, 0x0f, 0x32, 0x66, 0x0d, 0x00, 0x04, 0x00, 0x00, 0x0f, 0x30,
    0x66, 0xb9, 0x02, 0x08, 0x00, 0x00, 0x0f, 0x32, 0x66, 0x89, 0xc3, 0x66, 0xb9, 0x0f, 0x08, 0x00,
    0x00, 0x66, 0xb8, 0xff, 0x01, 0x00, 0x00, 0x66, 0x31, 0xd2, 0x0f, 0x30, 0x66, 0xb9, 0x3f, 0x08,
    0x00, 0x00, 0x66, 0xb8, 0x66, 0x00, 0x00, 0x00, 0x0f, 0x30, 0xfb, 0x80, 0x3e, 0x00, 0x7f, 0x00,
    0x74, 0xf9, 0xb0, 0x11, 0xe6, 0x80, 0x66, 0xb9, 0x0b, 0x08, 0x00, 0x00, 0x66, 0xb8, 0x01, 0x00,
    0x00, 0x00, 0x66, 0x31, 0xd2, 0x0f, 0x30, 0xb0, 0x12, 0xe6, 0x80, 0x66, 0xb9, 0x02, 0x08, 0x00,
    0x00, 0x0f, 0x30, 0xb0, 0x13, 0xe6, 0x80, 0xf4};
// 0x7d00, vector 0x66: mov byte [0x7f00], 1 ; mov ecx, 0x80b ; xor eax, eax ;
// xor edx, edx ; wrmsr (EOI) ; mov al, 0x42 ; out 0x81, al ; iret
constexpr uint8_t kIpiHandler[] = {0xc6, 0x06, 0x00, 0x7f, 0x01, 0x66, 0xb9, 0x0b, 0x08, 0x00, 0x00, 0x66,
                                   0x31, 0xc0, 0x66, 0x31, 0xd2, 0x0f, 0x30, 0xb0, 0x42, 0xe6, 0x81, 0xcf};
// 0x7e00, vector 13 (#GP): mov al, 0x0d ; out 0x82, al ; hlt ; jmp $-1
constexpr uint8_t kGpHandler[] = {0xb0, 0x0d, 0xe6, 0x82, 0xf4, 0xeb, 0xfd};

class X2apicClient : public testing::TestWithParam<const Backend*> {};

bool supported_x2apic(Vm& vm) {
  std::vector<uint8_t> buf(sizeof(kvm_cpuid2) + 256 * sizeof(kvm_cpuid_entry2));
  // SAFETY: buf holds the header and 256 entries; kvm_cpuid2 is a POD header.
  auto* c = reinterpret_cast<kvm_cpuid2*>(buf.data());
  c->nent = 256;
  if (vm.sys_ioctl(KVM_GET_SUPPORTED_CPUID, reinterpret_cast<unsigned long>(c)).ret != 0) return false;
  for (uint32_t i = 0; i < c->nent; ++i)
    if (c->entries[i].function == 1) return (c->entries[i].ecx & kCpuid1EcxX2apic) != 0;
  return false;
}

uint32_t lapic_reg(const kvm_lapic_state& s, uint32_t off) {
  uint32_t v;
  std::memcpy(&v, s.regs + off, 4);
  return v;
}

// One KVM_GET_MSRS entry: the number of MSRs processed.
int get_msr(Vcpu& v, uint32_t index, uint64_t* data) {
  struct {
    kvm_msrs header;
    kvm_msr_entry entry;
  } m{};
  m.header.nmsrs = 1;
  m.entry.index = index;
  const Result r = v.ioctl(KVM_GET_MSRS, &m);
  *data = m.entry.data;
  return r.ret;
}

// The next exit is an OUT of one byte to `port`; returns the byte.
int expect_out(Vcpu& v, uint16_t port) {
  kvm_run* run = v.run();
  const Result r = v.ioctl(KVM_RUN, 0UL);
  EXPECT_EQ(r.ret, 0) << errno_string(r.err);
  EXPECT_EQ(run->exit_reason, KVM_EXIT_IO);
  EXPECT_EQ(run->io.port, port);
  if (run->exit_reason != KVM_EXIT_IO || run->io.port != port) return -1;
  return reinterpret_cast<uint8_t*>(run)[run->io.data_offset];
}

TEST_P(X2apicClient, GuestEnablesX2apicAndTakesItsSelfIpi) {
  const Backend& b = *GetParam();
  SKVM_SKIP_IF_UNUSABLE(b);
  Vm vm(b);
  ASSERT_TRUE(vm.error().empty()) << vm.error();
  if (!supported_x2apic(vm)) GTEST_SKIP() << b.name << ": no x2APIC in KVM_GET_SUPPORTED_CPUID";
  ASSERT_EQ(vm.vm_ioctl(KVM_CREATE_IRQCHIP, 0UL).ret, 0);
  std::string why;
  uint8_t* ram = vm.add_ram(0, 0, 0x100000, 0, &why);
  ASSERT_NE(ram, nullptr) << why;
  auto v = vm.create_vcpu(3, &why);
  ASSERT_TRUE(v) << why;
  ASSERT_EQ(v->set_supported_cpuid(), "");
  std::memcpy(ram + 0x7c00, kGuest, sizeof kGuest);
  std::memcpy(ram + 0x7d00, kIpiHandler, sizeof kIpiHandler);
  std::memcpy(ram + 0x7e00, kGpHandler, sizeof kGpHandler);
  const uint16_t ipi_vector[2] = {0x7d00, 0}, gp_vector[2] = {0x7e00, 0};
  std::memcpy(ram + 0x66 * 4, ipi_vector, sizeof ipi_vector);
  std::memcpy(ram + 13 * 4, gp_vector, sizeof gp_vector);
  ASSERT_EQ(v->enter_mode(Mode::kReal, 0x7c00), "");
  // An application processor waits for INIT/SIPI: make it runnable.
  kvm_mp_state mp{KVM_MP_STATE_RUNNABLE};
  ASSERT_EQ(v->ioctl(KVM_SET_MP_STATE, &mp).ret, 0);

  // In xAPIC mode the x2APIC MSRs #GP (KVM_GET_MSRS processes none).
  uint64_t value = 0;
  EXPECT_EQ(get_msr(*v, 0x802, &value), 0);

  EXPECT_EQ(expect_out(*v, 0x81), 0x42) << "the self IPI's handler ran";
  EXPECT_EQ(expect_out(*v, 0x80), 0x11);
  kvm_regs regs{};
  ASSERT_EQ(v->ioctl(KVM_GET_REGS, &regs).ret, 0);
  EXPECT_EQ(regs.rbx & 0xffffffffu, 3u) << "the x2APIC ID MSR is the vCPU id";
  EXPECT_EQ(expect_out(*v, 0x80), 0x12) << "KVM takes a non-zero EOI write";
  EXPECT_EQ(expect_out(*v, 0x82), 0x0d) << "a write to the read-only ID MSR is a #GP";

  kvm_sregs sregs{};
  ASSERT_EQ(v->ioctl(KVM_GET_SREGS, &sregs).ret, 0);
  EXPECT_EQ(sregs.apic_base, 0xfee00c00u) << "enabled | EXTD, not the BSP";
  // KVM_GET_LAPIC without KVM_CAP_X2APIC_API: the ID in bits 31:24; the LDR
  // as x2APIC derives it (cluster 0, bit 3); ISR empty after the EOI.
  kvm_lapic_state lapic{};
  ASSERT_EQ(v->ioctl(KVM_GET_LAPIC, &lapic).ret, 0);
  EXPECT_EQ(lapic_reg(lapic, kApicId), 3u << 24);
  EXPECT_EQ(lapic_reg(lapic, kApicLdr), 1u << 3);
  EXPECT_EQ(lapic_reg(lapic, kApicSpiv), 0x1ffu);
  EXPECT_EQ(lapic_reg(lapic, kApicIsr + 0x30), 0u);
  // The client reads the same registers through KVM_GET_MSRS.
  EXPECT_EQ(get_msr(*v, 0x802, &value), 1);
  EXPECT_EQ(value, 3u);
  EXPECT_EQ(get_msr(*v, 0x80d, &value), 1);
  EXPECT_EQ(value, 1u << 3);
  EXPECT_EQ(get_msr(*v, 0x80e, &value), 0) << "no DFR in x2APIC mode";

  // KVM_SET_LAPIC takes the same format back: the LDR is recomputed from
  // the ID, ICR2 becomes the high half of the 64-bit ICR.
  std::memset(lapic.regs + kApicLdr, 0, 4);
  const uint32_t icr = 0x4030, icr2 = 5;
  std::memcpy(lapic.regs + kApicIcr, &icr, 4);
  std::memcpy(lapic.regs + kApicIcr2, &icr2, 4);
  ASSERT_EQ(v->ioctl(KVM_SET_LAPIC, &lapic).ret, 0);
  EXPECT_EQ(get_msr(*v, 0x80d, &value), 1);
  EXPECT_EQ(value, 1u << 3);
  EXPECT_EQ(get_msr(*v, 0x830, &value), 1);
  EXPECT_EQ(value, (5ull << 32) | 0x4030);
  ASSERT_EQ(v->ioctl(KVM_GET_LAPIC, &lapic).ret, 0);
  EXPECT_EQ(lapic_reg(lapic, kApicIcr2), 5u);
  EXPECT_EQ(lapic_reg(lapic, kApicId), 3u << 24);
}

INSTANTIATE_TEST_SUITE_P(Kvm, X2apicClient, testing::Values(&kSoft, &kHost),
                         [](const testing::TestParamInfo<const Backend*>& p) { return std::string(p.param->name); });

}  // namespace
}  // namespace skvm::test
