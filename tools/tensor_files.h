#pragma once
// Tensors given on the command line as --input NAME=FILE (.npy or ONNX TensorProto .pb), checked
// against the graph's inputs, and tensors written out as .npy files under sanitized names.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "graph/tensor.h"
#include "tools/cli.h"

namespace dagrad::cli {

struct InputFile {
  std::string name, path;
};

// Adds the repeatable --input NAME=FILE option.
void add_input_files_option(po::options_description& options);
// The --input flags, in order: a UsageError for a flag without "NAME=" or "=FILE", or a name given twice.
std::vector<InputFile> input_files(const po::variables_map& vm);
// Reads a tensor file by its extension: .npy (proto/npy.h) or .pb (an ONNX TensorProto); any other
// extension is tried as .npy, then as .pb, so the error says what the file is not.
Tensor read_tensor_file(const std::string& path);
// Reads every --input; errors name the flag ("--input image=x.npy: ...").
TensorMap read_input_files(const std::vector<InputFile>& files);
// The leading dim of the first given tensor of rank 1 or more, for running a model at the batch of
// its inputs.
std::optional<std::int64_t> batch_of(const std::vector<InputFile>& files, const TensorMap& tensors);

// Checks the given tensors against the graph: every name is a graph input, each has the input's
// dtype and shape, and each of `required` is given. UsageErrors name the input and both types:
// "--input image: expected f32[1,3,224,224], got f32[1,3,32,32]".
void check_inputs_against(const Graph& graph, const TensorMap& given, const std::vector<ValueId>& required);

// A file name for a value name: characters other than letters, digits, '.', '-' and '_' become '_'
// ("stage1/conv:0" -> "stage1_conv_0"), never empty, never "." or "..".
std::string file_stem_for(const std::string& value_name);

}  // namespace dagrad::cli
