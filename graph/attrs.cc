#include "graph/attrs.h"

#include <sstream>

namespace dagrad {

const char* attr_type_name(AttrType type) {
  switch (type) {
    case AttrType::int_: return "int";
    case AttrType::float_: return "float";
    case AttrType::bool_: return "bool";
    case AttrType::string: return "string";
    case AttrType::ints: return "ints";
    case AttrType::floats: return "floats";
  }
  return "invalid";
}

std::string to_string(const AttrValue& value) {
  std::ostringstream s;
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, bool>) s << (v ? "true" : "false");
        else if constexpr (std::is_same_v<T, std::string>) s << '"' << v << '"';
        else if constexpr (std::is_same_v<T, std::int64_t> || std::is_same_v<T, double>) s << v;
        else {
          s << '[';
          for (std::size_t i = 0; i < v.size(); ++i) s << (i ? "," : "") << v[i];
          s << ']';
        }
      },
      value);
  return s.str();
}

}  // namespace dagrad
