#include <string>

#include "interop/onnx.h"

namespace dagrad::interop {

bool is_onnx_path(const std::string& path) { return path.size() > 5 && path.ends_with(".onnx"); }

}  // namespace dagrad::interop
