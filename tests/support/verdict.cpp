#include "verdict.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace skvm::test {

std::set<std::string> load_known_failures(const std::string& path) {
  std::set<std::string> keys;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos) continue;
    auto last = line.find_last_not_of(" \t\r");
    keys.insert(line.substr(first, last - first + 1));
  }
  return keys;
}

std::string hex(uint64_t value) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(value));
  return buf;
}

Verdict::Verdict(std::string key, const std::set<std::string>& known)
    : key_(std::move(key)), listed_(known.count(key_) != 0) {}

Verdict::~Verdict() {
  if (listed_) {
    if (problems_.empty()) {
      ADD_FAILURE() << key_ << " is listed as a known failure but PASSES: "
                    << "remove it from the known-failure list";
      return;
    }
    std::string all;
    for (const auto& p : problems_) all += "\n    " + p;
    std::printf("[ KNOWN    ] %s fails as listed:%s\n", key_.c_str(), all.c_str());
    return;
  }
  for (const auto& p : problems_) ADD_FAILURE() << key_ << ": " << p;
}

}  // namespace skvm::test
