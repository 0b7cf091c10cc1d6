// virt/kvm/eventfd.c: kvm_irqfd, kvm_ioeventfd.
#include "kvm/eventfd.h"

#include <fcntl.h>
#include <linux/kcmp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "kvm/irqchip/irqchip.h"

namespace skvm::kvm {

int dup_eventfd(int fd) {
  if (fd < 0 || fcntl(fd, F_GETFD) < 0) return -EBADF;
  char path[64], target[64];
  std::snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
  ssize_t n = readlink(path, target, sizeof(target) - 1);
  if (n < 0) return -EBADF;
  target[n] = 0;
  if (std::strcmp(target, "anon_inode:[eventfd]") != 0) return -EINVAL;
  int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  return d < 0 ? -errno : d;
}

bool same_file(int a, int b) {
  if (a == b) return true;
  pid_t pid = getpid();
  long r = syscall(SYS_kcmp, pid, pid, KCMP_FILE, static_cast<unsigned long>(a),
                   static_cast<unsigned long>(b));
  return r == 0;
}

namespace {

void signal_eventfd(int fd) {
  uint64_t one = 1;
  // eventfd_signal: add 1 to the counter (a full counter drops the signal).
  ssize_t r = ::write(fd, &one, sizeof(one));
  (void)r;
}

// eventfd_ctx_do_read: reset the counter without ever blocking (the file
// may be in blocking mode and a client thread may have read it first).
void consume(int fd) {
  uint64_t count;
  iovec iov{&count, sizeof(count)};
  if (preadv2(fd, &iov, 1, -1, RWF_NOWAIT) >= 0 || errno != EOPNOTSUPP) return;
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, 0) == 1 && (p.revents & POLLIN)) {
    ssize_t r = ::read(fd, &count, sizeof(count));
    (void)r;
  }
}

unsigned bus_of(uint32_t flags) {
  if (flags & KVM_IOEVENTFD_FLAG_PIO) return 1;
  if (flags & KVM_IOEVENTFD_FLAG_VIRTIO_CCW_NOTIFY) return 2;
  return 0;
}

constexpr uint32_t kIoeventfdValidFlags = KVM_IOEVENTFD_FLAG_DATAMATCH | KVM_IOEVENTFD_FLAG_PIO |
                                          KVM_IOEVENTFD_FLAG_DEASSIGN |
                                          KVM_IOEVENTFD_FLAG_VIRTIO_CCW_NOTIFY;

}  // namespace

int Ioeventfds::ioctl(const kvm_ioeventfd& args) {
  if (args.flags & KVM_IOEVENTFD_FLAG_DEASSIGN) return deassign(args);
  return assign(args);
}

// eventfd.c: kvm_assign_ioeventfd + kvm_assign_ioeventfd_idx +
// ioeventfd_check_collision.
int Ioeventfds::assign(const kvm_ioeventfd& args) {
  switch (args.len) {
    case 0:
    case 1:
    case 2:
    case 4:
    case 8:
      break;
    default:
      return -EINVAL;
  }
  if (args.addr + args.len < args.addr) return -EINVAL;
  if (args.flags & ~kIoeventfdValidFlags) return -EINVAL;
  if (!args.len && (args.flags & KVM_IOEVENTFD_FLAG_DATAMATCH)) return -EINVAL;
  int fd = dup_eventfd(args.fd);
  if (fd < 0) return fd;
  Entry e{bus_of(args.flags), args.addr, args.len, !(args.flags & KVM_IOEVENTFD_FLAG_DATAMATCH),
          args.datamatch, base::UniqueFd(fd)};
  if (e.wildcard) e.datamatch = 0;
  base::MutexLock lock(mu_);
  for (const Entry& p : entries_)
    if (p.bus == e.bus && p.addr == e.addr &&
        (!p.len || !e.len ||
         (p.len == e.len && (p.wildcard || e.wildcard || p.datamatch == e.datamatch))))
      return -EEXIST;
  entries_.push_back(std::move(e));
  count_.store(entries_.size(), std::memory_order_release);
  return 0;
}

// eventfd.c: kvm_deassign_ioeventfd_idx — the exact same registration.
int Ioeventfds::deassign(const kvm_ioeventfd& args) {
  int fd = dup_eventfd(args.fd);
  if (fd < 0) return fd;
  base::UniqueFd probe(fd);
  unsigned bus = bus_of(args.flags);
  bool wildcard = !(args.flags & KVM_IOEVENTFD_FLAG_DATAMATCH);
  base::MutexLock lock(mu_);
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->bus != bus || it->addr != args.addr || it->len != args.len ||
        it->wildcard != wildcard || !same_file(it->fd.get(), probe.get()))
      continue;
    if (!wildcard && it->datamatch != args.datamatch) continue;
    entries_.erase(it);
    count_.store(entries_.size(), std::memory_order_release);
    return 0;
  }
  return -ENOENT;
}

