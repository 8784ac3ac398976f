// The full ONNX check: checker plus strict shape inference (ONNX 1.12's check_model has no
// full_check flag, so strict inference is run here explicitly, as onnx.checker does in Python).
#include "interop/onnx_check.h"
#include "interop/onnx_internal.h"

#include <filesystem>
#include <fstream>

#include "graph/error.h"
#include "interop/onnx.h"
#include "onnx/checker.h"
#include "onnx/defs/schema.h"
#include "onnx/shape_inference/implementation.h"

namespace dagrad::interop {
namespace detail {
namespace {

// A copy for shape inference without the bytes of floating-point initializers: inference reads
// the values of integer initializers only (Reshape's shape, Slice's starts, Pad's pads, ...), and
// a copy of the weights would double the memory a large model needs (VGG-16: 528 MB).
onnx::ModelProto without_weight_bytes(const onnx::ModelProto& model) {
  onnx::ModelProto copy;
  copy.set_ir_version(model.ir_version());
  *copy.mutable_opset_import() = model.opset_import();
  *copy.mutable_functions() = model.functions();
  const onnx::GraphProto& from = model.graph();
  onnx::GraphProto* to = copy.mutable_graph();
  to->set_name(from.name());
  *to->mutable_node() = from.node();
  *to->mutable_input() = from.input();
  *to->mutable_output() = from.output();
  *to->mutable_value_info() = from.value_info();
  *to->mutable_sparse_initializer() = from.sparse_initializer();
  for (const onnx::TensorProto& t : from.initializer()) {
    onnx::TensorProto* c = to->add_initializer();
    const bool weights = t.data_type() == onnx::TensorProto_DataType_FLOAT || t.data_type() == onnx::TensorProto_DataType_DOUBLE ||
                         t.data_type() == onnx::TensorProto_DataType_FLOAT16 || t.data_type() == onnx::TensorProto_DataType_BFLOAT16;
    if (!weights) {
      *c = t;
      continue;
    }
    c->set_name(t.name());
    c->set_data_type(t.data_type());
    *c->mutable_dims() = t.dims();
  }
  return copy;
}

}  // namespace

void full_check(const onnx::ModelProto& model, const std::string& where) {
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    fail(where, ": ONNX checker: ", e.what());
  }
  onnx::ModelProto inferred = without_weight_bytes(model);
  try {
    onnx::shape_inference::InferShapes(inferred, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions{/*check_type=*/true, /*error_mode=*/1, false});
  } catch (const std::exception& e) {
    fail(where, ": ONNX strict shape inference: ", e.what());
  }
}

}  // namespace detail

void check_onnx_file(const std::string& path) {
  // protobuf refuses messages of 2 GiB and more; larger models need external data.
  const std::string bytes = detail::read_file_bytes(path, (std::uintmax_t{2} << 30) - 1);
  onnx::ModelProto model;
  if (!model.ParseFromString(bytes)) fail(path, ": not an ONNX model (protobuf parse failed)");
  detail::full_check(model, path);
}

}  // namespace dagrad::interop
