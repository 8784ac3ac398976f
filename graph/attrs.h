#pragma once
// Typed node attributes. A node stores a canonical AttrMap (what files and dumps see); each op
// declares a plain struct whose fields() lists its attributes once, and the generic code below
// parses, validates (missing, mistyped, unknown) and writes it back.
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "graph/error.h"

namespace dagrad {

using AttrValue = std::variant<std::int64_t, double, bool, std::string, std::vector<std::int64_t>, std::vector<double>>;
using AttrMap = std::map<std::string, AttrValue>;

enum class AttrType { int_ = 0, float_ = 1, bool_ = 2, string = 3, ints = 4, floats = 5 };
const char* attr_type_name(AttrType type);
inline AttrType attr_type_of(const AttrValue& v) { return static_cast<AttrType>(v.index()); }
std::string to_string(const AttrValue& value);

struct AttrSpec {
  std::string name;
  AttrType type;
  bool required = false;
  AttrValue default_value;  // meaningful when !required
  int fixed_length = -1;    // for std::array fields: the list length they need
};

namespace attr_detail {
template <class T> struct Traits;
template <> struct Traits<std::int64_t> { static constexpr AttrType type = AttrType::int_; };
template <> struct Traits<int> { static constexpr AttrType type = AttrType::int_; };
template <> struct Traits<double> { static constexpr AttrType type = AttrType::float_; };
template <> struct Traits<bool> { static constexpr AttrType type = AttrType::bool_; };
template <> struct Traits<std::string> { static constexpr AttrType type = AttrType::string; };
template <> struct Traits<std::vector<std::int64_t>> { static constexpr AttrType type = AttrType::ints; };
template <> struct Traits<std::vector<double>> { static constexpr AttrType type = AttrType::floats; };
template <std::size_t N> struct Traits<std::array<std::int64_t, N>> { static constexpr AttrType type = AttrType::ints; };

template <class T> AttrValue to_value(const T& field) {
  if constexpr (std::is_same_v<T, int>) return AttrValue(std::int64_t{field});
  else if constexpr (requires { std::tuple_size<T>::value; })
    return AttrValue(std::vector<std::int64_t>(field.begin(), field.end()));
  else return AttrValue(field);
}

template <class T> int fixed_length() {
  if constexpr (requires { std::tuple_size<T>::value; }) return static_cast<int>(std::tuple_size<T>::value);
  else return -1;
}

// Visitors passed to Attrs::fields(v): v(name, field) declares an optional attribute whose default
// is the field's initial value; v.required(name, field) declares a required one.
struct SpecCollector {
  std::vector<AttrSpec> specs;
  template <class T> void operator()(const char* name, T& field) {
    specs.push_back({name, Traits<T>::type, false, to_value(field), fixed_length<T>()});
  }
  template <class T> void required(const char* name, T& field) {
    specs.push_back({name, Traits<T>::type, true, to_value(field), fixed_length<T>()});
  }
};

struct Parser {
  const AttrMap& map;
  const std::string& where;  // "op 'conv2d' node 'stem'"
  template <class T> void operator()(const char* name, T& field) { read(name, field, false); }
  template <class T> void required(const char* name, T& field) { read(name, field, true); }
  template <class T> void read(const char* name, T& field, bool is_required) {
    auto it = map.find(name);
    if (it == map.end()) {
      if (is_required) fail(where, ": missing required attribute '", name, "'");
      return;
    }
    constexpr AttrType want = Traits<T>::type;
    if (attr_type_of(it->second) != want)
      fail(where, ": attribute '", name, "' must be ", attr_type_name(want), ", got ",
           attr_type_name(attr_type_of(it->second)), " ", to_string(it->second));
    if constexpr (std::is_same_v<T, int>) {
      std::int64_t v = std::get<std::int64_t>(it->second);
      if (v < INT32_MIN || v > INT32_MAX) fail(where, ": attribute '", name, "' = ", v, " is out of range");
      field = static_cast<int>(v);
    } else if constexpr (requires { std::tuple_size<T>::value; }) {
      const auto& list = std::get<std::vector<std::int64_t>>(it->second);
      if (list.size() != field.size())
        fail(where, ": attribute '", name, "' needs ", field.size(), " values, got ", to_string(it->second));
      std::copy(list.begin(), list.end(), field.begin());
    } else {
      field = std::get<T>(it->second);
    }
  }
};

struct Writer {
  AttrMap map;
  template <class T> void operator()(const char* name, T& field) { map[name] = to_value(field); }
  template <class T> void required(const char* name, T& field) { map[name] = to_value(field); }
};
}  // namespace attr_detail

template <class A> std::vector<AttrSpec> attr_specs() {
  A defaults{};
  attr_detail::SpecCollector collector;
  defaults.fields(collector);
  return std::move(collector.specs);
}

// Parses map into A; throws Error naming `where` and the attribute on missing, mistyped or unknown.
template <class A> A parse_attrs(const AttrMap& map, const std::string& where) {
  A attrs{};
  attr_detail::Parser parser{map, where};
  attrs.fields(parser);
  for (const auto& [name, value] : map) {
    bool known = false;
    for (const AttrSpec& spec : attr_specs<A>()) known = known || spec.name == name;
    if (!known) fail(where, ": unknown attribute '", name, "' = ", to_string(value));
  }
  return attrs;
}

template <class A> AttrMap write_attrs(const A& attrs) {
  A copy = attrs;
  attr_detail::Writer writer;
  copy.fields(writer);
  return std::move(writer.map);
}

// Attributes for ops that have none.
struct NoAttrs {
  template <class V> void fields(V&) {}
};

}  // namespace dagrad
