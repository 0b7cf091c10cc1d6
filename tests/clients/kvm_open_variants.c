/*
 * kvm_open_variants: opens /dev/kvm through every libc entry point the
 * preload shim interposes (open, open64, openat with AT_FDCWD and with a
 * directory fd, openat64, and the _FORTIFY_SOURCE entry points __open_2,
 * __open64_2, __openat_2, __openat64_2) and checks that each fd is a
 * working KVM system fd: KVM_GET_API_VERSION, a generic ioctl (FIOCLEX),
 * close, and EBADF on a second close. Written only against <linux/kvm.h>.
 *
 * `--expect-soft`: additionally require that the fds are not the host's
 * /dev/kvm (i.e. that the shim routed them to softkvm).
 * Exit status: 0 when all checks pass, 77 when /dev/kvm is unusable, 1 otherwise.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int __open_2(const char* path, int flags);
int __open64_2(const char* path, int flags);
int __openat_2(int dirfd, const char* path, int flags);
int __openat64_2(int dirfd, const char* path, int flags);

static int expect_soft;

static int check_fd(const char* variant, int fd) {
  if (fd < 0) {
    if (errno == ENOENT || errno == EACCES || errno == EPERM) return 77;
    printf("%s: open failed: %s\n", variant, strerror(errno));
    return 1;
  }
  int failures = 0;
  char link[64], target[256] = "";
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, target, sizeof target - 1);
  if (n > 0) target[n] = '\0';
  if (expect_soft && strcmp(target, "/dev/kvm") == 0) {
    printf("%s: fd is the host's /dev/kvm, not softkvm\n", variant);
    failures++;
  }
  int version = ioctl(fd, KVM_GET_API_VERSION, 0);
  int fioclex = ioctl(fd, FIOCLEX);
  int cloexec = fcntl(fd, F_GETFD) & FD_CLOEXEC;
  int closed = close(fd);
  int reclosed = close(fd);
  int reclose_errno = errno;
  printf("%s: api %d, FIOCLEX %d (cloexec %d), close %d, second close %d (%s)\n", variant,
         version, fioclex, cloexec ? 1 : 0, closed, reclosed,
         reclose_errno == EBADF ? "EBADF" : "other");
  if (version != 12 || fioclex != 0 || !cloexec || closed != 0 || reclosed != -1 ||
      reclose_errno != EBADF)
    failures++;
  return failures ? 1 : 0;
}

int main(int argc, char** argv) {
  expect_soft = argc > 1 && strcmp(argv[1], "--expect-soft") == 0;
  int dir = open("/tmp", O_RDONLY | O_DIRECTORY);
  int rc = 0, r;
#define CHECK(variant, call)          \
  r = check_fd(variant, call);        \
  if (r == 77) return 77;             \
  rc |= r;
  CHECK("open", open("/dev/kvm", O_RDWR));
  CHECK("open64", open64("/dev/kvm", O_RDWR));
  CHECK("openat(AT_FDCWD)", openat(AT_FDCWD, "/dev/kvm", O_RDWR));
  CHECK("openat(dirfd)", openat(dir, "/dev/kvm", O_RDWR));
  CHECK("openat64", openat64(AT_FDCWD, "/dev/kvm", O_RDWR));
  CHECK("__open_2", __open_2("/dev/kvm", O_RDWR));
  CHECK("__open64_2", __open64_2("/dev/kvm", O_RDWR));
  CHECK("__openat_2", __openat_2(AT_FDCWD, "/dev/kvm", O_RDWR));
  CHECK("__openat64_2", __openat64_2(dir, "/dev/kvm", O_RDWR));
  close(dir);
  /* A path that is not exactly /dev/kvm is not routed: it fails as usual. */
  int other = open("/dev/kvm-does-not-exist", O_RDWR);
  printf("open(/dev/kvm-does-not-exist): %d (%s)\n", other, other < 0 && errno == ENOENT ? "ENOENT" : "other");
  if (other >= 0 || errno != ENOENT) rc = 1;
  printf("%s\n", rc ? "FAILED" : "all open variants work");
  return rc;
}
