// The in-kernel LAPIC seen from a client, on both backends (softkvm and the
// host /dev/kvm): KVM_GET_LAPIC at reset, MP states, KVM_INTERRUPT with an
// irqchip, an INIT/SIPI wake-up of 3 APs each on its own thread with a
// `lock xadd` counter reaching the exact total and NMI IPIs, a HLT-blocked AP
// ended by a signal, and the periodic LAPIC timer's accuracy.
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "backend.h"
#include "vm.h"

namespace skvm::test {
namespace {

class LapicClient : public testing::TestWithParam<const Backend*> {};

std::atomic<void (*)()> g_notify{nullptr};
void on_sigusr1(int) {
  if (auto n = g_notify.load()) n();
}

uint64_t now_ns(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

uint32_t reg(const kvm_lapic_state& s, uint32_t off) {
  uint32_t v;
  std::memcpy(&v, s.regs + off, 4);
  return v;
}

// KVM_CREATE_IRQCHIP, 1 MiB of RAM at 0, `n` vCPUs with the supported CPUID.
struct Machine {
  explicit Machine(const Backend& b, unsigned n) : vm(b) {
    if (!vm.error().empty()) {
      why = vm.error();
      return;
    }
    Result r = vm.vm_ioctl(KVM_CREATE_IRQCHIP, 0UL);
    if (r.ret != 0) {
      why = "KVM_CREATE_IRQCHIP: " + errno_string(r.err);
      return;
    }
    ram = vm.add_ram(0, 0, 0x100000, 0, &why);
    if (ram == nullptr) return;
    for (unsigned i = 0; i < n; ++i) {
      auto v = vm.create_vcpu(i, &why);
      if (!v) return;
      std::string e = v->set_supported_cpuid();
      if (!e.empty()) {
        why = e;
        return;
      }
      vcpus.push_back(std::move(v));
    }
  }
  bool ok() const { return why.empty(); }
  Vm vm;
  std::string why;
  uint8_t* ram = nullptr;
  std::vector<std::unique_ptr<Vcpu>> vcpus;
};

TEST_P(LapicClient, ResetLapicPageAndMpStatesAreKvms) {
  const Backend& b = *GetParam();
  SKVM_SKIP_IF_UNUSABLE(b);
  Machine m(b, 2);
  ASSERT_TRUE(m.ok()) << m.why;
  kvm_lapic_state s{};
  ASSERT_EQ(m.vcpus[1]->ioctl(KVM_GET_LAPIC, &s).ret, 0);
  EXPECT_EQ(reg(s, 0x20), 1u << 24);        // APIC ID = vCPU id
  EXPECT_EQ(reg(s, 0x30), 0x50014u);        // version, 6 LVTs
  EXPECT_EQ(reg(s, 0xf0), 0xffu);           // software-disabled
  EXPECT_EQ(reg(s, 0xe0), 0xffffffffu);     // flat DFR
  EXPECT_EQ(reg(s, 0x350), 0x10000u);       // AP: LINT0 masked
  ASSERT_EQ(m.vcpus[0]->ioctl(KVM_GET_LAPIC, &s).ret, 0);
  EXPECT_EQ(reg(s, 0x350), 0x700u);         // BSP: LINT0 ExtINT
  kvm_mp_state mp{};
  ASSERT_EQ(m.vcpus[0]->ioctl(KVM_GET_MP_STATE, &mp).ret, 0);
  EXPECT_EQ(mp.mp_state, KVM_MP_STATE_RUNNABLE);
  ASSERT_EQ(m.vcpus[1]->ioctl(KVM_GET_MP_STATE, &mp).ret, 0);
  EXPECT_EQ(mp.mp_state, KVM_MP_STATE_UNINITIALIZED);
  mp.mp_state = KVM_MP_STATE_HALTED;
  EXPECT_EQ(m.vcpus[1]->ioctl(KVM_SET_MP_STATE, &mp).ret, 0);
  ASSERT_EQ(m.vcpus[1]->ioctl(KVM_GET_MP_STATE, &mp).ret, 0);
  EXPECT_EQ(mp.mp_state, KVM_MP_STATE_HALTED);
  mp.mp_state = 99;
  Result r = m.vcpus[1]->ioctl(KVM_SET_MP_STATE, &mp);
  EXPECT_EQ(r.err, EINVAL);
  kvm_interrupt irq{0x20};
  r = m.vcpus[0]->ioctl(KVM_INTERRUPT, &irq);
  EXPECT_EQ(r.ret, -1);
  EXPECT_EQ(r.err, ENXIO);
}

TEST_P(LapicClient, SetLapicRoundTripsTheRegisterPage) {
  const Backend& b = *GetParam();
  SKVM_SKIP_IF_UNUSABLE(b);
  Machine m(b, 1);
  ASSERT_TRUE(m.ok()) << m.why;
  kvm_lapic_state s{};
  ASSERT_EQ(m.vcpus[0]->ioctl(KVM_GET_LAPIC, &s).ret, 0);
  uint32_t v = 0x1ff;
  std::memcpy(s.regs + 0xf0, &v, 4);  // SPIV enabled
  v = 0x30;
  std::memcpy(s.regs + 0x80, &v, 4);  // TPR
  v = 0x02000000;
  std::memcpy(s.regs + 0xd0, &v, 4);  // LDR
  v = 1u << 5;
  std::memcpy(s.regs + 0x200 + 0x10 * 2, &v, 4);  // IRR: vector 0x45
  ASSERT_EQ(m.vcpus[0]->ioctl(KVM_SET_LAPIC, &s).ret, 0);
  kvm_lapic_state t{};
  ASSERT_EQ(m.vcpus[0]->ioctl(KVM_GET_LAPIC, &t).ret, 0);
  EXPECT_EQ(reg(t, 0xf0), 0x1ffu);
  EXPECT_EQ(reg(t, 0x80), 0x30u);
  EXPECT_EQ(reg(t, 0xa0), 0x30u);  // PPR follows TPR
  EXPECT_EQ(reg(t, 0xd0), 0x02000000u);
  EXPECT_EQ(reg(t, 0x220), 1u << 5);
}

TEST_P(LapicClient, LapicIoctlsWithoutIrqchipAreEINVAL) {
  const Backend& b = *GetParam();
  SKVM_SKIP_IF_UNUSABLE(b);
  Vm vm(b);
  std::string why;
  auto v = vm.create_vcpu(0, &why);
  ASSERT_TRUE(v) << why;
  kvm_lapic_state s{};
  Result r = v->ioctl(KVM_GET_LAPIC, &s);
  EXPECT_EQ(r.err, EINVAL);
  r = v->ioctl(KVM_SET_LAPIC, &s);
  EXPECT_EQ(r.err, EINVAL);
}

// BSP (32-bit flat protected mode at 0x10000):
//   mov dword [APIC+0xf0], 0x1ff ; mov dword [APIC+0x310], 0
//   mov dword [APIC+0x300], 0x000c4500   ; INIT, all excluding self
//   mov dword [APIC+0x300], 0x000c4608   ; SIPI vector 8 (0x8000)
//   mov ecx, 5000 ; .l: mov eax, 1 ; lock xadd [0x9000], eax ; dec ecx ; jnz .l
//   .w: pause ; cmp dword [0x9004], 3 ; jne .w
//   mov dword [APIC+0x300], 0x000c4400   ; NMI, all excluding self
//   .n: pause ; cmp dword [0x9008], 3 ; jne .n
//   mov eax, [0x9000] ; out 0x10, eax ; hlt
constexpr uint8_t kBspSmp[] = {
    0xc7, 0x05, 0xf0, 0x00, 0xe0, 0xfe, 0xff, 0x01, 0x00, 0x00, 0xc7, 0x05, 0x10, 0x03, 0xe0,
    0xfe, 0x00, 0x00, 0x00, 0x00, 0xc7, 0x05, 0x00, 0x03, 0xe0, 0xfe, 0x00, 0x45, 0x0c, 0x00,
    0xc7, 0x05, 0x00, 0x03, 0xe0, 0xfe, 0x08, 0x46, 0x0c, 0x00, 0xb9, 0x88, 0x13, 0x00, 0x00,
    0xb8, 0x01, 0x00, 0x00, 0x00, 0xf0, 0x0f, 0xc1, 0x05, 0x00, 0x90, 0x00, 0x00, 0x49, 0x75,
    0xf0, 0xf3, 0x90, 0x83, 0x3d, 0x04, 0x90, 0x00, 0x00, 0x03, 0x75, 0xf5, 0xc7, 0x05, 0x00,
    0x03, 0xe0, 0xfe, 0x00, 0x44, 0x0c, 0x00, 0xf3, 0x90, 0x83, 0x3d, 0x08, 0x90, 0x00, 0x00,
    0x03, 0x75, 0xf5, 0xa1, 0x00, 0x90, 0x00, 0x00, 0xe7, 0x10, 0xf4};
// AP (real mode after SIPI, CS = 0x0800, IP = 0):
//   xor ax, ax ; mov ds, ax ; mov cx, 5000
//   .l: mov eax, 1 ; lock xadd [0x9000], eax ; dec cx ; jnz .l
//   lock inc dword [0x9004] ; cli ; .h: hlt ; jmp .h
constexpr uint8_t kApSmp[] = {0x31, 0xc0, 0x8e, 0xd8, 0xb9, 0x88, 0x13, 0x66, 0xb8, 0x01, 0x00,
                              0x00, 0x00, 0xf0, 0x66, 0x0f, 0xc1, 0x06, 0x00, 0x90, 0x49, 0x75,
                              0xf0, 0xf0, 0x66, 0xff, 0x06, 0x04, 0x90, 0xfa, 0xf4, 0xeb, 0xfd};
// AP NMI handler at 0x8100 (IVT[2] = 0800:0100): lock inc dword [0x9008] ; iret
constexpr uint8_t kApNmi[] = {0xf0, 0x66, 0xff, 0x06, 0x08, 0x90, 0xcf};

TEST_P(LapicClient, InitSipiWakesThreeApsAndLockXaddCounterIsExact) {
  const Backend& b = *GetParam();
  SKVM_SKIP_IF_UNUSABLE(b);
  Machine m(b, 4);
  ASSERT_TRUE(m.ok()) << m.why;
  std::memcpy(m.ram + 0x10000, kBspSmp, sizeof kBspSmp);
  std::memcpy(m.ram + 0x8000, kApSmp, sizeof kApSmp);
  std::memcpy(m.ram + 0x8100, kApNmi, sizeof kApNmi);
  const uint16_t ivt2[2] = {0x0100, 0x0800};
  std::memcpy(m.ram + 2 * 4, ivt2, sizeof ivt2);
  ASSERT_EQ(m.vcpus[0]->enter_mode(Mode::kProt32, 0x10000), "");

  g_notify.store(b.signal_notify);
  struct sigaction sa {};
  sa.sa_handler = on_sigusr1;
  sigaction(SIGUSR1, &sa, nullptr);

  // Each AP thread: KVM_RUN until it fails with EINTR (the signal that ends
  // the test); EAGAIN (an UNINITIALIZED AP got INIT/SIPI) runs again.
  std::atomic<int> ap_bad{0};
  std::vector<pthread_t> handles(3);
  std::atomic<int> started{0};
  std::vector<std::thread> aps;
  for (unsigned i = 1; i < 4; ++i) {
    aps.emplace_back([&, i] {
      handles[i - 1] = pthread_self();
      started.fetch_add(1);
      for (;;) {
        Result r = m.vcpus[i]->ioctl(KVM_RUN, 0UL);
        if (r.ret == -1 && r.err == EAGAIN) continue;
        if (r.ret == -1 && r.err == EINTR && m.vcpus[i]->run()->exit_reason == KVM_EXIT_INTR) return;
        ap_bad.fetch_add(1);  // any exit: the AP code never leaves the VM
        return;
      }
    });
  }
  while (started.load() != 3) usleep(1000);
  Result r = m.vcpus[0]->ioctl(KVM_RUN, 0UL);
  kvm_run* run = m.vcpus[0]->run();
  EXPECT_EQ(r.ret, 0);
  EXPECT_EQ(run->exit_reason, KVM_EXIT_IO);
  uint32_t out = 0;
  std::memcpy(&out, reinterpret_cast<uint8_t*>(run) + run->io.data_offset, 4);
  EXPECT_EQ(out, 4u * 5000u);
  uint32_t mem = 0;
  std::memcpy(&mem, m.ram + 0x9000, 4);
  EXPECT_EQ(mem, 4u * 5000u);
  uint32_t arrived = 0, nmis = 0;
  std::memcpy(&arrived, m.ram + 0x9004, 4);
  std::memcpy(&nmis, m.ram + 0x9008, 4);
  EXPECT_EQ(arrived, 3u);
  EXPECT_EQ(nmis, 3u);
  // The APs are blocked in HLT with IF = 0: a signal ends each KVM_RUN.
  for (pthread_t h : handles) pthread_kill(h, SIGUSR1);
  for (auto& t : aps) t.join();
  EXPECT_EQ(ap_bad.load(), 0);
  kvm_mp_state mp{};
  ASSERT_EQ(m.vcpus[1]->ioctl(KVM_GET_MP_STATE, &mp).ret, 0);
  EXPECT_EQ(mp.mp_state, KVM_MP_STATE_HALTED);
}

// 32-bit flat protected mode at 0x10000, IDTR at 0x5ff0:
//   lidt [0x5ff0] ; SPIV = 0x1ff ; TDCR = 0xb (divide by 1)
//   LVTT = 0x20040 (periodic, vector 0x40) ; TMICT = 1000000 (1 ms at 1 GHz)
//   sti ; .w: hlt ; cmp dword [0x9100], 20 ; jb .w
//   cli ; LVTT = 0x10000 ; mov eax, [0x9100] ; out 0x10, eax ; hlt
constexpr uint8_t kTimer[] = {
    0x0f, 0x01, 0x1d, 0xf0, 0x5f, 0x00, 0x00, 0xc7, 0x05, 0xf0, 0x00, 0xe0, 0xfe, 0xff, 0x01,
    0x00, 0x00, 0xc7, 0x05, 0xe0, 0x03, 0xe0, 0xfe, 0x0b, 0x00, 0x00, 0x00, 0xc7, 0x05, 0x20,
    0x03, 0xe0, 0xfe, 0x40, 0x00, 0x02, 0x00, 0xc7, 0x05, 0x80, 0x03, 0xe0, 0xfe, 0x40, 0x42,
    0x0f, 0x00, 0xfb, 0xf4, 0x83, 0x3d, 0x00, 0x91, 0x00, 0x00, 0x14, 0x72, 0xf6, 0xfa, 0xc7,
    0x05, 0x20, 0x03, 0xe0, 0xfe, 0x00, 0x00, 0x01, 0x00, 0xa1, 0x00, 0x91, 0x00, 0x00, 0xe7,
    0x10, 0xf4};
// Handler at 0x10100 (no IRET: the host's emulator cannot IRET in
// protected mode, and it emulates right after an injected event here):
//   inc dword [0x9100] ; mov dword [APIC+0xb0], 0 ; add esp, 12 ; sti
//   jmp 0x10031 (the cmp after .w's hlt)
constexpr uint8_t kTimerHandler[] = {0xff, 0x05, 0x00, 0x91, 0x00, 0x00, 0xc7, 0x05, 0xb0,
                                     0x00, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x00, 0x83, 0xc4,
                                     0x0c, 0xfb, 0xe9, 0x18, 0xff, 0xff, 0xff};

// 20 periods of 1 ms: at least 20 ms (a timer never fires early), at most
// 100 ms on a loaded 2-core host; the vCPU thread sleeps in HLT, so its CPU
// time stays well under the wall time.
TEST_P(LapicClient, PeriodicTimerTicks20TimesIn20MsWhileHltSleeps) {
  const Backend& b = *GetParam();
  SKVM_SKIP_IF_UNUSABLE(b);
  Machine m(b, 1);
  ASSERT_TRUE(m.ok()) << m.why;
  std::memcpy(m.ram + 0x10000, kTimer, sizeof kTimer);
  std::memcpy(m.ram + 0x10100, kTimerHandler, sizeof kTimerHandler);
  const uint16_t idtr[3] = {0x7ff, 0x6000, 0};
  std::memcpy(m.ram + 0x5ff0, idtr, sizeof idtr);
  // SDM Vol. 3A, 6.11: 32-bit interrupt gate, selector 0x08, offset 0x10100.
  const uint32_t gate[2] = {0x00080000u | 0x0100u, 0x00018e00u};
  std::memcpy(m.ram + 0x6000 + 0x40 * 8, gate, sizeof gate);
  ASSERT_EQ(m.vcpus[0]->enter_mode(Mode::kProt32, 0x10000), "");
  const uint64_t wall0 = now_ns(CLOCK_MONOTONIC), cpu0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
  Result r = m.vcpus[0]->ioctl(KVM_RUN, 0UL);
  const uint64_t wall = now_ns(CLOCK_MONOTONIC) - wall0, cpu = now_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0;
  kvm_run* run = m.vcpus[0]->run();
  ASSERT_EQ(r.ret, 0);
  ASSERT_EQ(run->exit_reason, KVM_EXIT_IO)
      << "suberror " << run->internal.suberror << " ndata " << run->internal.ndata << " data0 "
      << std::hex << run->internal.data[0] << " " << run->internal.data[1] << " "
      << run->internal.data[2] << " " << run->internal.data[3];
  uint32_t ticks = 0;
  std::memcpy(&ticks, reinterpret_cast<uint8_t*>(run) + run->io.data_offset, 4);
  EXPECT_EQ(ticks, 20u);
  EXPECT_GE(wall, 19'000'000u);
  EXPECT_LE(wall, 100'000'000u);
  EXPECT_LT(cpu, wall / 2) << "the vCPU thread spun instead of sleeping in HLT";
}

INSTANTIATE_TEST_SUITE_P(Kvm, LapicClient, testing::Values(&kSoft, &kHost),
                         [](const testing::TestParamInfo<const Backend*>& info) {
                           return std::string(info.param->name);
                         });

}  // namespace
}  // namespace skvm::test
