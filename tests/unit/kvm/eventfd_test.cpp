// KVM_IOEVENTFD registration rules and matching (eventfd.c), on real
// eventfds (no threads: the irqfd thread is covered by tests/clients).
#include "kvm/eventfd.h"

#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>

namespace skvm::kvm {
namespace {

struct Efd {
  Efd() : fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}
  ~Efd() { close(fd); }
  uint64_t take() {
    uint64_t v = 0;
    return read(fd, &v, sizeof(v)) == sizeof(v) ? v : 0;
  }
  int fd;
};

kvm_ioeventfd io(int fd, uint64_t addr, uint32_t len, uint32_t flags = 0, uint64_t match = 0) {
  kvm_ioeventfd a{};
  a.fd = fd;
  a.addr = addr;
  a.len = len;
  a.flags = flags;
  a.datamatch = match;
  return a;
}

TEST(Ioeventfd, PioWriteOfRegisteredLengthSignalsEventfd) {
  Ioeventfds set;
  Efd e;
  ASSERT_EQ(set.ioctl(io(e.fd, 0x510, 2, KVM_IOEVENTFD_FLAG_PIO)), 0);
  uint16_t v = 7;
  EXPECT_TRUE(set.write(true, 0x510, 2, &v));
  EXPECT_EQ(e.take(), 1u);
  EXPECT_FALSE(set.write(true, 0x510, 1, &v));   // other length: exit
  EXPECT_FALSE(set.write(false, 0x510, 2, &v));  // MMIO bus: exit
  EXPECT_EQ(e.take(), 0u);
}

TEST(Ioeventfd, DatamatchSignalsOnlyOnEqualValue) {
  Ioeventfds set;
  Efd e;
  ASSERT_EQ(set.ioctl(io(e.fd, 0xd0000000, 4, KVM_IOEVENTFD_FLAG_DATAMATCH, 0x42)), 0);
  uint32_t v = 0x41;
  EXPECT_FALSE(set.write(false, 0xd0000000, 4, &v));
  v = 0x42;
  EXPECT_TRUE(set.write(false, 0xd0000000, 4, &v));
  EXPECT_EQ(e.take(), 1u);
}

TEST(Ioeventfd, LengthZeroMatchesAnyWriteWidthAtTheAddress) {
  Ioeventfds set;
  Efd e;
  ASSERT_EQ(set.ioctl(io(e.fd, 0xd0001000, 0)), 0);
  uint64_t v = 1;
  EXPECT_TRUE(set.write(false, 0xd0001000, 8, &v));
  EXPECT_TRUE(set.write(false, 0xd0001000, 1, &v));
  EXPECT_FALSE(set.write(false, 0xd0001001, 1, &v));
  EXPECT_EQ(e.take(), 2u);
}

TEST(Ioeventfd, BadLengthIsEinval) {
  Ioeventfds set;
  Efd e;
  EXPECT_EQ(set.ioctl(io(e.fd, 0x100, 3, KVM_IOEVENTFD_FLAG_PIO)), -EINVAL);
}

TEST(Ioeventfd, LengthZeroWithDatamatchIsEinval) {
  Ioeventfds set;
  Efd e;
  EXPECT_EQ(set.ioctl(io(e.fd, 0x100, 0, KVM_IOEVENTFD_FLAG_DATAMATCH)), -EINVAL);
}

TEST(Ioeventfd, UnknownFlagIsEinval) {
  Ioeventfds set;
  Efd e;
  EXPECT_EQ(set.ioctl(io(e.fd, 0x100, 1, 1u << 7)), -EINVAL);
}

TEST(Ioeventfd, AddressRangeOverflowIsEinval) {
  Ioeventfds set;
  Efd e;
  EXPECT_EQ(set.ioctl(io(e.fd, ~0ull, 4)), -EINVAL);
}

TEST(Ioeventfd, NotAnEventfdIsEinvalAndClosedFdIsEbadf) {
  Ioeventfds set;
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  EXPECT_EQ(set.ioctl(io(p[0], 0x100, 1, KVM_IOEVENTFD_FLAG_PIO)), -EINVAL);
  close(p[0]);
  close(p[1]);
  EXPECT_EQ(set.ioctl(io(p[0], 0x100, 1, KVM_IOEVENTFD_FLAG_PIO)), -EBADF);
}

TEST(Ioeventfd, OverlappingWildcardIsEexistButDistinctDatamatchesCoexist) {
  Ioeventfds set;
  Efd a, b, c;
  uint32_t dm = KVM_IOEVENTFD_FLAG_DATAMATCH | KVM_IOEVENTFD_FLAG_PIO;
  ASSERT_EQ(set.ioctl(io(a.fd, 0x200, 1, dm, 1)), 0);
  EXPECT_EQ(set.ioctl(io(b.fd, 0x200, 1, dm, 2)), 0);
  EXPECT_EQ(set.ioctl(io(c.fd, 0x200, 1, KVM_IOEVENTFD_FLAG_PIO)), -EEXIST);
  EXPECT_EQ(set.ioctl(io(c.fd, 0x200, 1, dm, 1)), -EEXIST);
  uint8_t v = 2;
  EXPECT_TRUE(set.write(true, 0x200, 1, &v));
  EXPECT_EQ(b.take(), 1u);
  EXPECT_EQ(a.take(), 0u);
}

TEST(Ioeventfd, DeassignNeedsExactRegistrationElseEnoent) {
  Ioeventfds set;
  Efd e, other;
  ASSERT_EQ(set.ioctl(io(e.fd, 0x300, 4, KVM_IOEVENTFD_FLAG_PIO)), 0);
  uint32_t de = KVM_IOEVENTFD_FLAG_PIO | KVM_IOEVENTFD_FLAG_DEASSIGN;
  EXPECT_EQ(set.ioctl(io(e.fd, 0x300, 2, de)), -ENOENT);
  EXPECT_EQ(set.ioctl(io(other.fd, 0x300, 4, de)), -ENOENT);
  EXPECT_EQ(set.ioctl(io(e.fd, 0x300, 4, de)), 0);
  uint32_t v = 0;
  EXPECT_FALSE(set.write(true, 0x300, 4, &v));
  EXPECT_EQ(set.ioctl(io(e.fd, 0x300, 4, de)), -ENOENT);
}

TEST(Ioeventfd, DeassignThroughADupOfTheSameEventfdSucceeds) {
  Ioeventfds set;
  Efd e;
  ASSERT_EQ(set.ioctl(io(e.fd, 0x300, 4)), 0);
  int d = dup(e.fd);
  EXPECT_EQ(set.ioctl(io(d, 0x300, 4, KVM_IOEVENTFD_FLAG_DEASSIGN)), 0);
  close(d);
}

}  // namespace
}  // namespace skvm::kvm
