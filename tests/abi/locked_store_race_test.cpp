// A spinlock between two vCPUs, each on its own thread, on both backends
// (softkvm and the host /dev/kvm): the lock is taken with a locked
// read-modify-write and released with a plain byte store, as Linux's
// qspinlock does (`movb $0, lock->locked`). SDM Vol. 3A 9.1.2: a locked
// operation is atomic against every other store, so a release that lands
// while another vCPU's acquire attempt is in flight (LOCK CMPXCHG writes the
// old value back when it fails; XCHG and LOCK BTS write 1 over it) must not
// be lost. A lost release leaves the lock held by nobody: both vCPUs spin.
// Every spin is bounded: a timeout exits through port 0x12 with the
// iterations left in EAX. The critical section increments a plain counter:
// it must end at exactly twice the iteration count.
//   vCPU 0 (out 0x10 when done):           vCPU 1 (out 0x11 when done):
//   mov esi, [0x9008]     ; iterations     mov esi, [0x9008]
//   .iter: mov ebx, [0x900c] ; spin bound  .iter: mov ebx, [0x900c]
//   .acq: xor eax, eax ; mov ecx, 1        .acq: test esi, 1 ; jz .bts
//   lock cmpxchg [0x9000], ecx ; je .got   mov eax, 1 ; xchg [0x9000], eax
//   dec ebx ; jnz .acq                     test eax, eax ; jz .got ; jmp .spin
//   mov eax, esi ; out 0x12, eax ; hlt     .bts: lock bts dword [0x9000], 0
//   .got: inc dword [0x9004]               jnc .got
//   mov byte [0x9000], 0                   .spin: dec ebx ; jnz .acq
//   dec esi ; jnz .iter                    mov eax, esi ; out 0x12, eax ; hlt
//   out 0x10, al ; hlt                     .got: (as vCPU 0) ; out 0x11, al
// assembled once with `bits 32` (protected mode: the segmented access path)
// and once with `bits 64` (long mode: the flat inline fast path).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "backend.h"
#include "vm.h"

