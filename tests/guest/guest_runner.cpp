#include "guest_runner.h"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <iterator>

namespace skvm::test {
namespace {

constexpr int kMaxExits = 256;     // IO/MMIO exits before giving up
constexpr unsigned kTimeoutSec = 10;  // a guest that never stops

std::string hex_bytes(const uint8_t* p, size_t n) {
  std::string out;
  char b[4];
  for (size_t i = 0; i < n; ++i) {
    std::snprintf(b, sizeof b, "%02x", p[i]);
    if (i) out += ' ';
    out += b;
  }
  return out;
}

std::string exit_name(uint32_t reason) {
  switch (reason) {
    case KVM_EXIT_HLT: return "hlt";
    case KVM_EXIT_SHUTDOWN: return "shutdown";
    case KVM_EXIT_INTERNAL_ERROR: return "internal-error";
    case KVM_EXIT_FAIL_ENTRY: return "fail-entry";
    case KVM_EXIT_UNKNOWN: return "unknown";
    default: return "other(" + std::to_string(reason) + ")";
  }
}

// The watchdog: the first SIGALRM interrupts KVM_RUN (-1/EINTR: the host
// returns at once) and raises immediate_exit for a backend that only polls
// it; if KVM_RUN is still running kGraceSec later, the process ends with a
// message rather than hang the suite.
std::atomic<kvm_run*> g_watched_run{nullptr};
std::atomic<void (*)()> g_signal_notify{nullptr};
std::atomic<int> g_alarms{0};  // lock-free: safe in a signal handler
constexpr unsigned kGraceSec = 5;

void on_alarm(int) {
  if (g_alarms.fetch_add(1) == 0) {
    if (kvm_run* run = g_watched_run.load()) run->immediate_exit = 1;
    if (auto notify = g_signal_notify.load()) notify();
    alarm(kGraceSec);
    return;
  }
  static const char kMsg[] = "guest_tests: watchdog: KVM_RUN ignored SIGALRM and immediate_exit; aborting\n";
  ssize_t ignored = write(2, kMsg, sizeof kMsg - 1);
  (void)ignored;
  _exit(3);
}

// Turns the KVM_RUN of a guest that never stops into -1/EINTR.
class Watchdog {
 public:
  Watchdog(kvm_run* run, const Backend& backend) {
    g_alarms.store(0);
    g_watched_run.store(run);
    g_signal_notify.store(backend.signal_notify);
    struct sigaction sa {};
    sa.sa_handler = on_alarm;  // no SA_RESTART: KVM_RUN returns EINTR
    sigaction(SIGALRM, &sa, &old_);
    alarm(kTimeoutSec);
  }
  ~Watchdog() {
    alarm(0);
    sigaction(SIGALRM, &old_, nullptr);
    g_watched_run.store(nullptr);
    g_signal_notify.store(nullptr);
  }

