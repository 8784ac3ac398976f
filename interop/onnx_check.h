#pragma once
// The "full check" of an ONNX model shared by the exporter and check_onnx_file: ONNX's checker
// (onnx::checker::check_model) plus strict shape inference with type checks. Includes ONNX's
// headers, so only interop/*.cc may include it.
#include <string>

#include "onnx/onnx_pb.h"

namespace dagrad::interop::detail {

// Throws dagrad::Error "<where>: ONNX checker: <message>" (or "... strict shape inference: ...").
// The model is not modified: shape inference runs on a copy.
void full_check(const onnx::ModelProto& model, const std::string& where);

}  // namespace dagrad::interop::detail
