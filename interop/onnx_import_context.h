#pragma once
// The state of one ONNX import, shared by the driver (onnx_import.cc) and the per-op translation
// rules (onnx_rules.cc). Internal to interop/*.cc: includes ONNX's headers.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "graph/model.h"
#include "interop/onnx.h"
#include "onnx/onnx_pb.h"

namespace dagrad::interop::detail {

// What an ONNX value name stands for during import: a graph value, a tensor known at import time
// (initializers, Constant nodes, folded shape arithmetic), or both.
struct Symbol {
  ValueId id = kNoValue;
  std::optional<Tensor> constant;
  enum class Origin { result, graph_input, initializer, folded } origin = Origin::result;
  std::string unsupported;  // non-empty: the value exists in ONNX but dagrad cannot produce it (why)
  bool boolean = false;     // a BOOL tensor held as int64 0/1: readable at import time, never graph data
};

class Importer;

// One ONNX node being translated: its inputs, attributes and outputs, and how to add dagrad nodes
// named after it.
class NodeContext {
 public:
  NodeContext(Importer& importer, const onnx::NodeProto& node, std::string name, int opset)
      : importer_(importer), node_(node), name_(std::move(name)), opset_(opset) {}
  const onnx::NodeProto& proto() const { return node_; }
  const std::string& name() const { return name_; }
  int opset() const { return opset_; }
  Graph& graph();
  const OnnxImportOptions& options() const;
  bool from_dagrad() const;  // the file was written by dagrad's exporter

  // Inputs: an empty name means an omitted optional input.
  int input_count() const { return node_.input_size(); }
  bool has_input(int i) const { return i < node_.input_size() && !node_.input(i).empty(); }
  Value input(int i);                         // required
  const Tensor* constant_input(int i);        // the value if known at import time, else nullptr
  Tensor required_constant(int i, const char* what);  // an error if not known at import time
  Shape input_shape(int i);
  DType input_dtype(int i);
  int input_rank(int i) { return static_cast<int>(input_shape(i).size()); }
  int output_count() const { return node_.output_size(); }
  bool has_output(int i) const { return i < node_.output_size() && !node_.output(i).empty(); }

  // Attributes, type-checked (an error names the node and attribute).
  const onnx::AttributeProto* attr(const char* name) const;
  bool has_attr(const char* name) const { return attr(name) != nullptr; }
  std::int64_t attr_int(const char* name, std::int64_t fallback) const;
  double attr_float(const char* name, double fallback) const;
  std::string attr_string(const char* name, const std::string& fallback) const;
  std::optional<std::vector<std::int64_t>> attr_ints(const char* name) const;
  std::optional<std::vector<double>> attr_floats(const char* name) const;
  std::optional<Tensor> attr_tensor(const char* name) const;

  // Adds a dagrad node. `part` non-empty: an extra node named "<onnx name>/<part>"; empty: the
  // node that carries the ONNX node's name (the last one of the translation).
  std::vector<Value> add(const std::string& op, std::vector<Value> inputs, AttrMap attrs, const std::string& part = "");
  Value add1(const std::string& op, std::vector<Value> inputs, AttrMap attrs, const std::string& part = "") {
    return add(op, std::move(inputs), std::move(attrs), part).at(0);
  }
  Value constant(const std::string& part, Tensor tensor);  // a graph constant named "<onnx name>/<part>"
  Value reshape(Value x, const Shape& shape, const std::string& part = "");

  // Binds ONNX output i to a value (renamed to the ONNX name when the value is this node's own
  // result), to a tensor known at import time, or marks it as one dagrad cannot produce.
  void set_output(int i, Value v);
  void set_output_constant(int i, Tensor t, bool boolean = false);
  void set_output_unsupported(int i, const std::string& why);
  void mark_loss(int i);  // output i is a loss (SoftmaxCrossEntropyLoss / NegativeLogLikelihoodLoss reduced)

  // Throws an error naming the file, node and op type.
  template <class... Parts> [[noreturn]] void fail_here(const Parts&... parts) const;
  std::string where() const;

 private:
  Importer& importer_;
  const onnx::NodeProto& node_;
  std::string name_;
  int opset_;
};

class Importer {
 public:
  Importer(Model& model, const OnnxImportOptions& options, std::string source, std::string base_dir)
      : model_(model), options_(options), source_(std::move(source)), base_dir_(std::move(base_dir)) {}
  Model& model() { return model_; }
  Graph& graph() { return model_.graph; }
  const OnnxImportOptions& options() const { return options_; }
  const std::string& source() const { return source_; }
  const std::string& base_dir() const { return base_dir_; }

  Symbol& symbol(const std::string& onnx_name, const std::string& where);
  bool defined(const std::string& onnx_name) const { return symbols_.count(onnx_name) > 0; }
  Symbol& define(const std::string& onnx_name) { return symbols_[onnx_name]; }
  // The graph value of a symbol, creating the parameter, state or constant of an initializer or
  // folded tensor on first use.
  Value value_of(const std::string& onnx_name, const std::string& where);

  std::set<std::string> state_initializers;   // BatchNormalization mean/var: state, not parameters
  std::set<std::string> loss_values;          // ONNX values that are losses
  std::set<std::string> own_names;            // ONNX value names given to dagrad values
  // Graph inputs whose value a rule needs at import time may be bound here (tests, tools).
  const TensorMap* bound_inputs = nullptr;
  // The file's producer is dagrad's exporter: a Dropout's seed attribute names dagrad's own mask
  // generator, so training-mode dropout can be imported as the same stream.
  bool dagrad_producer = false;

 private:
  Model& model_;
  const OnnxImportOptions& options_;
  std::string source_;
  std::string base_dir_;
  std::unordered_map<std::string, Symbol> symbols_;
};

// One translation rule: the ONNX op type, the first opset it applies to (the entry with the
// highest since_version <= the model's opset wins), an optional static check adding problems
// (unsupported attribute values) before anything is built, and the translation.
struct Rule {
  const char* op_type;
  int since_version;
  void (*check)(const onnx::NodeProto& node, int opset, std::vector<std::string>& problems);
  void (*translate)(NodeContext& ctx);
};
const Rule* find_rule(const std::string& op_type, int opset);
// Whether a rule reads input `index` of `op_type` at import time (Clip's bounds, Reshape's shape,
// ...) rather than as a graph value.
bool input_read_at_import(const std::string& op_type, int index);

// Import with some graph inputs bound to known tensors: where a rule needs an input's value at
// import time (Reshape's shape, Clip's bounds given as graph inputs), the bound tensor is used.
// ONNX's conformance cases pass such inputs as data; dagrad's graphs have static shapes.
Model import_onnx_bytes_bound(std::string_view bytes, const std::string& source_name, const std::string& base_dir,
                              const OnnxImportOptions& options, const TensorMap& bound_inputs);

// The shortest decimal that reads back as this float, as a double (what the writer meant: 1e-5f
// gives 1e-5); and a double rounded to 15 significant digits (1 - 0.9 gives 0.1).
double float_as_written(float value);
double decimal_round(double value);

template <class... Parts> void NodeContext::fail_here(const Parts&... parts) const { fail(where(), ": ", parts...); }

}  // namespace dagrad::interop::detail
