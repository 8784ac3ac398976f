#pragma once
// ONNX interop: .onnx files to and from dagrad models. ONNX's own library (libonnx, the onnx-ml
// schema, checker and shape inference) stays private to interop/*.cc; this header names none of it.
//
//   Model m = import_onnx("resnet18.onnx", {.batch = 8});     // an ordinary dagrad model
//   export_onnx(m, "out.onnx", {.opset = 17});                 // checked before it is written
//
// Import translates every node by one rule per ONNX op type (interop/onnx_rules.cc), keyed by the
// opset version where the op's meaning changed (opsets 7 to 17). Parameters keep their initializer
// names and nodes their ONNX names. Whatever the importer cannot take is reported in one Error that
// lists every unsupported op type and attribute of the file. External data is read only from the
// model's own folder.
#include <cstdint>
#include <string>
#include <string_view>

#include "graph/model.h"

namespace dagrad::interop {

struct OnnxImportOptions {
  std::int64_t batch = 1;       // the value given to a symbolic (named or unknown) first dim of every input
  bool training = false;        // batch norm and dropout in training mode
  std::int64_t max_bytes = std::int64_t{2} << 30;  // model files (and each external data file) larger than this are refused unread
};

struct OnnxExportOptions {
  int opset = 17;               // 13 or 17
  bool symbolic_batch = true;   // the first dim of inputs and outputs is named "N", so the file runs at any batch size
};

// True for paths ending in ".onnx": what tools use to choose this importer over dagrad's own files.
bool is_onnx_path(const std::string& path);

// Reads and translates an .onnx file. Throws dagrad::Error naming the file and the node, the
// value or the field on anything wrong or unsupported. The graph can be re-batched afterwards
// (Graph::reshape_inputs): reshape targets that follow a symbolic batch are written with -1.
Model import_onnx(const std::string& path, const OnnxImportOptions& options = {});
// The same from bytes in memory; external data is looked up in base_dir ("" refuses any).
Model import_onnx_bytes(std::string_view bytes, const std::string& source_name, const std::string& base_dir,
                        const OnnxImportOptions& options = {});

// Translates the model's forward graph (gradients and optimizer state are not exported) and
// checks the result with onnx::checker and strict shape inference before returning it.
std::string export_onnx_bytes(const Model& model, const OnnxExportOptions& options = {});
// Writes export_onnx_bytes atomically.
void export_onnx(const Model& model, const std::string& path, const OnnxExportOptions& options = {});

// Runs ONNX's checker (full: check_model plus strict shape inference) on a file; throws
// dagrad::Error with the checker's message and the file name.
void check_onnx_file(const std::string& path);

// One ONNX TensorProto in a file of its own (the conformance cases' input_K.pb / output_K.pb):
// float32, float64 or int64. `name` receives the proto's name when given.
Tensor read_onnx_tensor_file(const std::string& path, std::string* name = nullptr);
// Writes a tensor as a TensorProto file atomically.
void write_onnx_tensor_file(const Tensor& tensor, const std::string& name, const std::string& path);

}  // namespace dagrad::interop
