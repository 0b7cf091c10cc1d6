// Runs every ABI row on both backends: AbiRows/<Row>/<soft|host>.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>

#include "abi_row.h"

namespace skvm::test {
namespace {

const std::vector<AbiRow>& all_rows() {
  static const std::vector<AbiRow> rows = [] {
    std::vector<AbiRow> all;
    for (auto part : {system_rows, vm_rows, memslot_rows, vcpu_rows, device_rows}) {
      for (AbiRow& r : part()) all.push_back(std::move(r));
    }
    return all;
  }();
  return rows;
}

const std::set<std::string>& known_failures() {
  static const std::set<std::string> known = load_known_failures(SKVM_ABI_KNOWN_FAILURES);
  return known;
}

using Param = std::tuple<size_t, const Backend*>;

class AbiRows : public testing::TestWithParam<Param> {};

// The fd a row's request goes to; -1 (reason recorded) when setup failed.
int fd_for(FdKind kind, AbiContext& c, int pipe_fds[2]) {
  switch (kind) {
    case FdKind::kSystem:
      return c.vm().sys_fd();
    case FdKind::kVm:
      return c.vm().vm_fd();
    case FdKind::kVcpu:
      return c.vcpu() ? c.vcpu()->fd() : -1;
    case FdKind::kClosed: {
      int fd = c.backend().open(O_RDWR | O_CLOEXEC);
      if (fd < 0 || c.backend().close(fd) != 0) c.verdict().fail("setup: open/close");
      return fd;
    }
    case FdKind::kPipe:
      if (pipe(pipe_fds) != 0) c.verdict().fail("setup: pipe");
      return pipe_fds[0];
  }
  return -1;
}

std::string expected_text(const AbiRow& row) {
  if (row.ret == -1) return "-1/" + errno_string(row.err);
  if (row.ret == kAnyFd) return "a fd";
  if (row.ret == kNonNegative) return ">= 0";
  return std::to_string(row.ret);
}

TEST_P(AbiRows, MatchesKvm) {
  const AbiRow& row = all_rows()[std::get<0>(GetParam())];
  const Backend& backend = *std::get<1>(GetParam());
  SKVM_SKIP_IF_UNUSABLE(backend);
  if (row.cap >= 0) {
    Vm probe(backend);
    if (probe.sys_ioctl(KVM_CHECK_EXTENSION, static_cast<unsigned long>(row.cap)).ret <= 0) {
      GTEST_SKIP() << backend.name << " does not advertise capability " << row.cap
                   << " (KVM_CHECK_EXTENSION answers 0), which " << row.name << " needs";
    }
  }
  Verdict verdict(std::string("abi/") + row.name + "/" + backend.name, known_failures());
  AbiContext c(backend, verdict);
  int pipe_fds[2] = {-1, -1};
  if (verdict.ok() && row.setup) row.setup(c);
  int fd = verdict.ok() ? fd_for(row.fd, c, pipe_fds) : -1;
  if (verdict.ok()) c.arg = row.arg ? row.arg(c) : 0;
  if (verdict.ok()) {
    errno = 0;
    int ret = backend.ioctl(fd, row.request, c.arg);
    int err = ret < 0 ? errno : 0;
    bool ok;
    if (row.ret == kAnyFd || row.ret == kNonNegative) ok = ret >= 0;
    else ok = ret == row.ret && (row.ret != -1 || err == row.err);
    if (!ok) {
      std::string what = "returned " + std::to_string(ret);
      if (ret < 0) {
        what += "/";
        what += errno_string(err);
      }
      what += ", expected ";
      what += expected_text(row);
      verdict.fail(what);
    } else if (row.check) {
      row.check(c, verdict, ret);
    }
  }
  for (int p : pipe_fds) {
    if (p >= 0) close(p);
  }
}

std::vector<size_t> row_indices() {
  std::vector<size_t> v(all_rows().size());
  for (size_t i = 0; i < v.size(); ++i) v[i] = i;
  return v;
}

INSTANTIATE_TEST_SUITE_P(Kvm, AbiRows,
                         testing::Combine(testing::ValuesIn(row_indices()),
                                          testing::Values(&kSoft, &kHost)),
                         [](const testing::TestParamInfo<Param>& info) {
                           return std::string(all_rows()[std::get<0>(info.param)].name) + "_" +
                                  std::get<1>(info.param)->name;
                         });

}  // namespace
}  // namespace skvm::test
