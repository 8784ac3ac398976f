#pragma once
// Internal helpers shared by interop/*.cc (never installed users' API): TensorProto conversion and
// small ONNX utilities. Includes ONNX's headers, so only interop/*.cc may include it.
#include <cstdint>
#include <string>

#include "graph/tensor.h"
#include "onnx/onnx_pb.h"

namespace dagrad::interop::detail {

// The ONNX element type name ("FLOAT", "INT32", ...) for messages.
std::string onnx_type_name(int data_type);
// The dagrad dtype of an ONNX element type; throws "unsupported element type" naming `where`.
DType dtype_from_onnx(int data_type, const std::string& where);
int onnx_type_of(DType dtype);

// TensorProto -> Tensor: float_data/double_data/int64_data or little-endian raw_data, byte counts
// checked against dims; external data (data_location EXTERNAL) read only from base_dir ("" refuses
// any) at a relative path that stays inside it, each file at most max_bytes. `where` prefixes errors
// ("model.onnx: initializer 'conv1.weight'").
// bool_as_i64: BOOL data becomes an int64 tensor of 0 and 1 (for flags read at import time, such as
// Dropout's training_mode); otherwise BOOL is an unsupported element type like the others.
Tensor tensor_from_proto(const onnx::TensorProto& proto, const std::string& where, const std::string& base_dir,
                         std::int64_t max_bytes = std::int64_t{2} << 30, bool bool_as_i64 = false);
// Tensor -> TensorProto with raw_data (little-endian), name and dims.
void tensor_to_proto(const Tensor& tensor, const std::string& name, onnx::TensorProto& proto);

// The whole file as bytes; a missing or unreadable file, or one larger than max_bytes, is an
// error naming the path (read before anything is parsed, so a huge file is refused unread).
std::string read_file_bytes(const std::string& path, std::uintmax_t max_bytes);

}  // namespace dagrad::interop::detail
