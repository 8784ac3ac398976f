// TensorProto <-> dagrad Tensor, external data confined to the model's folder, and the
// single-tensor .pb files of ONNX's conformance cases.
#include <bit>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "graph/error.h"
#include "interop/onnx.h"
#include "interop/onnx_internal.h"
#include "proto/model_file.h"

static_assert(std::endian::native == std::endian::little, "raw_data is little-endian; big-endian hosts need a byte swap");

namespace dagrad::interop::detail {
namespace fs = std::filesystem;

std::string onnx_type_name(int data_type) {
  if (onnx::TensorProto_DataType_IsValid(data_type))
    return onnx::TensorProto_DataType_Name(static_cast<onnx::TensorProto_DataType>(data_type));
  return "type " + std::to_string(data_type);
}

DType dtype_from_onnx(int data_type, const std::string& where) {
  switch (data_type) {
    case onnx::TensorProto_DataType_FLOAT: return DType::f32;
    case onnx::TensorProto_DataType_DOUBLE: return DType::f64;
    case onnx::TensorProto_DataType_INT64: return DType::i64;
    default:
      fail(where, ": unsupported element type ", onnx_type_name(data_type),
           " (dagrad tensors are FLOAT, DOUBLE or INT64)");
  }
}

int onnx_type_of(DType dtype) {
  switch (dtype) {
    case DType::f32: return onnx::TensorProto_DataType_FLOAT;
    case DType::f64: return onnx::TensorProto_DataType_DOUBLE;
    case DType::i64: return onnx::TensorProto_DataType_INT64;
  }
  fail("unknown dtype");
}

namespace {

// Reads `length` bytes at `offset` of an external data file named relative to base_dir.
std::string read_external(const onnx::TensorProto& proto, const std::string& where, const std::string& base_dir,
                          std::int64_t max_bytes) {
  std::string location;
  std::int64_t offset = 0, length = -1;
  for (const auto& entry : proto.external_data()) {
    const auto parse_int = [&](const std::string& text) {
      std::size_t used = 0;
      long long v = -1;
      try { v = std::stoll(text, &used); } catch (const std::exception&) { used = 0; }
      if (used != text.size() || v < 0) fail(where, ": external data '", entry.key(), "' = '", text, "' is not a byte count");
      return static_cast<std::int64_t>(v);
    };
    if (entry.key() == "location") location = entry.value();
    else if (entry.key() == "offset") offset = parse_int(entry.value());
    else if (entry.key() == "length") length = parse_int(entry.value());
  }
  if (location.empty()) fail(where, ": external data without a 'location'");
  if (base_dir.empty()) fail(where, ": external data '", location, "' refused: no model folder to read it from");
  const fs::path relative(location);
  if (relative.is_absolute() || relative.has_root_name() || relative.has_root_directory())
    fail(where, ": external data path '", location, "' is absolute; it must name a file in the model's folder");
  for (const auto& part : relative)
    if (part == "..") fail(where, ": external data path '", location, "' leaves the model's folder");
  std::error_code ec;
  const fs::path folder = fs::weakly_canonical(fs::path(base_dir), ec);
  const fs::path file = fs::weakly_canonical(fs::path(base_dir) / relative, ec);
  if (ec) fail(where, ": external data file '", location, "': ", ec.message());
  const auto [end, _] = std::mismatch(folder.begin(), folder.end(), file.begin(), file.end());
  if (end != folder.end()) fail(where, ": external data path '", location, "' leads out of the model's folder");
  const auto size = fs::file_size(file, ec);
  if (ec) fail(where, ": external data file '", location, "' cannot be read: ", ec.message());
  if (static_cast<std::int64_t>(size) > max_bytes)
    fail(where, ": external data file '", location, "' is ", size, " bytes, above the limit of ", max_bytes);
  if (offset > static_cast<std::int64_t>(size)) fail(where, ": external data offset ", offset, " is past the end of '", location, "' (", size, " bytes)");
  if (length < 0) length = static_cast<std::int64_t>(size) - offset;
  if (length > static_cast<std::int64_t>(size) - offset)
    fail(where, ": external data '", location, "' holds ", size, " bytes, offset ", offset, " + length ", length, " runs past its end");
  std::ifstream in(file, std::ios::binary);
  std::string bytes(static_cast<std::size_t>(length), '\0');
  in.seekg(offset);
  in.read(bytes.data(), length);
  if (!in) fail(where, ": external data file '", location, "' could not be read");
  return bytes;
}

template <class T, class Field>
void copy_field(const Field& field, Tensor& tensor, const std::string& where, const char* field_name) {
  if (static_cast<std::int64_t>(field.size()) != tensor.numel())
    fail(where, ": ", field_name, " holds ", field.size(), " values, dims ", to_string(tensor.shape()), " need ", tensor.numel());
  auto out = tensor.data<T>();
  for (int i = 0; i < field.size(); ++i) out[static_cast<std::size_t>(i)] = static_cast<T>(field.Get(i));
}

}  // namespace

Tensor tensor_from_proto(const onnx::TensorProto& proto, const std::string& where, const std::string& base_dir,
                         std::int64_t max_bytes, bool bool_as_i64) {
  if (proto.has_segment()) fail(where, ": segmented tensors are not supported");
  if (bool_as_i64 && proto.data_type() == onnx::TensorProto_DataType_BOOL) {
    Shape shape(proto.dims().begin(), proto.dims().end());
    for (std::int64_t d : shape)
      if (d < 0) fail(where, ": negative dim in ", to_string(shape));
    std::int64_t count = 0;
    try { count = element_count(shape); } catch (const Error& e) { fail(where, ": ", e.what()); }
    if (count * 8 > max_bytes) fail(where, ": dims ", to_string(shape), " are above the size limit");
    if (proto.data_location() == onnx::TensorProto_DataLocation_EXTERNAL) fail(where, ": external BOOL data is not supported");
    Tensor tensor(DType::i64, shape);
    auto out = tensor.data<std::int64_t>();
    if (proto.has_raw_data()) {
      if (static_cast<std::int64_t>(proto.raw_data().size()) != count)
        fail(where, ": raw_data holds ", proto.raw_data().size(), " bytes, BOOL dims ", to_string(shape), " need ", count);
      for (std::int64_t i = 0; i < count; ++i) out[static_cast<std::size_t>(i)] = proto.raw_data()[static_cast<std::size_t>(i)] != 0;
    } else {
      if (proto.int32_data_size() != count)
        fail(where, ": int32_data holds ", proto.int32_data_size(), " values, BOOL dims ", to_string(shape), " need ", count);
      for (std::int64_t i = 0; i < count; ++i) out[static_cast<std::size_t>(i)] = proto.int32_data(static_cast<int>(i)) != 0;
    }
    return tensor;
  }
  const DType dtype = dtype_from_onnx(proto.data_type(), where);
  Shape shape(proto.dims().begin(), proto.dims().end());
  for (std::int64_t d : shape)
    if (d < 0) fail(where, ": negative dim in ", to_string(shape));
  std::int64_t bytes = 0;
  try { bytes = byte_count(shape, dtype); } catch (const Error& e) { fail(where, ": ", e.what()); }
  if (bytes > max_bytes) fail(where, ": dims ", to_string(shape), " need ", bytes, " bytes, above the limit of ", max_bytes);
  const bool external = proto.data_location() == onnx::TensorProto_DataLocation_EXTERNAL;
  std::string external_bytes;
  if (external) external_bytes = read_external(proto, where, base_dir, max_bytes);
  if (external || proto.has_raw_data()) {
    const std::string& raw = external ? external_bytes : proto.raw_data();
    if (static_cast<std::int64_t>(raw.size()) != bytes)
      fail(where, ": ", external ? "external data" : "raw_data", " holds ", raw.size(), " bytes, ", dtype_name(dtype),
           " dims ", to_string(shape), " need ", bytes);
    Tensor tensor(dtype, shape);
    if (bytes > 0) std::memcpy(tensor.raw(), raw.data(), static_cast<std::size_t>(bytes));
    return tensor;
  }
  Tensor tensor(dtype, shape);
  switch (dtype) {
    case DType::f32: copy_field<float>(proto.float_data(), tensor, where, "float_data"); break;
    case DType::f64: copy_field<double>(proto.double_data(), tensor, where, "double_data"); break;
    case DType::i64: copy_field<std::int64_t>(proto.int64_data(), tensor, where, "int64_data"); break;
  }
  return tensor;
}

void tensor_to_proto(const Tensor& tensor, const std::string& name, onnx::TensorProto& proto) {
  proto.Clear();
  proto.set_name(name);
  proto.set_data_type(onnx_type_of(tensor.dtype()));
  for (std::int64_t d : tensor.shape()) proto.add_dims(d);
  proto.set_raw_data(std::string(static_cast<const char*>(tensor.raw()), tensor.nbytes()));
}

std::string read_file_bytes(const std::string& path, std::uintmax_t max_bytes) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) fail(path, ": cannot read: ", ec.message());
  if (size > max_bytes) fail(path, ": ", size, " bytes, above the limit of ", max_bytes);
  std::ifstream in(path, std::ios::binary);
  std::string bytes(static_cast<std::size_t>(size), '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(size));
  if (!in) fail(path, ": cannot read");
  return bytes;
}

}  // namespace dagrad::interop::detail

namespace dagrad::interop {

Tensor read_onnx_tensor_file(const std::string& path, std::string* name) {
  namespace fs = std::filesystem;
  const std::string bytes = detail::read_file_bytes(path, std::uintmax_t{2} << 30);
  onnx::TensorProto proto;
  if (!proto.ParseFromString(bytes)) fail(path, ": not an ONNX TensorProto (protobuf parse failed)");
  if (name) *name = proto.name();
  const std::string where = path + ": tensor '" + proto.name() + "'";
  // External data of a lone tensor file is looked up beside it.
  return detail::tensor_from_proto(proto, where, fs::path(path).parent_path().string().empty() ? "." : fs::path(path).parent_path().string());
}

void write_onnx_tensor_file(const Tensor& tensor, const std::string& name, const std::string& path) {
  onnx::TensorProto proto;
  detail::tensor_to_proto(tensor, name, proto);
  std::string bytes;
  if (!proto.SerializeToString(&bytes)) fail(path, ": cannot serialize tensor '", name, "'");
  write_file_atomically(path, bytes);
}

}  // namespace dagrad::interop
