#include "vmm/guest_profile.h"

#include <algorithm>
#include <sstream>

namespace skvm::vmm {

SymbolMap SymbolMap::parse(const std::string& text) {
  SymbolMap map;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string addr, type, name;
    if (!(fields >> addr >> type >> name) || type.size() != 1) continue;
    uint64_t a = 0;
    try {
      a = std::stoull(addr, nullptr, 16);
    } catch (const std::exception&) {
      continue;
    }
    if (name == "_etext") map.end_ = a;
    const char t = type[0];
    if (t == 't' || t == 'T' || t == 'w' || t == 'W') map.symbols_.emplace_back(a, name);
  }
  std::sort(map.symbols_.begin(), map.symbols_.end());
  return map;
}

std::string SymbolMap::name_of(uint64_t addr) const {
  if (symbols_.empty() || addr < symbols_.front().first) return {};
  if (end_ != 0 && addr >= end_) return {};
  auto it = std::upper_bound(symbols_.begin(), symbols_.end(), addr,
                             [](uint64_t a, const auto& s) { return a < s.first; });
  return std::prev(it)->second;
}

std::vector<std::pair<std::string, uint64_t>> GuestProfile::by_function(const SymbolMap& map) const {
  std::unordered_map<std::string, uint64_t> per;
  for (const auto& [rip, n] : samples_) {
    std::string name = map.name_of(rip);
    if (name.empty()) name = rip < (1ull << 63) ? "[user]" : "[module or unknown]";
    per[name] += n;
  }
  std::vector<std::pair<std::string, uint64_t>> out(per.begin(), per.end());
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  return out;
}

void GuestProfile::print(std::FILE* out, const SymbolMap& map, size_t n) const {
  std::fprintf(out, "softkvm: --guest-profile: %llu samples of vCPU 0 (1 per ms of its CPU time), top %zu:\n",
               static_cast<unsigned long long>(total_), n);
  const auto rows = by_function(map);
  for (size_t i = 0; i < rows.size() && i < n; ++i) {
    std::fprintf(out, "  %6.2f %%  %8llu  %s\n", total_ ? 100.0 * static_cast<double>(rows[i].second) / total_ : 0.0,
                 static_cast<unsigned long long>(rows[i].second), rows[i].first.c_str());
  }
}

}  // namespace skvm::vmm
