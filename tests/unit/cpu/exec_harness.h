// A guest machine for the exec/ unit tests: Cpu over FakeBus, helpers to
// enter real mode, flat 32-bit protected mode or 64-bit long mode (identity
// paging of the first 4 MiB with 2 MiB pages), load code and run it.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "cpu/core.h"
#include "cpu/cpu.h"
#include "fake_bus.h"

namespace skvm::cpu::testing {

enum class GuestMode { kReal, kProt32, kLong64 };

inline const char* mode_name(GuestMode m) {
  return m == GuestMode::kReal ? "real" : m == GuestMode::kProt32 ? "prot32" : "long64";
}

class Guest {
 public:
  static constexpr uint64_t kCode = 0x1000;
  static constexpr uint64_t kPml4 = 0x100000;

  explicit Guest(GuestMode mode = GuestMode::kLong64) : bus_(4 << 20), cpu_(bus_) {
    bus_.set_cpuid(0, 0, 0xd, 0x756e6547, 0x6c65746e, 0x49656e69);
    bus_.set_cpuid(0x80000000u, 0, 0x80000008u, 0, 0, 0);
    bus_.set_cpuid(0x80000001u, 0, 0, 0, 0, (1u << 29) | (1u << 20));
    bus_.set_cpuid(0x80000008u, 0, 36, 0, 0, 0);
    enter(mode);
  }

  void enter(GuestMode mode) {
    mode_ = mode;
    CpuState& st = cpu_.state();
    st = CpuState{};
    st.rflags = kFlagFixed1;
    st.rip = kCode;
    st.gpr[kRsp] = 0x8000;
    if (mode == GuestMode::kReal) {
      st.cr0 = kCr0ET;
      for (auto& seg : st.seg) seg = Segment{};
      for (auto& seg : st.seg) seg.type = 3;
      st.seg[kCs].type = 0xb;
      st.idt.base = 0;
      st.idt.limit = 0x3ff;
    } else {
      st.cr0 = kCr0PE | kCr0ET;
      for (auto& seg : st.seg) {
        seg = Segment{};
        seg.limit = 0xffffffff;
        seg.g = 1;
        seg.db = 1;
        seg.type = 3;
        seg.selector = 0x10;
      }
      st.seg[kCs].type = 0xb;
      st.seg[kCs].selector = 0x8;
      st.idt.limit = 0;  // no IDT: any exception escalates to a triple fault
      if (mode == GuestMode::kLong64) {
        // PML4 -> PDPT -> PD with two 2 MiB identity pages.
        bus_.poke<uint64_t>(kPml4, (kPml4 + 0x1000) | 3);
        bus_.poke<uint64_t>(kPml4 + 0x1000, (kPml4 + 0x2000) | 3);
        bus_.poke<uint64_t>(kPml4 + 0x2000, 0x000000 | 0x83);
        bus_.poke<uint64_t>(kPml4 + 0x2008, 0x200000 | 0x83);
        st.cr3 = kPml4;
        st.cr4 = kCr4PAE;
        st.efer = kEferLME | kEferLMA;
        st.cr0 = kCr0PE | kCr0ET | kCr0PG;
        st.seg[kCs].l = 1;
        st.seg[kCs].db = 0;
      }
    }
    cpu_.state_changed();
  }

  void load(const std::vector<uint8_t>& code, uint64_t at = kCode) {
    bus_.load(at, code);
    cpu_.host_may_have_written_memory();
  }
  Stop run() { return cpu_.run(nullptr); }
  // Runs to HLT one instruction at a time (at most `limit` steps).
  Stop run_stepping(unsigned limit = 100000) {
    for (unsigned n = 0; n < limit; ++n) {
      Stop s = cpu_.step();
      if (s != Stop::kKick) return s;
    }
    return Stop::kKick;
  }

  CpuState& s() { return cpu_.state(); }
  uint64_t& r(Gpr g) { return cpu_.state().gpr[g]; }
  Cpu& cpu() { return cpu_; }
  FakeBus& bus() { return bus_; }
  GuestMode mode() const { return mode_; }

 private:
  FakeBus bus_;
  Cpu cpu_;
  GuestMode mode_ = GuestMode::kLong64;
};

}  // namespace skvm::cpu::testing
