// The guest TSC rate and the LAPIC TSC-deadline timer seen from a client, on
// both backends (same literal expectations): KVM_GET/SET_TSC_KHZ, CPUID
// 0x15/0x16 against the rate, IA32_TSC_DEADLINE through KVM_GET/SET_MSRS,
// a real-mode guest whose TSC-deadline interrupt ends its HLT, and kvmclock
// (KVM_GET/SET_CLOCK, the pvclock records a guest registers by MSR).
#include <gtest/gtest.h>

#include <time.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "backend.h"
#include "kvm_abi.h"
#include "vm.h"

namespace skvm::test {
namespace {

constexpr uint32_t kMsrTscDeadline = 0x6e0;
constexpr uint32_t kApicSpiv = 0xf0, kApicLvtt = 0x320;

class TscClient : public testing::TestWithParam<const Backend*> {};

std::vector<kvm_cpuid_entry2> supported_cpuid(Vm& vm) {
  std::vector<uint8_t> buf(sizeof(kvm_cpuid2) + 256 * sizeof(kvm_cpuid_entry2));
  // SAFETY: buf is large enough for the header and 256 entries; kvm_cpuid2
  // is a POD header (kvm_abi.h gives it the C layout).
  auto* c = reinterpret_cast<kvm_cpuid2*>(buf.data());
  c->nent = 256;
  Result r = vm.sys_ioctl(KVM_GET_SUPPORTED_CPUID, reinterpret_cast<unsigned long>(c));
  EXPECT_EQ(r.ret, 0) << errno_string(r.err);
  if (r.ret != 0) return {};
  return std::vector<kvm_cpuid_entry2>(c->entries, c->entries + c->nent);
}

const kvm_cpuid_entry2* find(const std::vector<kvm_cpuid_entry2>& t, uint32_t fn) {
  for (const kvm_cpuid_entry2& e : t)
    if (e.function == fn) return &e;
  return nullptr;
}

// One MSR through KVM_GET_MSRS / KVM_SET_MSRS: the number processed.
int msr_io(Vcpu& v, bool get, uint32_t index, uint64_t* data) {
  struct {
    kvm_msrs header;
    kvm_msr_entry entry;
  } m{};
  m.header.nmsrs = 1;
  m.entry.index = index;
  m.entry.data = *data;
  Result r = v.ioctl(get ? KVM_GET_MSRS : KVM_SET_MSRS, &m);
  if (get) *data = m.entry.data;
  return r.ret;
}

uint32_t lapic_reg(const kvm_lapic_state& s, uint32_t off) {
  uint32_t v;
  std::memcpy(&v, s.regs + off, 4);
  return v;
}
void set_lapic_reg(kvm_lapic_state* s, uint32_t off, uint32_t v) { std::memcpy(s->regs + off, &v, 4); }

TEST_P(TscClient, SetTscKhzZeroRestoresTheDefaultRate) {
  const Backend& b = *GetParam();
  SKVM_SKIP_IF_UNUSABLE(b);
  Vm vm(b);
  ASSERT_TRUE(vm.error().empty()) << vm.error();
  std::string why;
  auto v = vm.create_vcpu(0, &why);
  ASSERT_TRUE(v) << why;
  const Result khz = v->ioctl(KVM_GET_TSC_KHZ, 0UL);
  ASSERT_GT(khz.ret, 0) << errno_string(khz.err);
  EXPECT_EQ(v->ioctl(KVM_SET_TSC_KHZ, 0UL).ret, 0);
  EXPECT_EQ(v->ioctl(KVM_GET_TSC_KHZ, 0UL).ret, khz.ret);
}

// api.rst: KVM_SET_TSC_KHZ with KVM_CAP_TSC_CONTROL: any rate the scaling
// ratio reaches is taken as is (the host here has no TSC scaling: skipped).
TEST_P(TscClient, SetTscKhzWithTscControlTakesTheRate) {
  const Backend& b = *GetParam();
  SKVM_SKIP_IF_UNUSABLE(b);
  Vm vm(b);
  ASSERT_TRUE(vm.error().empty()) << vm.error();
  if (vm.sys_ioctl(KVM_CHECK_EXTENSION, KVM_CAP_TSC_CONTROL).ret <= 0)
    GTEST_SKIP() << b.name << ": no KVM_CAP_TSC_CONTROL";
  std::string why;
  auto v = vm.create_vcpu(0, &why);
  ASSERT_TRUE(v) << why;
  EXPECT_EQ(v->ioctl(KVM_SET_TSC_KHZ, 1'234'567UL).ret, 0);
  EXPECT_EQ(v->ioctl(KVM_GET_TSC_KHZ, 0UL).ret, 1'234'567);
}

// api.rst: KVM_GET_TSC_KHZ on the VM fd (x86.c: kvm->arch.default_tsc_khz,
// answered even without KVM_CAP_VM_TSC_CONTROL) is the rate vCPUs get.
TEST_P(TscClient, VmTscKhzIsTheRateNewVcpusGet) {
  const Backend& b = *GetParam();
  SKVM_SKIP_IF_UNUSABLE(b);
  Vm vm(b);
  ASSERT_TRUE(vm.error().empty()) << vm.error();
  const Result vm_khz = vm.vm_ioctl(KVM_GET_TSC_KHZ, 0UL);
  ASSERT_GT(vm_khz.ret, 0) << errno_string(vm_khz.err);
  std::string why;
  auto v = vm.create_vcpu(0, &why);
  ASSERT_TRUE(v) << why;
  EXPECT_EQ(v->ioctl(KVM_GET_TSC_KHZ, 0UL).ret, vm_khz.ret);
}

// api.rst: KVM_SET_TSC_KHZ on the VM fd (KVM_CAP_VM_TSC_CONTROL): vCPUs
// created afterwards count at that rate; existing ones keep theirs.
TEST_P(TscClient, VmSetTscKhzAppliesToVcpusCreatedAfterwards) {
  const Backend& b = *GetParam();
  SKVM_SKIP_IF_UNUSABLE(b);
  Vm vm(b);
  ASSERT_TRUE(vm.error().empty()) << vm.error();
  if (vm.sys_ioctl(KVM_CHECK_EXTENSION, KVM_CAP_VM_TSC_CONTROL).ret <= 0)
    GTEST_SKIP() << b.name << ": no KVM_CAP_VM_TSC_CONTROL";
  std::string why;
  auto before = vm.create_vcpu(0, &why);
  ASSERT_TRUE(before) << why;
  const int old_khz = before->ioctl(KVM_GET_TSC_KHZ, 0UL).ret;
  ASSERT_EQ(vm.vm_ioctl(KVM_SET_TSC_KHZ, 1'500'000UL).ret, 0);
  EXPECT_EQ(vm.vm_ioctl(KVM_GET_TSC_KHZ, 0UL).ret, 1'500'000);
  auto after = vm.create_vcpu(1, &why);
  ASSERT_TRUE(after) << why;
  EXPECT_EQ(after->ioctl(KVM_GET_TSC_KHZ, 0UL).ret, 1'500'000);
  EXPECT_EQ(before->ioctl(KVM_GET_TSC_KHZ, 0UL).ret, old_khz);
}

// SDM Vol. 2A CPUID 15H/16H: when the leaves are there (the host passes its
// CPU's, zeros here), they describe the vCPU's TSC rate.
TEST_P(TscClient, SupportedCpuidLeaf15GivesTheTscRate) {
  const Backend& b = *GetParam();
  SKVM_SKIP_IF_UNUSABLE(b);
  Vm vm(b);
  ASSERT_TRUE(vm.error().empty()) << vm.error();
  std::string why;
  auto v = vm.create_vcpu(0, &why);
  ASSERT_TRUE(v) << why;
  const auto table = supported_cpuid(vm);
  const kvm_cpuid_entry2* l15 = find(table, 0x15);
  if (l15 == nullptr || l15->eax == 0 || l15->ebx == 0 || l15->ecx == 0)
    GTEST_SKIP() << b.name << ": no crystal frequency in CPUID 0x15";
  const uint64_t khz = static_cast<uint64_t>(v->ioctl(KVM_GET_TSC_KHZ, 0UL).ret);
  EXPECT_EQ(uint64_t{l15->ecx} * l15->ebx / l15->eax, khz * 1000);
  const kvm_cpuid_entry2* l16 = find(table, 0x16);
  ASSERT_NE(l16, nullptr);
  EXPECT_EQ(l16->eax, khz / 1000);
  const kvm_cpuid_entry2* l0 = find(table, 0);
  ASSERT_NE(l0, nullptr);
  EXPECT_GE(l0->eax, 0x16u);
}

// Real mode at 0x7c00, IVT[0x30] -> 0000:0x7d00:
//   mov ecx, 0x6e0 ; rdtsc ; add eax, 0x01000000 ; adc edx, 0 ; wrmsr
//   out 0x80, al (ready) ; sti ; .h: hlt ; jmp .h
// 0x7d00: mov al, 0x42 ; out 0x81, al ; iret
constexpr uint8_t kDeadlineGuest[] = {0x66, 0xb9, 0xe0, 0x06, 0x00, 0x00, 0x0f, 0x31, 0x66, 0x05,
                                      0x00, 0x00, 0x00, 0x01, 0x66, 0x83, 0xd2, 0x00, 0x0f, 0x30,
                                      0xe6, 0x80, 0xfb, 0xf4, 0xeb, 0xfd};
constexpr uint8_t kDeadlineHandler[] = {0xb0, 0x42, 0xe6, 0x81, 0xcf};

TEST_P(TscClient, TscDeadlineTimerInterruptEndsTheGuestsHlt) {
  const Backend& b = *GetParam();
  SKVM_SKIP_IF_UNUSABLE(b);
  Vm vm(b);
  ASSERT_TRUE(vm.error().empty()) << vm.error();
  const auto table = supported_cpuid(vm);
  const kvm_cpuid_entry2* l1 = find(table, 1);
  ASSERT_NE(l1, nullptr);
  if (!(l1->ecx & (1u << 24))) GTEST_SKIP() << b.name << ": no TSC-deadline in CPUID.1:ECX";
  EXPECT_EQ(vm.sys_ioctl(KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER).ret, 1);
  ASSERT_EQ(vm.vm_ioctl(KVM_CREATE_IRQCHIP, 0UL).ret, 0);
  std::string why;
  uint8_t* ram = vm.add_ram(0, 0, 0x100000, 0, &why);
  ASSERT_NE(ram, nullptr) << why;
  auto v = vm.create_vcpu(0, &why);
  ASSERT_TRUE(v) << why;
  ASSERT_EQ(v->set_supported_cpuid(), "");
  std::memcpy(ram + 0x7c00, kDeadlineGuest, sizeof kDeadlineGuest);
  std::memcpy(ram + 0x7d00, kDeadlineHandler, sizeof kDeadlineHandler);
  const uint16_t ivt[2] = {0x7d00, 0};
  std::memcpy(ram + 0x30 * 4, ivt, sizeof ivt);
  ASSERT_EQ(v->enter_mode(Mode::kReal, 0x7c00), "");

  // Outside TSC-deadline mode the MSR reads 0 and ignores writes.
  uint64_t value = 12345;
  EXPECT_EQ(msr_io(*v, false, kMsrTscDeadline, &value), 1);
  value = 1;
  EXPECT_EQ(msr_io(*v, true, kMsrTscDeadline, &value), 1);
  EXPECT_EQ(value, 0u);

  kvm_lapic_state lapic{};
  ASSERT_EQ(v->ioctl(KVM_GET_LAPIC, &lapic).ret, 0);
  set_lapic_reg(&lapic, kApicSpiv, 0x1ff);
  set_lapic_reg(&lapic, kApicLvtt, (2u << 17) | 0x30);
  ASSERT_EQ(v->ioctl(KVM_SET_LAPIC, &lapic).ret, 0);
  ASSERT_EQ(v->ioctl(KVM_GET_LAPIC, &lapic).ret, 0);
  EXPECT_EQ(lapic_reg(lapic, kApicLvtt), (2u << 17) | 0x30) << "mode 2 is writable with the CPUID bit";

  kvm_run* run = v->run();
  ASSERT_EQ(v->ioctl(KVM_RUN, 0UL).ret, 0);
  ASSERT_EQ(run->exit_reason, KVM_EXIT_IO);
  EXPECT_EQ(run->io.port, 0x80);
  kvm_regs regs{};
  ASSERT_EQ(v->ioctl(KVM_GET_REGS, &regs).ret, 0);
  const uint64_t written = (regs.rdx << 32) | (regs.rax & 0xffffffffu);
  value = 0;
  EXPECT_EQ(msr_io(*v, true, kMsrTscDeadline, &value), 1);
  // 16M ticks are several ms at any TSC rate: the deadline is still armed.
  EXPECT_EQ(value, written);

  ASSERT_EQ(v->ioctl(KVM_RUN, 0UL).ret, 0);
  ASSERT_EQ(run->exit_reason, KVM_EXIT_IO);
  EXPECT_EQ(run->io.port, 0x81);
  EXPECT_EQ(reinterpret_cast<uint8_t*>(run)[run->io.data_offset], 0x42);
  value = 1;
  EXPECT_EQ(msr_io(*v, true, kMsrTscDeadline, &value), 1);
  EXPECT_EQ(value, 0u) << "the deadline reads 0 once it fired";
  uint64_t tsc = 0;
  EXPECT_EQ(msr_io(*v, true, 0x10, &tsc), 1);
  EXPECT_GE(tsc, written);
}

// api.rst: KVM_SET_CLOCK then KVM_GET_CLOCK: the clock reads the value set
// plus the time since.
TEST_P(TscClient, SetClockThenGetClockReadsTheValueSet) {
  const Backend& b = *GetParam();
  SKVM_SKIP_IF_UNUSABLE(b);
  Vm vm(b);
  ASSERT_TRUE(vm.error().empty()) << vm.error();
  if (vm.sys_ioctl(KVM_CHECK_EXTENSION, KVM_CAP_ADJUST_CLOCK).ret <= 0)
    GTEST_SKIP() << b.name << ": no KVM_CAP_ADJUST_CLOCK";
  kvm_clock_data d{};
  d.clock = 5'000'000'000;
  ASSERT_EQ(vm.vm_ioctl(KVM_SET_CLOCK, &d).ret, 0);
  kvm_clock_data out{};
  ASSERT_EQ(vm.vm_ioctl(KVM_GET_CLOCK, &out).ret, 0);
  EXPECT_GE(out.clock, 5'000'000'000u);
  EXPECT_LT(out.clock, 6'000'000'000u);
  d.flags = 1;  // not a KVM_CLOCK_* flag
  const Result r = vm.vm_ioctl(KVM_SET_CLOCK, &d);
  EXPECT_EQ(r.ret, -1);
  EXPECT_EQ(r.err, EINVAL);
}

// Real mode at 0x7c00:
//   xor ax, ax ; mov ds, ax
//   mov ecx, MSR_KVM_SYSTEM_TIME_NEW ; mov eax, 0x5001 ; xor edx, edx ; wrmsr
//   mov ecx, MSR_KVM_WALL_CLOCK_NEW ; mov eax, 0x5100 ; xor edx, edx ; wrmsr
//   rdtsc ; mov [0x6000], eax ; mov [0x6004], edx ; out 0x80, al ; hlt
constexpr uint8_t kKvmclockGuest[] = {
    0x31, 0xc0, 0x8e, 0xd8,                                            //
    0x66, 0xb9, 0x01, 0x4d, 0x56, 0x4b, 0x66, 0xb8, 0x01, 0x50, 0x00, 0x00,  //
    0x66, 0x31, 0xd2, 0x0f, 0x30,                                      //
    0x66, 0xb9, 0x00, 0x4d, 0x56, 0x4b, 0x66, 0xb8, 0x00, 0x51, 0x00, 0x00,  //
    0x66, 0x31, 0xd2, 0x0f, 0x30,                                      //
    0x0f, 0x31, 0x66, 0xa3, 0x00, 0x60, 0x66, 0x89, 0x16, 0x04, 0x60,  //
    0xe6, 0x80, 0xf4};

// The pvclock record (asm/pvclock-abi.h) the guest registered: its time at
// the guest's RDTSC lies between KVM_GET_CLOCK before and after the run;
// the wall clock plus the kvmclock is the host's wall-clock time.
TEST_P(TscClient, KvmclockRecordGivesTheKvmclockTimeFromTheGuestTsc) {
  const Backend& b = *GetParam();
  SKVM_SKIP_IF_UNUSABLE(b);
  Vm vm(b);
  ASSERT_TRUE(vm.error().empty()) << vm.error();
  if (vm.sys_ioctl(KVM_CHECK_EXTENSION, KVM_CAP_ADJUST_CLOCK).ret <= 0)
    GTEST_SKIP() << b.name << ": no kvmclock (KVM_CAP_ADJUST_CLOCK)";
  std::string why;
  uint8_t* ram = vm.add_ram(0, 0, 0x100000, 0, &why);
  ASSERT_NE(ram, nullptr) << why;
  auto v = vm.create_vcpu(0, &why);
  ASSERT_TRUE(v) << why;
  ASSERT_EQ(v->set_supported_cpuid(), "");
  std::memcpy(ram + 0x7c00, kKvmclockGuest, sizeof kKvmclockGuest);
  ASSERT_EQ(v->enter_mode(Mode::kReal, 0x7c00), "");
  kvm_clock_data before{}, after{};
  ASSERT_EQ(vm.vm_ioctl(KVM_GET_CLOCK, &before).ret, 0);
  ASSERT_EQ(v->ioctl(KVM_RUN, 0UL).ret, 0);
  ASSERT_EQ(v->run()->exit_reason, KVM_EXIT_IO);
  ASSERT_EQ(v->run()->io.port, 0x80);
  ASSERT_EQ(vm.vm_ioctl(KVM_GET_CLOCK, &after).ret, 0);

  struct [[gnu::packed]] {
    uint32_t version, pad0;
    uint64_t tsc_timestamp, system_time;
    uint32_t mul;
    int8_t shift;
    uint8_t flags, pad[2];
  } rec;
  static_assert(sizeof rec == 32);
  std::memcpy(&rec, ram + 0x5000, sizeof rec);
  EXPECT_NE(rec.version, 0u);
  EXPECT_EQ(rec.version % 2, 0u) << "not left mid-update";
  ASSERT_NE(rec.mul, 0u);
  uint64_t tsc;
  std::memcpy(&tsc, ram + 0x6000, 8);
  uint64_t delta = tsc - rec.tsc_timestamp;
  delta = rec.shift < 0 ? delta >> -rec.shift : delta << rec.shift;
  const uint64_t ns = rec.system_time + static_cast<uint64_t>((static_cast<unsigned __int128>(delta) * rec.mul) >> 32);
  EXPECT_GE(ns + 1000, before.clock);
  EXPECT_LE(ns, after.clock + 1000);

  uint32_t wall[3];
  std::memcpy(wall, ram + 0x5100, sizeof wall);
  EXPECT_EQ(wall[0] % 2, 0u);
  EXPECT_NE(wall[0], 0u);
  timespec real{};
  clock_gettime(CLOCK_REALTIME, &real);
  const double guest_wall = wall[1] + wall[2] * 1e-9 + after.clock * 1e-9;
  EXPECT_NEAR(guest_wall, real.tv_sec + real.tv_nsec * 1e-9, 2.0);
}

INSTANTIATE_TEST_SUITE_P(Kvm, TscClient, testing::Values(&kSoft, &kHost),
                         [](const testing::TestParamInfo<const Backend*>& p) { return std::string(p.param->name); });

}  // namespace
}  // namespace skvm::test