namespace skvm::test {
namespace {

constexpr uint8_t kCmpxchg32[] = {
    0x8b, 0x35, 0x08, 0x90, 0x00, 0x00, 0x8b, 0x1d, 0x0c, 0x90, 0x00, 0x00, 0x31, 0xc0, 0xb9, 0x01, 0x00,
    0x00, 0x00, 0xf0, 0x0f, 0xb1, 0x0d, 0x00, 0x90, 0x00, 0x00, 0x74, 0x08, 0x4b, 0x75, 0xec, 0x89, 0xf0,
    0xe7, 0x12, 0xf4, 0xff, 0x05, 0x04, 0x90, 0x00, 0x00, 0xc6, 0x05, 0x00, 0x90, 0x00, 0x00, 0x00, 0x4e,
    0x75, 0xd1, 0xe6, 0x10, 0xf4};
constexpr uint8_t kXchgBts32[] = {
    0x8b, 0x35, 0x08, 0x90, 0x00, 0x00, 0x8b, 0x1d, 0x0c, 0x90, 0x00, 0x00, 0xf7, 0xc6, 0x01, 0x00, 0x00,
    0x00, 0x74, 0x11, 0xb8, 0x01, 0x00, 0x00, 0x00, 0x87, 0x05, 0x00, 0x90, 0x00, 0x00, 0x85, 0xc0, 0x74,
    0x15, 0xeb, 0x0b, 0xf0, 0x0f, 0xba, 0x2d, 0x00, 0x90, 0x00, 0x00, 0x00, 0x73, 0x08, 0x4b, 0x75, 0xd9,
    0x89, 0xf0, 0xe7, 0x12, 0xf4, 0xff, 0x05, 0x04, 0x90, 0x00, 0x00, 0xc6, 0x05, 0x00, 0x90, 0x00, 0x00,
    0x00, 0x4e, 0x75, 0xbe, 0xe6, 0x11, 0xf4};
constexpr uint8_t kCmpxchg64[] = {
    0x8b, 0x34, 0x25, 0x08, 0x90, 0x00, 0x00, 0x8b, 0x1c, 0x25, 0x0c, 0x90, 0x00, 0x00, 0x31, 0xc0, 0xb9,
    0x01, 0x00, 0x00, 0x00, 0xf0, 0x0f, 0xb1, 0x0c, 0x25, 0x00, 0x90, 0x00, 0x00, 0x74, 0x09, 0xff, 0xcb,
    0x75, 0xea, 0x89, 0xf0, 0xe7, 0x12, 0xf4, 0xff, 0x04, 0x25, 0x04, 0x90, 0x00, 0x00, 0xc6, 0x04, 0x25,
    0x00, 0x90, 0x00, 0x00, 0x00, 0xff, 0xce, 0x75, 0xcb, 0xe6, 0x10, 0xf4};
constexpr uint8_t kXchgBts64[] = {
    0x8b, 0x34, 0x25, 0x08, 0x90, 0x00, 0x00, 0x8b, 0x1c, 0x25, 0x0c, 0x90, 0x00, 0x00, 0xf7, 0xc6, 0x01,
    0x00, 0x00, 0x00, 0x74, 0x12, 0xb8, 0x01, 0x00, 0x00, 0x00, 0x87, 0x04, 0x25, 0x00, 0x90, 0x00, 0x00,
    0x85, 0xc0, 0x74, 0x17, 0xeb, 0x0c, 0xf0, 0x0f, 0xba, 0x2c, 0x25, 0x00, 0x90, 0x00, 0x00, 0x00, 0x73,
    0x09, 0xff, 0xcb, 0x75, 0xd6, 0x89, 0xf0, 0xe7, 0x12, 0xf4, 0xff, 0x04, 0x25, 0x04, 0x90, 0x00, 0x00,
    0xc6, 0x04, 0x25, 0x00, 0x90, 0x00, 0x00, 0x00, 0xff, 0xce, 0x75, 0xb7, 0xe6, 0x11, 0xf4};

constexpr uint64_t kLock = 0x9000, kCounter = 0x9004, kIterations = 0x9008, kSpinBound = 0x900c;

class LockedStoreRace : public testing::TestWithParam<std::tuple<const Backend*, Mode>> {};

TEST_P(LockedStoreRace, PlainStoreReleaseIsNeverLostAndCounterIsExact) {
  const Backend& b = *std::get<0>(GetParam());
  const Mode mode = std::get<1>(GetParam());
  SKVM_SKIP_IF_UNUSABLE(b);
  const bool soft = &b == &kSoft;
  // A lost release shows as a timeout within seconds (the spin bound); the
  // host /dev/kvm run (fewer iterations) checks the test itself.
  const uint32_t iterations = soft ? 500000 : 20000;
  const uint32_t spin_bound = 20000000;
  Vm vm(b);
  ASSERT_TRUE(vm.error().empty()) << vm.error();
  std::string why;
  uint8_t* ram = vm.add_ram(0, 0, 0x100000, 0, &why);
  ASSERT_NE(ram, nullptr) << why;
  std::vector<std::unique_ptr<Vcpu>> v;
  for (unsigned i = 0; i < 2; ++i) {
    auto c = vm.create_vcpu(i, &why);
    ASSERT_TRUE(c) << why;
    ASSERT_EQ(c->set_supported_cpuid(), "");
    v.push_back(std::move(c));
  }
  const bool long_mode = mode == Mode::kLong;
  if (long_mode) {
    std::memcpy(ram + 0x10000, kCmpxchg64, sizeof kCmpxchg64);
    std::memcpy(ram + 0x11000, kXchgBts64, sizeof kXchgBts64);
  } else {
    std::memcpy(ram + 0x10000, kCmpxchg32, sizeof kCmpxchg32);
    std::memcpy(ram + 0x11000, kXchgBts32, sizeof kXchgBts32);
  }
  std::memset(ram + kLock, 0, 8);
  std::memcpy(ram + kIterations, &iterations, 4);
  std::memcpy(ram + kSpinBound, &spin_bound, 4);
  ASSERT_EQ(v[0]->enter_mode(mode, 0x10000), "");
  ASSERT_EQ(v[1]->enter_mode(mode, 0x11000), "");

  struct Outcome {
    int ret = -1;
    uint32_t exit_reason = 0;
    uint16_t port = 0;
    uint32_t eax = 0;
  };
  auto run = [](Vcpu& c, Outcome* o) {
    o->ret = c.ioctl(KVM_RUN, 0UL).ret;
    kvm_run* r = c.run();
    o->exit_reason = r->exit_reason;
    if (r->exit_reason == KVM_EXIT_IO) {
      o->port = r->io.port;
      // SAFETY: data_offset points inside the vCPU's kvm_run mapping.
      std::memcpy(&o->eax, reinterpret_cast<uint8_t*>(r) + r->io.data_offset, 4);
    }
  };
  Outcome o0, o1;
  std::thread second([&] { run(*v[1], &o1); });
  run(*v[0], &o0);
  second.join();
  EXPECT_EQ(o0.ret, 0);
  EXPECT_EQ(o1.ret, 0);
  EXPECT_EQ(o0.exit_reason, KVM_EXIT_IO);
  EXPECT_EQ(o1.exit_reason, KVM_EXIT_IO);
  EXPECT_EQ(o0.port, 0x10) << "vCPU 0 (lock cmpxchg) timed out with " << o0.eax
                           << " iterations left: a release store was lost";
  EXPECT_EQ(o1.port, 0x11) << "vCPU 1 (xchg / lock bts) timed out with " << o1.eax
                           << " iterations left: a release store was lost";
  uint32_t counter = 0;
  std::memcpy(&counter, ram + kCounter, 4);
  EXPECT_EQ(counter, 2 * iterations) << "the lock let two vCPUs into the critical section";
}

INSTANTIATE_TEST_SUITE_P(
    Kvm, LockedStoreRace,
    testing::Combine(testing::Values(&kSoft, &kHost), testing::Values(Mode::kProt32, Mode::kLong)),
    [](const testing::TestParamInfo<std::tuple<const Backend*, Mode>>& info) {
      return std::string(std::get<0>(info.param)->name) +
             (std::get<1>(info.param) == Mode::kLong ? "_long" : "_prot32");
    });

}  // namespace
}  // namespace skvm::test
