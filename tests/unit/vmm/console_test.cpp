// The console's Ctrl-A escape (QEMU's convention).
#include <gtest/gtest.h>

#include "vmm/console.h"

namespace skvm::vmm {
namespace {

TEST(ConsoleEscape, CtrlAThenXQuitsAndNeitherByteReachesTheGuest) {
  bool escape = false, quit = false;
  EXPECT_FALSE(Console::filter_byte(0x01, escape, quit));
  EXPECT_FALSE(Console::filter_byte('x', escape, quit));
  EXPECT_TRUE(quit);
}

TEST(ConsoleEscape, CtrlATwiceSendsOneCtrlA) {
  bool escape = false, quit = false;
  EXPECT_FALSE(Console::filter_byte(0x01, escape, quit));
  EXPECT_TRUE(Console::filter_byte(0x01, escape, quit));
  EXPECT_FALSE(quit);
  EXPECT_TRUE(Console::filter_byte('a', escape, quit));
}

TEST(ConsoleEscape, PlainXPassesThrough) {
  bool escape = false, quit = false;
  EXPECT_TRUE(Console::filter_byte('x', escape, quit));
  EXPECT_FALSE(quit);
}

}  // namespace
}  // namespace skvm::vmm
