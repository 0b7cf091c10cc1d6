#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include <gtest/gtest.h>

#include "base/clock.h"
#include "base/fd.h"
#include "base/kick.h"
#include "base/process.h"
#include "base/user_copy.h"

namespace skvm::base {
namespace {

TEST(FakeClock, AdvancesOnlyWhenTold) {
  FakeClock c(100);
  EXPECT_EQ(c.now_ns(), 100u);
  c.advance_ns(50);
  EXPECT_EQ(c.now_ns(), 150u);
  c.set_ns(7);
  EXPECT_EQ(c.now_ns(), 7u);
}

TEST(NsToTicks, ScalesByKhzWithoutOverflow) {
  EXPECT_EQ(ns_to_ticks(1'000'000'000u, 2'000'000u), 2'000'000'000u);  // 1 s at 2 GHz
  EXPECT_EQ(ns_to_ticks(1, 1'000'000u), 1u);
  // 10^18 ns (~31 years) at 4 GHz does not overflow the intermediate product.
  EXPECT_EQ(ns_to_ticks(1'000'000'000'000'000'000u, 4'000'000u), 4'000'000'000'000'000'000u);
}

TEST(Kick, RaiseSetsThisThreadsFlag) {
  thread_kick().store(0);
  raise_thread_kick();
  EXPECT_EQ(thread_kick().load(), 1);
  thread_kick().store(0);
}

TEST(UserCopy, CopiesValidMemory) {
  uint64_t src = 0x1122334455667788ull, dst = 0;
  EXPECT_TRUE(copy_from_user(&dst, &src, sizeof dst));
  EXPECT_EQ(dst, src);
  uint64_t out = 0;
  EXPECT_TRUE(copy_to_user(&out, &src, sizeof out));
  EXPECT_EQ(out, src);
}

TEST(UserCopy, BadPointerFailsInsteadOfCrashing) {
  uint64_t v = 0;
  EXPECT_FALSE(copy_from_user(&v, reinterpret_cast<void*>(8), sizeof v));
  EXPECT_FALSE(copy_to_user(reinterpret_cast<void*>(8), &v, sizeof v));
  EXPECT_FALSE(copy_from_user(&v, nullptr, sizeof v));
}

TEST(UserCopy, WriteToReadOnlyPageFails) {
  void* p = mmap(nullptr, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(p, MAP_FAILED);
  uint64_t v = 1;
  EXPECT_FALSE(copy_to_user(p, &v, sizeof v));
  EXPECT_TRUE(copy_from_user(&v, p, sizeof v));
  EXPECT_EQ(v, 0u);
  munmap(p, 4096);
}

TEST(UserCopy, PartiallyMappedRangeFails) {
  auto* p = static_cast<uint8_t*>(mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(p, MAP_FAILED);
  munmap(p + 4096, 4096);
  uint8_t buf[16] = {};
  EXPECT_FALSE(copy_from_user(buf, p + 4096 - 8, sizeof buf));
  EXPECT_TRUE(copy_from_user(buf, p + 4096 - 16, sizeof buf));
  munmap(p, 4096);
}

TEST(Memfd, HasRequestedSizeAndIsCloexec) {
  int fd = make_memfd("test", 12288);
  ASSERT_GE(fd, 0);
  struct stat st {};
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_EQ(st.st_size, 12288);
  EXPECT_EQ(fcntl(fd, F_GETFD), FD_CLOEXEC);
  SharedMapping m;
  ASSERT_EQ(m.map(fd, 12288), 0);
  m.data()[4096] = 42;
  uint8_t b = 0;
  ASSERT_EQ(pread(fd, &b, 1, 4096), 1);
  EXPECT_EQ(b, 42);  // the mapping and the fd are the same memory
  close(fd);
}

TEST(FileId, ClosedFdIsEbadfAndDistinctFilesDiffer) {
  int a = make_memfd("a", 0), b = make_memfd("b", 0);
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  FileId ia, ib;
  ASSERT_EQ(file_id(a, &ia), 0);
  ASSERT_EQ(file_id(b, &ib), 0);
  EXPECT_FALSE(ia == ib);
  close(a);
  EXPECT_EQ(file_id(a, &ia), -EBADF);
  close(b);
}

TEST(UniqueFd, ClosesOnDestruction) {
  int raw = make_memfd("u", 0);
  ASSERT_GE(raw, 0);
  { UniqueFd fd(raw); EXPECT_TRUE(fd.valid()); }
  EXPECT_EQ(fcntl(raw, F_GETFD), -1);
  EXPECT_EQ(errno, EBADF);
}

}  // namespace
}  // namespace skvm::base

namespace skvm::base {
namespace {

TEST(SelfPid, MatchesGetpid) {
  EXPECT_EQ(self_pid(), getpid());
  EXPECT_EQ(self_pid(), getpid());  // cached value
}

}  // namespace
}  // namespace skvm::base
