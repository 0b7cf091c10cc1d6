// Random guest code must never crash the engine or corrupt the process
// (run under ASan+UBSan in the sanitizer build): random bytes in all three
// modes, single-stepped, every exit completed, deterministic seeds.
#include <gtest/gtest.h>

#include <random>

#include "exec_harness.h"

namespace skvm::cpu::testing {
namespace {

TEST(RunRandom, RandomCodeEndsInOrdinaryStopsOnly) {
  std::mt19937_64 rng(12345);
  int stops[8] = {};
  for (GuestMode mode : {GuestMode::kReal, GuestMode::kProt32, GuestMode::kLong64}) {
    Guest g(mode);
    for (int seed = 0; seed < 60; ++seed) {
      g.enter(mode);
      std::vector<uint8_t> code(512);
      for (auto& b : code) b = static_cast<uint8_t>(rng());
      g.load(code);
      for (int r = 0; r < 16; ++r) g.r(static_cast<Gpr>(r)) = rng() & 0x3fff;
      g.r(kRsp) = 0x8000;
      for (int n = 0; n < 300; ++n) {
        Stop st = g.cpu().step();
        ASSERT_LE(static_cast<int>(st), 6);
        ++stops[static_cast<int>(st)];
        if (st == Stop::kShutdown || st == Stop::kInternal || st == Stop::kMemoryFault) break;
        if (st == Stop::kHlt) g.s().halted = false;
      }
    }
  }
  // The mix must include ordinary retirements and at least one kind of stop.
  EXPECT_GT(stops[static_cast<int>(Stop::kKick)], 100);
}

}  // namespace
}  // namespace skvm::cpu::testing
