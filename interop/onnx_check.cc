// The full ONNX check: checker plus strict shape inference (ONNX 1.12's check_model has no
// full_check flag, so strict inference is run here explicitly, as onnx.checker does in Python).
#include "interop/onnx_check.h"

#include <filesystem>
#include <fstream>

#include "graph/error.h"
#include "interop/onnx.h"
#include "onnx/checker.h"
#include "onnx/defs/schema.h"
#include "onnx/shape_inference/implementation.h"

namespace dagrad::interop {
namespace detail {

void full_check(const onnx::ModelProto& model, const std::string& where) {
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    fail(where, ": ONNX checker: ", e.what());
  }
  onnx::ModelProto inferred = model;
  try {
    onnx::shape_inference::InferShapes(inferred, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions{/*check_type=*/true, /*error_mode=*/1, false});
  } catch (const std::exception& e) {
    fail(where, ": ONNX strict shape inference: ", e.what());
  }
}

}  // namespace detail

void check_onnx_file(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec) fail(path, ": cannot read: ", ec.message());
  // protobuf refuses messages of 2 GiB and more; larger models need external data.
  constexpr std::uintmax_t kLimit = (std::uintmax_t{2} << 30) - 1;
  if (size > kLimit) fail(path, ": ", size, " bytes, above the limit of ", kLimit, " for one ONNX protobuf");
  std::ifstream in(path, std::ios::binary);
  std::string bytes(static_cast<std::size_t>(size), '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(size));
  if (!in) fail(path, ": cannot read");
  onnx::ModelProto model;
  if (!model.ParseFromString(bytes)) fail(path, ": not an ONNX model (protobuf parse failed)");
  detail::full_check(model, path);
}

}  // namespace dagrad::interop
