#pragma once
// The one project error type. Library code throws it; tools print what() on one line and exit 1.
#include <stdexcept>
#include <string>

namespace dagrad {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Throws Error with the concatenation of the arguments streamed together.
template <class... Parts>
[[noreturn]] void fail(const Parts&... parts);

}  // namespace dagrad

#include <sstream>
namespace dagrad {
template <class... Parts>
[[noreturn]] void fail(const Parts&... parts) {
  std::ostringstream message;
  (message << ... << parts);
  throw Error(message.str());
}
}  // namespace dagrad
