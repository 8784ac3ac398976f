#include "tools/tensor_files.h"

#include <algorithm>
#include <cctype>

#include "interop/onnx.h"
#include "proto/npy.h"

namespace dagrad::cli {

void add_input_files_option(po::options_description& options) {
  options.add_options()("input", po::value<std::vector<std::string>>()->composing(),
                        "NAME=FILE: the graph input NAME from an .npy or ONNX TensorProto .pb file (repeatable)");
}

std::vector<InputFile> input_files(const po::variables_map& vm) {
  std::vector<InputFile> files;
  if (!vm.count("input")) return files;
  for (const std::string& flag : vm["input"].as<std::vector<std::string>>()) {
    const std::size_t eq = flag.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == flag.size())
      throw UsageError("--input must be NAME=FILE (an input name and an .npy or .pb file), got '" + flag + "'");
    InputFile file{flag.substr(0, eq), flag.substr(eq + 1)};
    for (const InputFile& earlier : files)
      if (earlier.name == file.name)
        throw UsageError("--input '" + file.name + "' is given twice (" + earlier.path + " and " + file.path + ")");
    files.push_back(std::move(file));
  }
  return files;
}

Tensor read_tensor_file(const std::string& path) {
  if (path.ends_with(".npy")) return load_npy(path);
  if (path.ends_with(".pb")) return interop::read_onnx_tensor_file(path);
  try {
    return load_npy(path);
  } catch (const Error& npy_error) {
    try {
      return interop::read_onnx_tensor_file(path);
    } catch (const Error& pb_error) {
      fail(path, ": neither an .npy file (", npy_error.what(), ") nor an ONNX TensorProto (", pb_error.what(), ")");
    }
  }
}

TensorMap read_input_files(const std::vector<InputFile>& files) {
  TensorMap tensors;
  for (const InputFile& file : files) {
    try {
      tensors.emplace(file.name, read_tensor_file(file.path));
    } catch (const Error& e) {
      fail("--input ", file.name, "=", file.path, ": ", e.what());
    }
  }
  return tensors;
}

std::optional<std::int64_t> batch_of(const std::vector<InputFile>& files, const TensorMap& tensors) {
  for (const InputFile& file : files)
    if (const Tensor& t = tensors.at(file.name); t.rank() >= 1) return t.dim(0);
  return std::nullopt;
}

namespace {
std::string type_text(DType dtype, const Shape& shape) { return std::string(dtype_name(dtype)) + to_string(shape); }

std::string inputs_listed(const Graph& graph) {
  std::string text;
  for (ValueId id : graph.values_of_kind(ValueKind::input))
    text += (text.empty() ? "" : ", ") + graph.value(id).name + " " + type_text(graph.value(id).type.dtype, graph.value(id).type.shape);
  return text.empty() ? "none" : text;
}
}  // namespace

void check_inputs_against(const Graph& graph, const TensorMap& given, const std::vector<ValueId>& required) {
  for (const auto& [name, tensor] : given) {
    auto id = graph.find(name);
    if (!id || graph.value(*id).kind != ValueKind::input)
      throw UsageError("--input " + name + ": the model has no input named '" + name + "'; its inputs are: " + inputs_listed(graph));
    const TensorType& want = graph.value(*id).type;
    if (want.dtype != tensor.dtype() || want.shape != tensor.shape()) {
      std::string hint;
      if (want.dtype == tensor.dtype() && want.shape.size() == tensor.shape().size() && !want.shape.empty() &&
          std::equal(want.shape.begin() + 1, want.shape.end(), tensor.shape().begin() + 1))
        hint = " (only the batch differs: pass --batch " + std::to_string(tensor.dim(0)) + ")";
      else if (want.dtype != tensor.dtype())
        hint = " (the dtype differs)";
      throw UsageError("--input " + name + ": expected " + type_text(want.dtype, want.shape) + ", got " +
                       type_text(tensor.dtype(), tensor.shape()) + hint);
    }
  }
  for (ValueId id : required) {
    const ValueInfo& v = graph.value(id);
    if (v.kind == ValueKind::input && !given.count(v.name))
      throw UsageError("missing --input " + v.name + "=FILE: the model needs input '" + v.name + "' " + type_text(v.type.dtype, v.type.shape) +
                       "; its inputs are: " + inputs_listed(graph));
  }
}

std::string file_stem_for(const std::string& value_name) {
  std::string s;
  for (char c : value_name) s += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_') ? c : '_';
  if (s.empty() || s == "." || s == "..") s = "_" + s;
  return s;
}

}  // namespace dagrad::cli
