// I/O permission: IOPL and the TSS bitmap.
#include "cpu/state/io_permission.h"
#include "mmu_fixture.h"

namespace skvm::cpu::testing {
namespace {

class IoPermissionTest : public MmuTest {
 protected:
  IoPermissionTest() {
    flat_protected32();
    s().tr.base = 0x4000;
    s().tr.limit = 0x68 + 0x2000;  // bitmap for all ports + terminator
    s().tr.type = 0xb;
    bus_.poke<uint16_t>(0x4066, 0x68);
    std::memset(bus_.ram() + 0x4068, 0xff, 0x2001);
    bus_.ram()[0x4068 + 0x3f8 / 8] = 0xfe;  // port 0x3f8 allowed, 0x3f9.. denied
    s().seg[kCs].selector |= 3;
  }
};

TEST_F(IoPermissionTest, CplAtOrBelowIoplIsAlwaysAllowed) {
  s().rflags |= kFlagIOPL;
  EXPECT_TRUE(io_permitted(cpu_, 0x80, 1));
}

TEST_F(IoPermissionTest, BitmapAllowsClearedBitsOnly) {
  EXPECT_TRUE(io_permitted(cpu_, 0x3f8, 1));
  EXPECT_FALSE(io_permitted(cpu_, 0x3f8, 2));  // 0x3f9 denied
  EXPECT_EQ(sig().vector, kGP);
  EXPECT_EQ(sig().error_code, 0u);
}

TEST_F(IoPermissionTest, PortBeyondTssLimitIsDenied) {
  s().tr.limit = 0x68 + 0x10;
  EXPECT_FALSE(io_permitted(cpu_, 0x3f8, 1));
}

TEST_F(IoPermissionTest, RealModeIsAlwaysAllowed) {
  s().cr0 = kCr0ET;
  EXPECT_TRUE(io_permitted(cpu_, 0x3f9, 4));
}

}  // namespace
}  // namespace skvm::cpu::testing