 private:
  struct sigaction old_ {};
};

// Completes one IO exit: records it, feeds IN data. Non-empty on a bad exit.
std::string handle_io(kvm_run* run, std::map<uint16_t, std::deque<uint8_t>>& feed, GuestRun& out,
                      size_t run_size) {
  const auto& io = run->io;
  size_t bytes = size_t{io.size} * io.count;
  if (io.data_offset + bytes > run_size || io.data_offset < sizeof(kvm_run)) {
    return "io exit with data_offset " + std::to_string(io.data_offset) + " outside the run area";
  }
  // SAFETY: data_offset + size*count was checked to lie inside the mapping.
  uint8_t* data = reinterpret_cast<uint8_t*>(run) + io.data_offset;
  char head[64];
  std::snprintf(head, sizeof head, "%s port=0x%x size=%u count=%u",
                io.direction == KVM_EXIT_IO_OUT ? "out" : "in", io.port, io.size, io.count);
  if (io.direction == KVM_EXIT_IO_OUT) {
    out.io.push_back(std::string(head) + " data=" + hex_bytes(data, bytes));
  } else {
    out.io.push_back(head);
    auto& q = feed[io.port];
    for (size_t i = 0; i < bytes; ++i) {
      if (q.empty()) return "guest read more IN data from port " + std::to_string(io.port) +
                            " than the header feeds";
      data[i] = q.front();
      q.pop_front();
    }
  }
  return {};
}

std::string handle_mmio(kvm_run* run, std::deque<uint8_t>& feed, GuestRun& out) {
  auto& m = run->mmio;
  if (m.len == 0 || m.len > 8) return "mmio exit with len " + std::to_string(m.len);
  char head[64];
  std::snprintf(head, sizeof head, "%s gpa=0x%llx len=%u", m.is_write ? "write" : "read",
                static_cast<unsigned long long>(m.phys_addr), m.len);
  if (m.is_write) {
    out.mmio.push_back(std::string(head) + " data=" + hex_bytes(m.data, m.len));
  } else {
    out.mmio.push_back(head);
    for (uint32_t i = 0; i < m.len; ++i) {
      if (feed.empty()) return "guest read more MMIO data than the header feeds";
      m.data[i] = feed.front();
      feed.pop_front();
    }
  }
  return {};
}

}  // namespace

GuestRun run_guest(const GuestSpec& spec, const Backend& backend) {
  GuestRun out;
  std::ifstream bin(spec.binary, std::ios::binary);
  std::vector<uint8_t> code((std::istreambuf_iterator<char>(bin)), {});
  if (code.empty()) {
    out.error = "cannot read the assembled guest " + spec.binary;
    return out;
  }
  Vm vm(backend);
  if (!vm.error().empty()) {
    out.error = vm.error();
    return out;
  }
  std::string why;
  uint8_t* low = vm.add_ram(0, 0, kLowRamSize, 0, &why);
  uint8_t* high = low ? vm.add_ram(1, kHighRamGpa, kHighRamSize, 0, &why) : nullptr;
  if (high && spec.readonly_slot) {
    // Fill the host memory first, through the pointer add_ram returns.
    uint8_t* ro = vm.add_ram(2, kReadonlyGpa, kReadonlySize, KVM_MEM_READONLY, &why);
    if (ro) std::memset(ro, 0xa5, kReadonlySize);
    else high = nullptr;
  }
  if (!high) {
    out.error = "setup: " + why;
    return out;
  }
  uint64_t entry = spec.mode == Mode::kReal ? kRealEntry : kFlatEntry;
  if (entry + code.size() > kLowRamSize) {
    out.error = "guest binary too large";
    return out;
  }
  std::memcpy(low + entry, code.data(), code.size());
  auto vcpu = vm.create_vcpu(0, &why);
  if (!vcpu) {
    out.error = "setup: " + why;
    return out;
  }
  why = vcpu->set_supported_cpuid();
  if (why.empty()) why = vcpu->enter_mode(spec.mode, entry);
  if (!why.empty()) {
    out.error = "setup: " + why;
    return out;
  }

  std::map<uint16_t, std::deque<uint8_t>> io_feed;
  for (const auto& [port, bytes] : spec.io_in) io_feed[port].assign(bytes.begin(), bytes.end());
  std::deque<uint8_t> mmio_feed(spec.mmio_in.begin(), spec.mmio_in.end());
  Result size = vm.sys_ioctl(KVM_GET_VCPU_MMAP_SIZE, 0);
  kvm_run* run = vcpu->run();
  {
    Watchdog watchdog(run, backend);
    for (int n = 0;; ++n) {
      if (n == kMaxExits) {
        out.error = "more than " + std::to_string(kMaxExits) + " IO/MMIO exits";
        return out;
      }
      Result r = vcpu->ioctl(KVM_RUN, 0UL);
      if (r.ret != 0) {
        out.error = "KVM_RUN: " + errno_string(r.err) +
                    (r.err == EINTR ? " (watchdog: guest still running after " +
                                          std::to_string(kTimeoutSec) + " s)"
                                    : std::string());
        return out;
      }
      if (run->exit_reason == KVM_EXIT_IO) {
        why = handle_io(run, io_feed, out, static_cast<size_t>(size.ret));
      } else if (run->exit_reason == KVM_EXIT_MMIO) {
        why = handle_mmio(run, mmio_feed, out);
      } else {
        out.exit = exit_name(run->exit_reason);
        if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR &&
            run->internal.suberror != KVM_INTERNAL_ERROR_EMULATION) {
          out.exit += "(suberror " + std::to_string(run->internal.suberror) + ")";
        }
        break;
      }
      if (!why.empty()) {
        out.error = why;
        return out;
      }
    }
  }
  Result r = vcpu->ioctl(KVM_GET_REGS, &out.regs);
  if (r.ret == 0) r = vcpu->ioctl(KVM_GET_SREGS, &out.sregs);
  if (r.ret != 0) {
    out.error = "reading the final state: " + errno_string(r.err);
    return out;
  }
  out.low.assign(low, low + kLowRamSize);
  out.high.assign(high, high + kHighRamSize);
  return out;
}

bool read_register(const GuestRun& run, const std::string& name, uint64_t* value) {
  const kvm_regs& r = run.regs;
  const kvm_sregs& s = run.sregs;
  const std::pair<const char*, uint64_t> table[] = {
      {"rax", r.rax}, {"rbx", r.rbx}, {"rcx", r.rcx}, {"rdx", r.rdx}, {"rsi", r.rsi},
      {"rdi", r.rdi}, {"rsp", r.rsp}, {"rbp", r.rbp}, {"r8", r.r8},   {"r9", r.r9},
      {"r10", r.r10}, {"r11", r.r11}, {"r12", r.r12}, {"r13", r.r13}, {"r14", r.r14},
      {"r15", r.r15}, {"rip", r.rip}, {"rflags", r.rflags},
      {"cr0", s.cr0}, {"cr2", s.cr2}, {"cr3", s.cr3}, {"cr4", s.cr4}, {"efer", s.efer},
      {"cs", s.cs.selector}, {"ds", s.ds.selector}, {"es", s.es.selector},
      {"ss", s.ss.selector}, {"fs", s.fs.selector}, {"gs", s.gs.selector},
  };
  for (const auto& [n, v] : table) {
    if (name == n) {
      *value = v;
      return true;
    }
  }
  return false;
}

}  // namespace skvm::test
