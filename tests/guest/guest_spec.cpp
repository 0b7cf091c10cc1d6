#include "guest_spec.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace skvm::test {
namespace {

bool parse_u64(const std::string& s, uint64_t* v) {
  if (s.empty()) return false;
  size_t pos = 0;
  try {
    *v = std::stoull(s, &pos, 0);
  } catch (...) {
    return false;
  }
  return pos == s.size();
}

bool parse_bytes(std::istringstream& in, std::vector<uint8_t>* out) {
  std::string tok;
  while (in >> tok) {
    uint64_t b;
    if (!parse_u64("0x" + tok, &b) || b > 0xff) return false;
    out->push_back(static_cast<uint8_t>(b));
  }
  return true;
}

// "key=value" -> value, for the `port=` / `data=` style fields.
std::string field(const std::string& text, const std::string& key) {
  auto at = text.find(key + "=");
  if (at == std::string::npos) return {};
  at += key.size() + 1;
  if (key == "data") return text.substr(at);
  return text.substr(at, text.find(' ', at) - at);
}

}  // namespace

std::string normalize(const std::string& s) {
  std::string out;
  bool space = false;
  for (char c : s) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

GuestSpec parse_guest(const std::string& source, const std::string& family,
                      const std::string& name, const std::string& binary) {
  GuestSpec spec;
  spec.family = family;
  spec.name = name;
  spec.source = source;
  spec.binary = binary;
  std::ifstream in(source);
  if (!in) {
    spec.error = "cannot read " + source;
    return spec;
  }
  std::string line;
  while (std::getline(in, line)) {
    std::string t = normalize(line);
    if (t.empty()) continue;
    if (t[0] != ';') break;  // the header ends at the first code line
    t = normalize(t.substr(1));
    auto colon = t.find(':');
    if (colon == std::string::npos) continue;  // prose comment
    std::string key = t.substr(0, colon);
    std::string value = normalize(t.substr(colon + 1));
    auto bad = [&](const std::string& why) {
      if (spec.error.empty()) spec.error = "header `" + key + ": " + value + "`: " + why;
    };
    if (key == "mode") {
      if (value == "real") spec.mode = Mode::kReal;
      else if (value == "prot32") spec.mode = Mode::kProt32;
      else if (value == "long") spec.mode = Mode::kLong;
      else bad("unknown mode");
    } else if (key == "backends") {
      spec.on_soft = value.find("soft") != std::string::npos;
      spec.on_host = value.find("host") != std::string::npos;
    } else if (key == "expect") {
      std::istringstream words(value);
      std::string w;
      while (words >> w) {
        auto eq = w.find('=');
        uint64_t v;
        if (eq == std::string::npos || !parse_u64(w.substr(eq + 1), &v)) {
          bad("want reg=value");
          break;
        }
        spec.regs.emplace_back(w.substr(0, eq), v);
      }
    } else if (key == "expect-mem") {
      auto eq = value.find('=');
      MemExpectation m{};
      std::istringstream bytes(eq == std::string::npos ? "" : value.substr(eq + 1));
      if (eq == std::string::npos || !parse_u64(normalize(value.substr(0, eq)), &m.gpa) ||
          !parse_bytes(bytes, &m.bytes) || m.bytes.empty()) {
        bad("want gpa = bytes");
      } else {
        spec.mem.push_back(m);
      }
    } else if (key == "expect-exit") {
      if (value != "hlt" && value != "shutdown" && value != "internal-error") bad("unknown exit");
      spec.exit = value;
    } else if (key == "expect-io") {
      spec.io.push_back(value);
      spec.check_io = true;
    } else if (key == "expect-mmio") {
      spec.mmio.push_back(value);
      spec.check_mmio = true;
    } else if (key == "io-in") {
      uint64_t port;
      std::istringstream bytes(field(value, "data"));
      if (!parse_u64(field(value, "port"), &port) || port > 0xffff ||
          !parse_bytes(bytes, &spec.io_in[static_cast<uint16_t>(port)])) {
        bad("want port=N data=bytes");
      }
      spec.check_io = true;
    } else if (key == "mmio-in") {
      std::istringstream bytes(field(value, "data"));
      if (!parse_bytes(bytes, &spec.mmio_in)) bad("want data=bytes");
      spec.check_mmio = true;
    } else if (key == "readonly-slot") {
      spec.readonly_slot = value == "yes";
    }
  }
  return spec;
}

std::vector<GuestSpec> discover_guests(const std::string& src_dir, const std::string& bin_dir) {
  namespace fs = std::filesystem;
  std::vector<GuestSpec> out;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(src_dir, ec)) {
    if (!e.is_regular_file() || e.path().extension() != ".asm") continue;
    std::string family = e.path().parent_path().filename().string();
    std::string name = e.path().stem().string();
    out.push_back(parse_guest(e.path().string(), family, name,
                              bin_dir + "/" + family + "/" + name + ".bin"));
  }
  std::sort(out.begin(), out.end(), [](const GuestSpec& a, const GuestSpec& b) {
    return a.family + "/" + a.name < b.family + "/" + b.name;
  });
  return out;
}

}  // namespace skvm::test
