// Cross-vCPU code invalidation (cache/shared_code.h, mmu_impl.h "Cross-vCPU
// code"): two Cpus on one bus with a shared registry, run one after the
// other on one thread (hermetic: the interleavings are chosen, not raced).
#include <gtest/gtest.h>

#include "cpu/cache/shared_code.h"
#include "cpu/mmu/access.h"
#include "cpu/mmu/mmu_impl.h"
#include "fake_bus.h"

namespace skvm::cpu::testing {
namespace {

class SharedBus : public FakeBus {
 public:
  SharedBus() : FakeBus(1 << 20) {}
  SharedCode* shared_code() override { return &code_; }
  SharedCode& code() { return code_; }

 private:
  SharedCode code_;
};

// Flat 32-bit protected mode, no paging, no IDT.
void prot32(Cpu& c, uint64_t rip) {
  CpuState& st = c.state();
  st = CpuState{};
  st.rflags = kFlagFixed1;
  st.rip = rip;
  st.gpr[kRsp] = 0x8000;
  st.cr0 = kCr0PE | kCr0ET;
  for (auto& seg : st.seg) {
    seg = Segment{};
    seg.limit = 0xffffffff;
    seg.g = 1;
    seg.db = 1;
    seg.type = 3;
    seg.selector = 0x10;
  }
  st.seg[kCs].type = 0xb;
  st.seg[kCs].selector = 0x8;
  c.state_changed();
}

constexpr uint64_t kFunc = 0x20000;  // mov eax, 1 ; ret

class SharedCodeTest : public ::testing::Test {
 protected:
  SharedCodeTest() : a_(bus_), b_(bus_) {
    bus_.load(kFunc, {0xb8, 0x01, 0x00, 0x00, 0x00, 0xc3});
    bus_.load(0x1000, {0xe8, 0xfb, 0xef, 0x01, 0x00, 0xf4});  // A: call 0x20000 ; hlt
    a_.host_may_have_written_memory();
    b_.host_may_have_written_memory();
  }
  uint64_t run_a() {
    prot32(a_, 0x1000);
    EXPECT_EQ(a_.run(nullptr), Stop::kHlt);
    return a_.state().gpr[kRax];
  }
  // B runs `code` (ending in hlt) from 0x3000.
  void run_b(const std::vector<uint8_t>& code) {
    bus_.load(0x3000, code);
    b_.host_may_have_written_memory();  // B's own code: loaded by the host
    prot32(b_, 0x3000);
    EXPECT_EQ(b_.run(nullptr), Stop::kHlt);
  }
  SharedBus bus_;
  Cpu a_;
  Cpu b_;
};

TEST_F(SharedCodeTest, WriteByOtherCpuThroughItsOldWritableEntryIsSeen) {
  // B writes the page before it holds code: B's TLB gets a write tag.
  run_b({0xc6, 0x05, 0x00, 0x08, 0x02, 0x00, 0x5a, 0xf4});  // mov byte [0x20800], 0x5a ; hlt
  EXPECT_NE(b_.mmu().entry(kFunc).write_tag, MmuImpl::kInvalidTag);
  EXPECT_EQ(run_a(), 1u);  // A decodes the function: the page becomes code VM-wide
  EXPECT_TRUE(bus_.code().contains(kFunc));
  // B patches the immediate: its run() entry drops the old write tag first,
  // so the write takes the notify path and is posted.
  run_b({0xc6, 0x05, 0x01, 0x00, 0x02, 0x00, 0x02, 0xf4});  // mov byte [0x20001], 2 ; hlt
  EXPECT_EQ(b_.mmu().entry(kFunc).write_tag, MmuImpl::kInvalidTag);
  EXPECT_EQ(run_a(), 2u);
}

TEST_F(SharedCodeTest, OtherCpuNeverGetsAWritableEntryForARegisteredPage) {
  EXPECT_EQ(run_a(), 1u);
  run_b({0xc6, 0x05, 0x01, 0x00, 0x02, 0x00, 0x03, 0xf4});  // mov byte [0x20001], 3 ; hlt
  EXPECT_EQ(b_.mmu().entry(kFunc).write_tag, MmuImpl::kInvalidTag);
  EXPECT_EQ(b_.mmu().entry(kFunc).notify_tag, kFunc);
  EXPECT_EQ(run_a(), 3u);
}

TEST_F(SharedCodeTest, OverwrittenEventsMakeTheReaderRevalidateEverything) {
  EXPECT_EQ(run_a(), 1u);
  // More events than the ring holds while A is outside run(), one of them
  // the real patch (done by the host here, as B's store would be).
  bus_.poke<uint8_t>(kFunc + 1, 4);
  for (unsigned k = 0; k < SharedCode::kRing + 8; ++k) {
    bus_.code().post(0x50000 + k * kPageSize, SharedCode::Kind::kWritten, 1);
  }
  EXPECT_EQ(run_a(), 4u);
}

TEST(SharedCodeRegistry, AddReportsFirstRegistrationOnly) {
  SharedCode c;
  EXPECT_FALSE(c.contains(0x7000));
  EXPECT_TRUE(c.add(0x7000));
  EXPECT_FALSE(c.add(0x7000));
  EXPECT_TRUE(c.contains(0x7000));
  EXPECT_FALSE(c.contains(0x8000));
}

TEST(SharedCodeRegistry, EventsReadBackInOrderUntilOverwritten) {
  SharedCode c;
  const unsigned me = c.join();
  c.post(0x1000, SharedCode::Kind::kProtect, me);
  c.post(0x2000, SharedCode::Kind::kWritten, 7);
  EXPECT_EQ(c.epoch().load(), 2u);
  EXPECT_EQ(c.protect_end(), 1u);
  SharedCode::Event e;
  ASSERT_TRUE(c.event(0, &e));
  EXPECT_EQ(e.gpa_page, 0x1000u);
  EXPECT_EQ(e.kind, SharedCode::Kind::kProtect);
  EXPECT_EQ(e.poster, me);
  ASSERT_TRUE(c.event(1, &e));
  EXPECT_EQ(e.gpa_page, 0x2000u);
  EXPECT_EQ(e.kind, SharedCode::Kind::kWritten);
  EXPECT_EQ(e.poster, 7u);
  for (unsigned k = 0; k < SharedCode::kRing; ++k) c.post(0x3000, SharedCode::Kind::kWritten, 0);
  EXPECT_FALSE(c.event(0, &e));
  EXPECT_FALSE(c.event(c.epoch().load(), &e));  // not posted yet
}

TEST(SharedCodeRegistry, OnlyRunningParticipantsThatLagCountAsBehind) {
  SharedCode c;
  const unsigned a = c.join(), b = c.join();
  EXPECT_FALSE(c.others_behind(a, 5));  // b is idle: it syncs before executing
  c.ack(b, 3);
  EXPECT_TRUE(c.others_behind(a, 5));
  EXPECT_FALSE(c.others_behind(b, 5));  // a is idle
  c.ack(b, 5);
  EXPECT_FALSE(c.others_behind(a, 5));
}

}  // namespace
}  // namespace skvm::cpu::testing