// eventfd.c: ioeventfd_in_range + ioeventfd_write.
bool Ioeventfds::write(bool pio, uint64_t addr, unsigned len, const void* data) {
  if (count_.load(std::memory_order_acquire) == 0) return false;
  unsigned bus = pio ? 1 : 0;
  base::MutexLock lock(mu_);
  for (const Entry& p : entries_) {
    if (p.bus != bus || p.addr != addr) continue;
    if (p.len) {
      if (len != p.len) continue;
      if (!p.wildcard) {
        uint64_t v = 0;
        // SAFETY: `data` holds `len` (1, 2, 4 or 8) bytes, little-endian.
        std::memcpy(&v, data, len);
        if (v != p.datamatch) continue;
      }
    }
    signal_eventfd(p.fd.get());
    return true;
  }
  return false;
}

Irqfds::Irqfds(irq::Irqchip& chip) : chip_(chip) {
  epoll_ = base::UniqueFd(epoll_create1(EPOLL_CLOEXEC));
  stop_ = base::UniqueFd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = 0;  // id 0: stop
  epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, stop_.get(), &ev);
  thread_ = std::thread([this] { run(); });
}

Irqfds::~Irqfds() {
  signal_eventfd(stop_.get());
  thread_.join();
  base::MutexLock lock(mu_);
  for (const Entry& e : entries_)
    if (e.ack_id) chip_.remove_ack_notifier(e.ack_id);
}

int Irqfds::ioctl(const kvm_irqfd& args) {
  if (args.flags & ~(KVM_IRQFD_FLAG_DEASSIGN | KVM_IRQFD_FLAG_RESAMPLE)) return -EINVAL;
  if (args.flags & KVM_IRQFD_FLAG_DEASSIGN) return deassign(args);
  return assign(args);
}

// eventfd.c: kvm_irqfd_assign.
int Irqfds::assign(const kvm_irqfd& args) {
  int fd = dup_eventfd(static_cast<int>(args.fd));
  if (fd < 0) return fd;
  Entry e{0, args.gsi, base::UniqueFd(fd), nullptr, 0};
  if (args.flags & KVM_IRQFD_FLAG_RESAMPLE) {
    int rfd = dup_eventfd(static_cast<int>(args.resamplefd));
    if (rfd < 0) return rfd;
    e.resample_fd = std::make_shared<base::UniqueFd>(rfd);
  }
  base::MutexLock lock(mu_);
  for (const Entry& p : entries_)
    if (same_file(p.fd.get(), e.fd.get())) return -EBUSY;
  e.id = next_id_++;
  if (e.resample_fd) {
    // eventfd.c: irqfd_resampler_ack — de-assert, then tell user space.
    uint32_t gsi = e.gsi;
    std::shared_ptr<base::UniqueFd> rfd = e.resample_fd;
    irq::Irqchip* chip = &chip_;
    e.ack_id = chip_.add_ack_notifier(gsi, [chip, gsi, rfd] {
      chip->set_irq(irq::kResampleSourceId, gsi, 0, false);
      signal_eventfd(rfd->get());
    });
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = e.id;
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, e.fd.get(), &ev) < 0) {
    int err = -errno;
    if (e.ack_id) chip_.remove_ack_notifier(e.ack_id);
    return err;
  }
  entries_.push_back(std::move(e));
  return 0;
}

// eventfd.c: kvm_irqfd_deassign — 0 even when nothing matched.
int Irqfds::deassign(const kvm_irqfd& args) {
  int fd = dup_eventfd(static_cast<int>(args.fd));
  if (fd < 0) return fd;
  base::UniqueFd probe(fd);
  base::MutexLock lock(mu_);
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->gsi != args.gsi || !same_file(it->fd.get(), probe.get())) continue;
    epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, it->fd.get(), nullptr);
    if (it->ack_id) {
      chip_.remove_ack_notifier(it->ack_id);
      // irqfd_resampler_shutdown: the level is dropped with the resampler.
      chip_.set_irq(irq::kResampleSourceId, it->gsi, 0, false);
    }
    entries_.erase(it);
    break;
  }
  return 0;
}

// eventfd.c: irqfd_wakeup + irqfd_inject — consume the counter, then an
// edge (assert + de-assert) or, for resample irqfds, a held level.
void Irqfds::fire(uint64_t id) {
  uint32_t gsi = 0;
  bool resample = false;
  {
    base::MutexLock lock(mu_);
    const Entry* e = nullptr;
    for (const Entry& p : entries_)
      if (p.id == id) e = &p;
    if (!e) return;
    consume(e->fd.get());
    gsi = e->gsi;
    resample = e->resample_fd != nullptr;
  }
  if (resample) {
    chip_.set_irq(irq::kResampleSourceId, gsi, 1, false);
  } else {
    chip_.set_irq(irq::kUserspaceSourceId, gsi, 1, false);
    chip_.set_irq(irq::kUserspaceSourceId, gsi, 0, false);
  }
}

void Irqfds::run() {
  epoll_event events[16];
  for (;;) {
    int n = epoll_wait(epoll_.get(), events, 16, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    for (int i = 0; i < n; i++) {
      if (events[i].data.u64 == 0) return;  // stop
      fire(events[i].data.u64);
    }
  }
}

}  // namespace skvm::kvm
