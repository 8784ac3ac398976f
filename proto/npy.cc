#include "proto/npy.h"

#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>

#include "proto/model_file.h"

namespace dagrad {

std::string to_npy(const Tensor& tensor) {
  static_assert(std::endian::native == std::endian::little, "npy writer assumes a little-endian host");
  const char* descr = tensor.dtype() == DType::f32 ? "<f4" : tensor.dtype() == DType::f64 ? "<f8" : "<i8";
  std::string shape = "(";
  for (std::int64_t d : tensor.shape()) shape += std::to_string(d) + ",";
  if (tensor.rank() > 1) shape.pop_back();  // (3,) for rank 1, (2,3) otherwise, () for scalars
  shape += ")";
  std::string header = "{'descr': '" + std::string(descr) + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // magic(6) + version(2) + header length(2) + header, padded with spaces to a multiple of 64, ending in '\n'.
  std::size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string bytes = "\x93NUMPY";
  bytes += '\x01';
  bytes += '\x00';
  bytes += static_cast<char>(header.size() & 0xff);
  bytes += static_cast<char>((header.size() >> 8) & 0xff);
  bytes += header;
  bytes.append(static_cast<const char*>(tensor.raw()), tensor.nbytes());
  return bytes;
}

void save_npy(const Tensor& tensor, const std::string& path) { write_file_atomically(path, to_npy(tensor)); }

namespace {

// The header is a Python dict literal, e.g. {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }.
// This reads exactly the subset numpy writes: quoted strings, True/False and tuples of integers.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& source) : text_(text), source_(source) {}

  struct Fields {
    std::optional<std::string> descr;
    std::optional<bool> fortran_order;
    std::optional<Shape> shape;
  };

  Fields parse() {
    Fields fields;
    skip_space();
    expect('{', "the header dictionary's opening '{'");
    while (true) {
      skip_space();
      if (peek() == '}') break;
      const std::string key = quoted("a key");
      skip_space();
      expect(':', "':' after key '" + key + "'");
      skip_space();
      if (key == "descr") {
        if (fields.descr) duplicate(key);
        fields.descr = quoted("the 'descr' value (a dtype string such as '<f4')");
      } else if (key == "fortran_order") {
        if (fields.fortran_order) duplicate(key);
        fields.fortran_order = boolean();
      } else if (key == "shape") {
        if (fields.shape) duplicate(key);
        fields.shape = tuple();
      } else {
        bad("unknown header key '" + key + "' (an .npy header has 'descr', 'fortran_order' and 'shape')");
      }
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() != '}') bad("expected ',' or '}' after the value of '" + key + "'");
    }
    ++pos_;  // '}'
    skip_space();
    if (pos_ != text_.size()) bad("text after the header dictionary's closing '}'");
    if (!fields.descr) missing("descr");
    if (!fields.fortran_order) missing("fortran_order");
    if (!fields.shape) missing("shape");
    return fields;
  }

 private:
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r')) ++pos_;
  }
  [[noreturn]] void bad(const std::string& what) const {
    fail(source_, ": malformed .npy header at offset ", pos_, ": ", what, " in \"", std::string(text_.substr(0, 200)), "\"");
  }
  [[noreturn]] void duplicate(const std::string& key) const { bad("header key '" + key + "' given twice"); }
  [[noreturn]] void missing(const std::string& key) const {
    fail(source_, ": malformed .npy header: the key '", key, "' is missing in \"", std::string(text_.substr(0, 200)), "\"");
  }
  void expect(char c, const std::string& what) {
    if (peek() != c) bad("expected " + what);
    ++pos_;
  }
  std::string quoted(const std::string& what) {
    const char quote = peek();
    if (quote != '\'' && quote != '"') bad("expected " + what + " in quotes");
    const std::size_t end = text_.find(quote, pos_ + 1);
    if (end == std::string_view::npos) bad("unterminated string");
    std::string s(text_.substr(pos_ + 1, end - pos_ - 1));
    pos_ = end + 1;
    return s;
  }
  bool boolean() {
    for (const auto& [word, value] : {std::pair{"True", true}, std::pair{"False", false}})
      if (text_.substr(pos_, std::strlen(word)) == word) {
        pos_ += std::strlen(word);
        return value;
      }
    bad("'fortran_order' must be True or False");
  }
  Shape tuple() {
    expect('(', "the 'shape' tuple's '('");
    Shape shape;
    while (true) {
      skip_space();
      if (peek() == ')') break;
      if (peek() == '-') bad("negative dimension in 'shape'");
      if (peek() < '0' || peek() > '9') bad("expected a dimension (a non-negative integer) in 'shape'");
      std::int64_t d = 0;
      while (peek() >= '0' && peek() <= '9') {
        const int digit = peek() - '0';
        if (d > (std::numeric_limits<std::int64_t>::max() - digit) / 10) bad("dimension in 'shape' does not fit in 64 bits");
        d = d * 10 + digit;
        ++pos_;
      }
      if (peek() == 'L') ++pos_;  // Python 2's long literals
      shape.push_back(d);
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() != ')') bad("expected ',' or ')' in 'shape'");
    }
    ++pos_;
    return shape;
  }

  std::string_view text_;
  const std::string& source_;
  std::size_t pos_ = 0;
};

