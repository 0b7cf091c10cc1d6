// KVM_IRQFD and KVM_IOEVENTFD (virt/kvm/eventfd.c) over the client's real
// kernel eventfds.
//   - Ioeventfds: guest writes to a PIO port / MMIO address (optionally
//     with a datamatch) signal an eventfd instead of exiting; consulted by
//     Vm::pio / Vm::mmio.
//   - Irqfds: one thread per VM waits (epoll) on the assigned eventfds and
//     raises the GSI when one fires, without any KVM_RUN exit; resample
//     irqfds assert a level and de-assert it, signalling the resamplefd,
//     when the guest EOIs the interrupt.
// Both keep a dup of every eventfd, as KVM holds a reference to its file.
#pragma once

#include <linux/kvm.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "base/fd.h"
#include "base/mutex.h"

namespace skvm::kvm {

namespace irq {
class Irqchip;
}

// eventfd.c: eventfd_ctx_fdget — a dup of `fd` when it is an eventfd;
// -EBADF (not open) or -EINVAL (not an eventfd).
int dup_eventfd(int fd);
// Whether two fds are the same open eventfd (kcmp KCMP_FILE).
bool same_file(int a, int b);

class Ioeventfds {
 public:
  // api.rst: KVM_IOEVENTFD (assign and deassign). 0 or -errno.
  int ioctl(const kvm_ioeventfd& args);
  // A guest write: signals the matching eventfd, true when one matched.
  bool write(bool pio, uint64_t addr, unsigned len, const void* data);

 private:
  struct Entry {
    unsigned bus;  // 0 MMIO, 1 PIO, 2 virtio-ccw (never hit on x86)
    uint64_t addr;
    uint32_t len;
    bool wildcard;
    uint64_t datamatch;
    base::UniqueFd fd;
  };
  int assign(const kvm_ioeventfd& args);
  int deassign(const kvm_ioeventfd& args);

  std::atomic<size_t> count_{0};  // lock-free "none" check on the hot path
  base::Mutex mu_;
  std::vector<Entry> entries_ SKVM_GUARDED_BY(mu_);
};

class Irqfds {
 public:
  explicit Irqfds(irq::Irqchip& chip);
  ~Irqfds();
  Irqfds(const Irqfds&) = delete;
  Irqfds& operator=(const Irqfds&) = delete;

  // api.rst: KVM_IRQFD (assign / deassign; the irqchip exists). 0 or -errno.
  int ioctl(const kvm_irqfd& args);

 private:
  struct Entry {
    uint64_t id;
    uint32_t gsi;
    base::UniqueFd fd;
    // null unless KVM_IRQFD_FLAG_RESAMPLE; shared with the ack notifier,
    // which may run just after a deassign.
    std::shared_ptr<base::UniqueFd> resample_fd;
    int ack_id = 0;
  };
  int assign(const kvm_irqfd& args);
  int deassign(const kvm_irqfd& args);
  void run();
  void fire(uint64_t id);

  irq::Irqchip& chip_;
  base::UniqueFd epoll_;
  base::UniqueFd stop_;  // an eventfd that ends the thread
  base::Mutex mu_;
  std::vector<Entry> entries_ SKVM_GUARDED_BY(mu_);
  uint64_t next_id_ SKVM_GUARDED_BY(mu_) = 1;
  std::thread thread_;
};

}  // namespace skvm::kvm
