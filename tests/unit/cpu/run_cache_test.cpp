// The decoded-block cache under pressure and the privilege checks that
// depend on CPL/IOPL.
#include <gtest/gtest.h>

#include "cpu/exec/engine_impl.h"
#include "exec_harness.h"

namespace skvm::cpu::testing {
namespace {

TEST(RunCache, FullCacheIsFlushedWholesaleAndExecutionStaysCorrect) {
  Guest g(GuestMode::kLong64);
  // 9000 one-instruction blocks: "inc eax ; jmp next" (ff c0 eb 00), then hlt.
  const unsigned n = 9000;
  std::vector<uint8_t> code;
  for (unsigned k = 0; k < n; ++k) code.insert(code.end(), {0xff, 0xc0, 0xeb, 0x00});
  code.push_back(0xf4);
  g.load(code);
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.r(kRax), n);
  EXPECT_GE(g.cpu().engine().cache().flushes(), 1u);
  // Again, from a cache that was flushed mid-way.
  g.s().rip = Guest::kCode;
  g.r(kRax) = 0;
  ASSERT_EQ(g.run(), Stop::kHlt);
  EXPECT_EQ(g.r(kRax), n);
}

// Flat 32-bit protected mode at CPL 3 (no IDT: any #GP ends in shutdown).
void enter_cpl3(Guest& g, unsigned iopl) {
  for (auto& seg : g.s().seg) {
    seg.dpl = 3;
    seg.selector = 0x23;
  }
  g.s().seg[kCs].selector = 0x1b;
  g.s().rflags = kFlagFixed1 | (static_cast<uint64_t>(iopl) << 12);
  g.cpu().state_changed();
}

TEST(RunPrivilege, HltAtCpl3IsGeneralProtection) {
  Guest g(GuestMode::kProt32);
  g.load({0xf4});
  enter_cpl3(g, 3);
  EXPECT_EQ(g.run(), Stop::kShutdown);
}

TEST(RunPrivilege, PortIoAtCpl3NeedsIopl3) {
  Guest denied(GuestMode::kProt32);
  denied.load({0xe6, 0x80});
  enter_cpl3(denied, 0);
  EXPECT_EQ(denied.run(), Stop::kShutdown);
  Guest allowed(GuestMode::kProt32);
  allowed.load({0xe6, 0x80});
  enter_cpl3(allowed, 3);
  EXPECT_EQ(allowed.run(), Stop::kIo);
}

TEST(RunPrivilege, CliAtCpl3WithIopl0IsGeneralProtection) {
  Guest g(GuestMode::kProt32);
  g.load({0xfa});
  enter_cpl3(g, 0);
  EXPECT_EQ(g.run(), Stop::kShutdown);
}

TEST(RunPrivilege, PopfAtCpl3KeepsIfAndIopl) {
  Guest g(GuestMode::kProt32);
  // push 0x3ed7 (IOPL 3, IF, DF, arith) ; popf ; hlt would #GP: use a port
  // exit to stop instead: out 0x80, al.
  g.load({0x68, 0xd7, 0x3e, 0, 0, 0x9d, 0xe6, 0x80});
  enter_cpl3(g, 3);
  g.s().rflags &= ~kFlagIOPL;
  g.s().rflags |= 3ull << 12;
  g.cpu().state_changed();
  ASSERT_EQ(g.run(), Stop::kIo);
  // CPL 3 > IOPL? no (IOPL 3): IF may change; IOPL may not (CPL != 0).
  EXPECT_TRUE(g.s().rflags & kFlagIF);
  EXPECT_EQ((g.s().rflags & kFlagIOPL) >> 12, 3u);
  EXPECT_TRUE(g.s().rflags & kFlagDF);
}

}  // namespace
}  // namespace skvm::cpu::testing