std::uint32_t little_endian(std::string_view bytes, std::size_t offset, std::size_t count) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < count; ++i) v |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[offset + i])) << (8 * i);
  return v;
}

}  // namespace

Tensor parse_npy(std::string_view bytes, const std::string& source) {
  static_assert(std::endian::native == std::endian::little, "npy reader assumes a little-endian host");
  const std::string_view magic("\x93NUMPY", 6);
  if (bytes.size() < 6 || bytes.substr(0, 6) != magic)
    fail(source, ": not an .npy file: it does not start with the magic \\x93NUMPY (", bytes.size(), " bytes)");
  if (bytes.size() < 8) fail(source, ": truncated .npy file: ", bytes.size(), " bytes end before the version");
  const int major = static_cast<unsigned char>(bytes[6]), minor = static_cast<unsigned char>(bytes[7]);
  if (major < 1 || major > 3 || minor != 0)
    fail(source, ": unsupported .npy version ", major, ".", minor, " (versions 1.0, 2.0 and 3.0 are read)");
  const std::size_t length_bytes = major == 1 ? 2 : 4;
  const std::size_t prefix = 8 + length_bytes;
  if (bytes.size() < prefix) fail(source, ": truncated .npy file: ", bytes.size(), " bytes end inside the header length");
  const std::size_t header_length = little_endian(bytes, 8, length_bytes);
  if (bytes.size() - prefix < header_length)
    fail(source, ": truncated .npy file: the header declares ", header_length, " bytes but only ", bytes.size() - prefix, " follow");
  const HeaderParser::Fields fields = HeaderParser(bytes.substr(prefix, header_length), source).parse();

  DType dtype;
  const std::string& descr = *fields.descr;
  if (descr == "<f4") dtype = DType::f32;
  else if (descr == "<f8") dtype = DType::f64;
  else if (descr == "<i8") dtype = DType::i64;
  else if (descr.size() > 1 && descr[0] == '>')
    fail(source, ": .npy dtype '", descr, "' is big-endian; dagrad reads '<f4' (float32), '<f8' (float64) and '<i8' (int64) ",
         "(convert with numpy: a.astype('<f4'))");
  else
    fail(source, ": .npy dtype '", descr, "' is not supported; dagrad reads '<f4' (float32), '<f8' (float64) and '<i8' (int64) ",
         "(convert with numpy: a.astype(numpy.float32))");
  if (*fields.fortran_order)
    fail(source, ": .npy 'fortran_order' is True (column-major data); dagrad reads C order: save numpy.ascontiguousarray(a)");
  const Shape& shape = *fields.shape;
  std::int64_t expected = 0;
  try {
    expected = byte_count(shape, dtype);
  } catch (const Error& e) {
    fail(source, ": .npy 'shape' ", to_string(shape), " is too large: ", e.what());
  }
  const std::size_t data_bytes = bytes.size() - prefix - header_length;
  if (static_cast<std::uint64_t>(expected) != data_bytes)
    fail(source, ": .npy data size mismatch: the header declares shape ", to_string(shape), " of '", descr, "' (", expected,
         " bytes) but the file holds ", data_bytes, " bytes of data", data_bytes < static_cast<std::uint64_t>(expected) ? " (truncated?)" : "");
  Tensor tensor(dtype, shape);
  if (data_bytes) std::memcpy(tensor.raw(), bytes.data() + prefix + header_length, data_bytes);
  return tensor;
}

Tensor load_npy(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) fail(path, ": is a folder, not an .npy file");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, ": cannot open: ", std::strerror(errno));
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  if (in.bad()) fail(path, ": read error: ", std::strerror(errno));
  return parse_npy(bytes, path);
}

}  // namespace dagrad
