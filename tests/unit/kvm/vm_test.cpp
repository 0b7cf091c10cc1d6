// Vm and Vcpu as objects (no fds beyond the vCPU memfd): vCPU creation
// rules, and the cpu::Bus a vCPU gives its engine.
#include "kvm/vm.h"

#include <unistd.h>

#include <cerrno>

#include <gtest/gtest.h>

#include "base/clock.h"
#include "kvm/limits.h"
#include "kvm/vcpu.h"

namespace skvm::kvm {
namespace {

class VmTest : public ::testing::Test {
 protected:
  Vcpu* create(unsigned long id) {
    Vcpu* v = nullptr;
    int fd = -1;
    if (vm_.create_vcpu(id, &v, &fd) != 0) return nullptr;
    close(fd);  // the Vcpu keeps its own mapping
    return v;
  }
  base::FakeClock clock_{1'000'000'000};
  System system_{clock_};
  Vm vm_{system_};
};

TEST_F(VmTest, CreateVcpuRejectsBadAndDuplicateIds) {
  ASSERT_NE(create(0), nullptr);
  Vcpu* v = nullptr;
  int fd = -1;
  EXPECT_EQ(vm_.create_vcpu(0, &v, &fd), -EEXIST);
  EXPECT_EQ(vm_.create_vcpu(kMaxVcpuIds, &v, &fd), -EINVAL);
  EXPECT_EQ(vm_.vcpu_count(), 1u);
}

TEST_F(VmTest, IdentityMapAddressIsFrozenOnceAVcpuExists) {
  EXPECT_EQ(vm_.set_identity_map_addr(0xfeffc000), 0);
  EXPECT_EQ(vm_.identity_map_addr(), 0xfeffc000u);
  ASSERT_NE(create(0), nullptr);
  EXPECT_EQ(vm_.set_identity_map_addr(0x1000), -EINVAL);
}

TEST_F(VmTest, TssAddressMustLeaveThreePagesBelow4GiB) {
  EXPECT_EQ(vm_.set_tss_addr(0xffffd000ul), 0);
  EXPECT_EQ(vm_.tss_addr(), 0xffffd000u);
  EXPECT_EQ(vm_.set_tss_addr(0x1234ul), 0);  // alignment is not checked
  EXPECT_EQ(vm_.set_tss_addr(0xffffe000ul), -EINVAL);
  EXPECT_EQ(vm_.set_tss_addr(0x100001000ul), -EINVAL);  // not truncated (host /dev/kvm)
}

TEST_F(VmTest, BusTscFollowsTheInjectedClock) {
  Vcpu* v = create(0);
  ASSERT_NE(v, nullptr);
  const uint64_t t0 = v->tsc();
  EXPECT_EQ(t0, base::ns_to_ticks(1'000'000'000, kTscKhz));
  clock_.advance_ns(1000);  // 1 us at 2 GHz = 2000 ticks
  EXPECT_EQ(v->tsc() - t0, 2000u);
}

TEST_F(VmTest, BusSeesMemslotsAndThePioPage) {
  Vcpu* v = create(0);
  ASSERT_NE(v, nullptr);
  alignas(4096) static uint8_t ram[2 * 4096];
  const uint64_t g = v->generation().load();
  kvm_userspace_memory_region r{0, KVM_MEM_READONLY, 0x10000, sizeof ram, reinterpret_cast<uint64_t>(ram)};
  ASSERT_EQ(vm_.memslots().set(r), 0);
  EXPECT_GT(v->generation().load(), g);
  cpu::PhysPage p = v->lookup(0x11000);
  EXPECT_EQ(p.host, ram + 4096);
  EXPECT_FALSE(p.writable);
  EXPECT_EQ(v->lookup(0x12000).host, nullptr);
  // kvm_run.io.data_offset points at the page the engine uses.
  EXPECT_EQ(v->pio_page(), reinterpret_cast<uint8_t*>(v->run_page()) + KVM_PIO_PAGE_OFFSET * 4096);
}

TEST_F(VmTest, BusCpuidComesFromSetCpuid) {
  Vcpu* v = create(0);
  ASSERT_NE(v, nullptr);
  uint32_t out[4] = {1, 1, 1, 1};
  v->cpuid(0, 0, out);
  EXPECT_EQ(out[0] | out[1] | out[2] | out[3], 0u);  // no CPUID set: zeros, as KVM
  ASSERT_EQ(v->set_cpuid(supported_cpuid()), 0);
  v->cpuid(0x80000001, 0, out);
  EXPECT_NE(out[3] & (1u << 29), 0u);
}

}  // namespace
}  // namespace skvm::kvm
