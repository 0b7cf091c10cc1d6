// Collects the problems of one test case (one ABI row or one guest on one
// backend) and rules on them against an exact known-failure list
// (STYLE.md rule 6):
//   - not listed, problems     -> each problem is a test failure;
//   - listed, problems         -> reported as the expected failure, passes;
//   - listed, no problem       -> fails: the list is stale, remove the line.
// The list is a text file, one key a line (`abi/<row>/soft`,
// `guest/<family>/<name>/soft`, `.../diff`), `#` starts a comment.
#pragma once

#include <cstdint>
#include <set>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

namespace skvm::test {

// Reads a known-failure list; a missing file is an empty list.
std::set<std::string> load_known_failures(const std::string& path);

std::string hex(uint64_t value);

class Verdict {
 public:
  Verdict(std::string key, const std::set<std::string>& known);
  Verdict(const Verdict&) = delete;
  Verdict& operator=(const Verdict&) = delete;
  ~Verdict();  // rules (see above) through GoogleTest

  void fail(const std::string& problem) { problems_.push_back(problem); }
  template <class T, class U>
  bool expect_eq(const T& actual, const U& expected, const std::string& what) {
    if (actual == expected) return true;
    std::ostringstream os;
    os << what << ": got " << show(actual) << ", expected " << show(expected);
    fail(os.str());
    return false;
  }
  bool ok() const { return problems_.empty(); }
  const std::string& key() const { return key_; }

 private:
  template <class T>
  static std::string show(const T& v) {
    if constexpr (std::is_integral_v<T> && sizeof(T) >= 4) {
      std::ostringstream os;
      os << static_cast<int64_t>(v) << " (" << hex(static_cast<uint64_t>(v)) << ")";
      return os.str();
    } else if constexpr (std::is_integral_v<T>) {
      return std::to_string(static_cast<int64_t>(v));
    } else {
      std::ostringstream os;
      os << v;
      return os.str();
    }
  }
  std::string key_;
  bool listed_;
  std::vector<std::string> problems_;
};

}  // namespace skvm::test
