#pragma once
// Structural checks of a parsed ONNX model, run before the importer translates anything. Internal
// to interop/ (it names ONNX's protobuf classes); no public header includes it.
#include <string>

#include "onnx/onnx_pb.h"

namespace dagrad::interop {

// Throws dagrad::Error naming source_name, the node / initializer / graph input or output and the
// field on the first problem found:
// - ir_version missing or outside 3..8; opset imports: the default domain ("" or "ai.onnx") once,
//   at a version in 1..17 (what the importer's rules know); a node in a domain that is not the default one (the domain is named);
// - graph missing; a value defined twice (graph inputs, initializers, node outputs; an initializer
//   may also be listed as a graph input); a node input that nothing defines; nodes out of
//   topological order (a cycle is named as one); graph outputs that nothing defines;
// - nodes of a known ONNX op (its schema at the model's opset): too few or too many inputs or
//   outputs, a required input left empty, a missing required attribute, an attribute of the wrong
//   type; attributes whose declared type does not match the field holding their value;
// - tensors (initializers and tensor attributes): unknown data type, negative dims, an element count
//   that overflows or exceeds 2^31, data whose size does not match dims (raw_data or the typed
//   field), external data whose location is empty, absolute or has a ".." part, resolves outside
//   base_dir (after symlinks), is missing, or whose offset + length pass the end of the file;
// - graph inputs and outputs that are not tensors, of unknown element type or with negative dims.
// base_dir "" refuses every external data reference.
void validate_onnx_model(const onnx::ModelProto& model, const std::string& source_name, const std::string& base_dir);

// Bytes per element of an ONNX TensorProto data type, 0 for STRING and unknown types.
int onnx_element_size(int data_type);
// The data type's name ("FLOAT", "INT64", ...), or "unknown data type N".
std::string onnx_type_name(int data_type);

}  // namespace dagrad::interop
