// Runs every nasm guest on each backend against its header's expectations
// (Guests/<family>_<name>_soft, _host) and compares the two final states
// register by register and byte by byte (_diff; STYLE.md rule 4).
#include <gtest/gtest.h>

#include "guest_runner.h"
#include "verdict.h"

namespace skvm::test {
namespace {

const std::vector<GuestSpec>& guests() {
  static const std::vector<GuestSpec> all = discover_guests(SKVM_GUEST_SRC_DIR, SKVM_GUEST_BIN_DIR);
  return all;
}

const std::set<std::string>& known_failures() {
  static const std::set<std::string> known = load_known_failures(SKVM_GUEST_KNOWN_FAILURES);
  return known;
}

void check_list(Verdict& v, const char* what, const std::vector<std::string>& got,
                const std::vector<std::string>& want) {
  for (size_t i = 0; i < std::max(got.size(), want.size()); ++i) {
    std::string g = i < got.size() ? got[i] : "(none)";
    std::string w = i < want.size() ? normalize(want[i]) : "(none)";
    if (g != w) {
      v.fail(std::string(what) + " exit #" + std::to_string(i) + ": got `" + g + "`, expected `" +
             w + "`");
      return;
    }
  }
}

void check_expectations(const GuestSpec& spec, const GuestRun& run, Verdict& v) {
  v.expect_eq(run.exit, spec.exit, "final exit");
  for (const auto& [name, want] : spec.regs) {
    uint64_t got;
    if (!read_register(run, name, &got)) v.fail("unknown register `" + name + "` in the header");
    else v.expect_eq(got, want, name);
  }
  for (const MemExpectation& m : spec.mem) {
    for (size_t i = 0; i < m.bytes.size(); ++i) {
      uint64_t gpa = m.gpa + i;
      const uint8_t* p = gpa < kLowRamSize ? &run.low[gpa]
                         : gpa >= kHighRamGpa && gpa < kHighRamGpa + kHighRamSize
                             ? &run.high[gpa - kHighRamGpa]
                             : nullptr;
      if (p == nullptr) v.fail("expect-mem " + hex(gpa) + " is not RAM");
      else if (!v.expect_eq(int{*p}, int{m.bytes[i]}, "memory at " + hex(gpa))) break;
    }
  }
  check_list(v, "io", run.io, spec.io);
  check_list(v, "mmio", run.mmio, spec.mmio);
}

#define SEG_FIELDS(X) X(base) X(limit) X(selector) X(type) X(present) X(dpl) X(db) X(s) X(l) X(g) X(avl) X(unusable)

void compare_segment(Verdict& v, const char* name, const kvm_segment& s, const kvm_segment& h) {
#define CMP(f) v.expect_eq(uint64_t{s.f}, uint64_t{h.f}, std::string(name) + "." #f " (soft vs host)");
  SEG_FIELDS(CMP)
#undef CMP
}

void compare_runs(const GuestRun& soft, const GuestRun& host, Verdict& v) {
  v.expect_eq(soft.exit, host.exit, "final exit (soft vs host)");
  check_list(v, "io (soft vs host)", soft.io, host.io);
  check_list(v, "mmio (soft vs host)", soft.mmio, host.mmio);
  const kvm_regs& a = soft.regs;
  const kvm_regs& b = host.regs;
#define CMPR(f) v.expect_eq(a.f, b.f, #f " (soft vs host)");
  CMPR(rax) CMPR(rbx) CMPR(rcx) CMPR(rdx) CMPR(rsi) CMPR(rdi) CMPR(rsp) CMPR(rbp)
  CMPR(r8) CMPR(r9) CMPR(r10) CMPR(r11) CMPR(r12) CMPR(r13) CMPR(r14) CMPR(r15)
  CMPR(rip) CMPR(rflags)
#undef CMPR
  const kvm_sregs& s = soft.sregs;
  const kvm_sregs& h = host.sregs;
#define CMPS(f) v.expect_eq(s.f, h.f, #f " (soft vs host)");
  CMPS(cr0) CMPS(cr2) CMPS(cr3) CMPS(cr4) CMPS(cr8) CMPS(efer)
  CMPS(gdt.base) CMPS(gdt.limit) CMPS(idt.base) CMPS(idt.limit)
#undef CMPS
  compare_segment(v, "cs", s.cs, h.cs);
  compare_segment(v, "ds", s.ds, h.ds);
  compare_segment(v, "es", s.es, h.es);
  compare_segment(v, "ss", s.ss, h.ss);
  compare_segment(v, "fs", s.fs, h.fs);
  compare_segment(v, "gs", s.gs, h.gs);
  for (int slot = 0; slot < 2; ++slot) {
    const auto& x = slot == 0 ? soft.low : soft.high;
    const auto& y = slot == 0 ? host.low : host.high;
    uint64_t base = slot == 0 ? 0 : kHighRamGpa;
    size_t diffs = 0, first = 0;
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (x[i] != y[i] && diffs++ == 0) first = i;
    }
    if (diffs) {
      v.fail("RAM differs in " + std::to_string(diffs) + " bytes, first at gpa " +
             hex(base + first) + ": soft " + hex(x[first]) + ", host " + hex(y[first]));
    }
  }
}

using Param = std::tuple<size_t, std::string>;
class Guests : public testing::TestWithParam<Param> {};

TEST_P(Guests, ReachesExpectedState) {
  const GuestSpec& spec = guests()[std::get<0>(GetParam())];
  const std::string& what = std::get<1>(GetParam());
  ASSERT_EQ(spec.error, "") << spec.source;
  if ((what != "soft" && !spec.on_host) || (what == "soft" && !spec.on_soft)) {
    GTEST_SKIP() << spec.source << " declares `backends:` without " << (spec.on_host ? "soft" : "host")
                 << " (see the header for why)";
  }
  Verdict v("guest/" + spec.family + "/" + spec.name + "/" + what, known_failures());
  if (what == "diff") {
    SKVM_SKIP_IF_UNUSABLE(kHost);
    SKVM_SKIP_IF_UNUSABLE(kSoft);
    GuestRun host = run_guest(spec, kHost);
    GuestRun soft = run_guest(spec, kSoft);
    if (!host.error.empty()) v.fail("host: " + host.error);
    if (!soft.error.empty()) v.fail("soft: " + soft.error);
    if (v.ok()) compare_runs(soft, host, v);
    return;
  }
  const Backend& backend = what == "soft" ? kSoft : kHost;
  SKVM_SKIP_IF_UNUSABLE(backend);
  GuestRun run = run_guest(spec, backend);
  if (!run.error.empty()) v.fail(run.error);
  else check_expectations(spec, run, v);
}

std::vector<size_t> indices() {
  std::vector<size_t> v(guests().size());
  for (size_t i = 0; i < v.size(); ++i) v[i] = i;
  return v;
}

INSTANTIATE_TEST_SUITE_P(Nasm, Guests,
                         testing::Combine(testing::ValuesIn(indices()),
                                          testing::Values("soft", "host", "diff")),
                         [](const testing::TestParamInfo<Param>& info) {
                           const GuestSpec& g = guests()[std::get<0>(info.param)];
                           return g.family + "_" + g.name + "_" + std::get<1>(info.param);
                         });

}  // namespace
}  // namespace skvm::test
