// A hermetic machine for CPU engine unit tests: flat guest RAM starting at
// gpa 0, no devices, CPUID from a small map, TSC from a counter. Port I/O and
// unbacked memory become exits, exactly as with no in-kernel devices.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <map>
#include <utility>
#include <vector>

#include "cpu/bus.h"

namespace skvm::cpu::testing {

class FakeBus : public Bus {
 public:
  explicit FakeBus(size_t ram_bytes = 4 << 20) : ram_(ram_bytes, 0), pio_(4096, 0) {}

  PhysPage lookup(uint64_t gpa) override {
    if (gpa + kPageSize > ram_.size()) return {};
    bool ro = gpa >= readonly_begin_ && gpa < readonly_end_;
    return {ram_.data() + gpa, !ro, dirty_log_};
  }
  void mark_dirty(uint64_t gpa) override { dirty_.push_back(gpa); }
  const std::atomic<uint64_t>& generation() const override { return generation_; }
  uint8_t* pio_page() override { return pio_.data(); }
  void cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4]) override {
    auto it = cpuid_.find({leaf, subleaf});
    if (it == cpuid_.end()) it = cpuid_.find({leaf, 0});
    for (int i = 0; i < 4; ++i) out[i] = it == cpuid_.end() ? 0 : it->second[i];
  }
  uint64_t tsc() override { return tsc_ += 1000; }

  // Test helpers.
  uint8_t* ram() { return ram_.data(); }
  void load(uint64_t gpa, const std::vector<uint8_t>& bytes) {
    std::memcpy(ram_.data() + gpa, bytes.data(), bytes.size());
  }
  template <typename T>
  T peek(uint64_t gpa) const {
    T v;
    std::memcpy(&v, ram_.data() + gpa, sizeof v);
    return v;
  }
  template <typename T>
  void poke(uint64_t gpa, T v) {
    std::memcpy(ram_.data() + gpa, &v, sizeof v);
  }
  void set_readonly(uint64_t begin, uint64_t end) { readonly_begin_ = begin; readonly_end_ = end; }
  void set_dirty_log(bool on) { dirty_log_ = on; }
  void bump_generation() { generation_.fetch_add(1); }
  void set_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
    cpuid_[{leaf, subleaf}] = {a, b, c, d};
  }
  const std::vector<uint64_t>& dirty_pages() const { return dirty_; }

 private:
  std::vector<uint8_t> ram_;
  std::vector<uint8_t> pio_;
  std::vector<uint64_t> dirty_;
  std::map<std::pair<uint32_t, uint32_t>, std::array<uint32_t, 4>> cpuid_;
  std::atomic<uint64_t> generation_{0};
  uint64_t readonly_begin_ = 0, readonly_end_ = 0;
  bool dirty_log_ = false;
  uint64_t tsc_ = 0;
};

}  // namespace skvm::cpu::testing
