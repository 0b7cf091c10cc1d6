// Locked-instruction operand accesses (MmuImpl::locked_begin /
// mmu_locked_commit, exec/locked.h): the operand store of a locked
// instruction is a compare-and-swap against the bytes the instruction read,
// so a plain store by another vCPU in between is never overwritten (SDM
// Vol. 3A 9.1.2). The "other vCPU" here is a direct store into guest RAM
// between the instruction's read and its commit.
#include "cpu/mmu/access.h"
#include "mmu_fixture.h"

namespace skvm::cpu::testing {
namespace {

class LockedTest : public MmuTest {
 protected:
  LockedTest() {
    flat_protected32();
    tlb_flush_all(cpu_);
    bus_.poke<uint32_t>(0x3000, 1);
    uint32_t v = 0;
    // Fill the TLB: the locked accesses must not take the inline fast path.
    EXPECT_TRUE(mem_read(cpu_, 0x3000, &v));
    EXPECT_TRUE(mem_write(cpu_, 0x3000, v));
  }
  MmuImpl& mmu() { return cpu_.mmu(); }
};

TEST_F(LockedTest, StoreIsBufferedUntilCommitThenWritten) {
  mmu().locked_begin();
  uint32_t v = 0;
  ASSERT_TRUE(mem_read(cpu_, 0x3000, &v));
  EXPECT_EQ(v, 1u);
  ASSERT_TRUE(mem_write<uint32_t>(cpu_, 0x3000, 7));
  EXPECT_EQ(bus_.peek<uint32_t>(0x3000), 1u);
  EXPECT_TRUE(mmu_locked_commit(cpu_));
  EXPECT_EQ(bus_.peek<uint32_t>(0x3000), 7u);
  EXPECT_EQ(mmu().lock_key(), 0u);
}

TEST_F(LockedTest, PlainByteStoreBetweenReadAndWriteFailsCommitAndSurvives) {
  // A failing LOCK CMPXCHG writes the old value (1) back; the other vCPU's
  // spinlock release (byte store of 0) landed in between.
  mmu().locked_begin();
  uint32_t v = 0;
  ASSERT_TRUE(mem_read(cpu_, 0x3000, &v));
  bus_.poke<uint8_t>(0x3000, 0);
  ASSERT_TRUE(mem_write<uint32_t>(cpu_, 0x3000, v));
  EXPECT_FALSE(mmu_locked_commit(cpu_));
  EXPECT_EQ(bus_.peek<uint32_t>(0x3000), 0u);
}

TEST_F(LockedTest, ReReadInsideTheOperandSeesTheBufferedStore) {
  mmu().locked_begin();
  uint32_t v = 0;
  ASSERT_TRUE(mem_read(cpu_, 0x3000, &v));
  ASSERT_TRUE(mem_write<uint16_t>(cpu_, 0x3002, 0x55aa));
  ASSERT_TRUE(mem_read(cpu_, 0x3000, &v));
  EXPECT_EQ(v, 0x55aa0001u);
  EXPECT_TRUE(mmu_locked_commit(cpu_));
  EXPECT_EQ(bus_.peek<uint32_t>(0x3000), 0x55aa0001u);
}

TEST_F(LockedTest, SixteenByteOperandReadInHalvesCommitsAsOneCas) {
  bus_.poke<uint64_t>(0x3010, 0x1111);
  bus_.poke<uint64_t>(0x3018, 0x2222);
  for (bool intervene : {true, false}) {
    mmu().locked_begin();
    uint64_t lo = 0, hi = 0;
    ASSERT_TRUE(mem_read(cpu_, 0x3010, &lo));
    ASSERT_TRUE(mem_read(cpu_, 0x3018, &hi));
    EXPECT_EQ(mmu().locked_op().size, 16u);
    if (intervene) bus_.poke<uint64_t>(0x3018, 0x3333);
    ASSERT_TRUE(mem_write<uint64_t>(cpu_, 0x3010, lo + 1));
    ASSERT_TRUE(mem_write<uint64_t>(cpu_, 0x3018, hi + 1));
    if (intervene) {
      EXPECT_FALSE(mmu_locked_commit(cpu_));
      EXPECT_EQ(bus_.peek<uint64_t>(0x3010), 0x1111u) << "nothing stored when the CAS fails";
      EXPECT_EQ(bus_.peek<uint64_t>(0x3018), 0x3333u);
    } else {
      EXPECT_TRUE(mmu_locked_commit(cpu_));
      EXPECT_EQ(bus_.peek<uint64_t>(0x3010), 0x1112u);
      EXPECT_EQ(bus_.peek<uint64_t>(0x3018), 0x3334u);
    }
  }
}

TEST_F(LockedTest, EightByteOperandReadAsTwoDwordsCommitsAsOneCas) {
  // CMPXCHG8B reads EDX:EAX-sized halves and stores 8 bytes at once.
  bus_.poke<uint64_t>(0x3020, 0x0000000200000001ull);
  mmu().locked_begin();
  uint32_t lo = 0, hi = 0;
  ASSERT_TRUE(mem_read(cpu_, 0x3020, &lo));
  ASSERT_TRUE(mem_read(cpu_, 0x3024, &hi));
  bus_.poke<uint32_t>(0x3024, 9);
  ASSERT_TRUE(mem_write<uint64_t>(cpu_, 0x3020, 0x0000000400000003ull));
  EXPECT_FALSE(mmu_locked_commit(cpu_));
  EXPECT_EQ(bus_.peek<uint64_t>(0x3020), 0x0000000900000001ull);
}

TEST_F(LockedTest, MisalignedOperandIsAPlainStoreUnderTheBusLockOnly) {
  // DEVIATION (exec/locked.h): a split-lock-prone operand gets no CAS.
  mmu().locked_begin();
  uint32_t v = 0;
  ASSERT_TRUE(mem_read(cpu_, 0x3001, &v));
  bus_.poke<uint8_t>(0x3001, 0x77);
  ASSERT_TRUE(mem_write<uint32_t>(cpu_, 0x3001, 0x12345678));
  EXPECT_TRUE(mmu_locked_commit(cpu_));
  EXPECT_EQ(bus_.peek<uint32_t>(0x3001), 0x12345678u);
}

TEST_F(LockedTest, PageCrossingOperandStoresAtOnce) {
  mmu().locked_begin();
  uint32_t v = 0;
  ASSERT_TRUE(mem_read(cpu_, 0x3ffe, &v));
  EXPECT_TRUE(mmu().locked_op().uncovered);
  ASSERT_TRUE(mem_write<uint32_t>(cpu_, 0x3ffe, 0xabcdef01));
  EXPECT_EQ(bus_.peek<uint32_t>(0x3ffe), 0xabcdef01u);
  EXPECT_TRUE(mmu_locked_commit(cpu_));
  EXPECT_EQ(bus_.peek<uint32_t>(0x3ffe), 0xabcdef01u);
}

TEST_F(LockedTest, StateChangedLeavesLockedMode) {
  mmu().locked_begin();
  mmu_state_changed(cpu_);
  EXPECT_EQ(mmu().lock_key(), 0u);
  ASSERT_TRUE(mem_write<uint32_t>(cpu_, 0x3000, 5));
  EXPECT_EQ(bus_.peek<uint32_t>(0x3000), 5u);
}

}  // namespace
}  // namespace skvm::cpu::testing
