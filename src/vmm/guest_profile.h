// --guest-profile: where the guest spends its time, by guest function. The
// VMM samples vCPU 0's RIP (KVM_GET_REGS after a KVM_RUN interrupted by a
// CPU-time timer signal, so samples follow the vCPU thread's CPU time) and
// names each sample with a System.map ("ADDRESS TYPE NAME" lines, as
// /boot/System.map-* and /proc/kallsyms). Needs the kernel at its link
// address: boot with `nokaslr`.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace skvm::vmm {

class SymbolMap {
 public:
  // Parses System.map text; text symbols (t/T/w/W) only.
  static SymbolMap parse(const std::string& text);
  // The function containing `addr`, or "" when below the first symbol or
  // past the end (`_etext` / the last symbol).
  std::string name_of(uint64_t addr) const;
  size_t size() const { return symbols_.size(); }

 private:
  std::vector<std::pair<uint64_t, std::string>> symbols_;  // sorted by address
  uint64_t end_ = 0;  // _etext when present
};

class GuestProfile {
 public:
  void add(uint64_t rip) { ++samples_[rip]; ++total_; }
  uint64_t total() const { return total_; }
  // Samples per function, most first: kernel functions by name, addresses
  // below the kernel half as "[user]", others as "[module or unknown]".
  std::vector<std::pair<std::string, uint64_t>> by_function(const SymbolMap& map) const;
  // The top `n` functions with their share, to `out`.
  void print(std::FILE* out, const SymbolMap& map, size_t n) const;

 private:
  std::unordered_map<uint64_t, uint64_t> samples_;
  uint64_t total_ = 0;
};

}  // namespace skvm::vmm
