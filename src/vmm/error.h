// The VMM's one error type: a failure it reports and exits on.
#pragma once

#include <stdexcept>
#include <string>

namespace skvm::vmm {

// `what()` is the whole message, naming the file, flag or ioctl at fault.
class VmmError : public std::runtime_error {
 public:
  explicit VmmError(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace skvm::vmm
