// dagrad model -> ONNX ModelProto (opset 13 or 17). The forward graph only: nodes made by autodiff,
// gradients and optimizer state stay behind. Each dagrad node becomes one ONNX node of the same
// name where ONNX has the op; helper nodes and initializers (Reshape's shape, Clip's bounds, ...)
// are named "<node>/<what>". Values keep their dagrad names, so a re-import finds every parameter.
// When a node needs several ONNX nodes, the last one (which computes the dagrad node's output) has
// the node's name and the ones before it "<node>/<what>", the importer's convention in reverse.
// Every op without an ONNX form is collected and reported in one error. The result passes the
// full check (checker + strict shape inference) before it is returned.
#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "graph/error.h"
#include "interop/onnx.h"
#include "interop/onnx_check.h"
#include "interop/onnx_internal.h"
#include "proto/model_file.h"

namespace dagrad::interop {
namespace {

using Ints = std::vector<std::int64_t>;

// Raised inside one node's translation when the node has no ONNX form; collected, not thrown out.
struct NoOnnxForm {
  std::string reason;
};

class Exporter {
 public:
  Exporter(const Model& model, const OnnxExportOptions& options) : model_(model), g_(model.graph), options_(options) {}

  onnx::ModelProto run() {
    if (options_.opset != 13 && options_.opset != 17)
      fail("ONNX export of ", model_label(), ": opset ", options_.opset, " is not supported; dagrad exports opset 13 or 17");
    onnx::ModelProto proto;
    proto.set_ir_version(options_.opset >= 17 ? 8 : 7);
    proto.set_producer_name("dagrad");
    proto.set_producer_version(DAGRAD_PRODUCER_VERSION);
    auto* opset = proto.add_opset_import();
    opset->set_domain("");
    opset->set_version(options_.opset);
    for (const auto& [key, value] : model_.metadata) {
      auto* entry = proto.add_metadata_props();
      entry->set_key(key);
      entry->set_value(value);
    }
    graph_ = proto.mutable_graph();
    graph_->set_name(model_label());

    const auto& values = g_.values();
    onnx_name_.assign(values.size(), "");
    batched_.assign(values.size(), false);
    for (const ValueInfo& v : values) taken_.insert(v.name);
    for (const Node& n : g_.nodes()) taken_.insert(n.name);

    // Graph inputs: the batch is the first dim of the first input that has one.
    for (ValueId id : g_.values_of_kind(ValueKind::input)) {
      const ValueInfo& v = g_.value(id);
      if (batch_ < 0 && !v.type.shape.empty()) batch_ = v.type.shape[0];
    }
    for (ValueId id : g_.values_of_kind(ValueKind::input)) {
      const ValueInfo& v = g_.value(id);
      batched_[id] = !v.type.shape.empty() && v.type.shape[0] == batch_;
      onnx_name_[id] = v.name;
      describe(*graph_->add_input(), id);
    }

    for (std::int32_t index : g_.topological_order()) {
      const Node& n = g_.node(index);
      if (n.backward) continue;
      node_ = &n;
      try {
        translate(n);
      } catch (const NoOnnxForm& e) {
        unsupported_.push_back("node '" + n.name + "' (op '" + n.op + "')" + (e.reason.empty() ? "" : ": " + e.reason));
        for (ValueId out : n.outputs) onnx_name_[out] = g_.value(out).name;  // so later nodes still translate
      }
      for (ValueId out : n.outputs) batched_[out] = output_is_batched(n, out);
    }
    node_ = nullptr;
    if (!unsupported_.empty()) {
      std::ostringstream list;
      for (std::size_t i = 0; i < unsupported_.size(); ++i) list << (i ? "; " : "") << unsupported_[i];
      fail("ONNX export of ", model_label(), ": ", unsupported_.size(), " node(s) have no ONNX form: ", list.str());
    }

    std::vector<ValueId> outputs = g_.outputs();
    if (g_.loss() != kNoValue && std::find(outputs.begin(), outputs.end(), g_.loss()) == outputs.end())
      outputs.push_back(g_.loss());
    for (ValueId id : outputs) {
      const ValueInfo& v = g_.value(id);
      if (v.kind == ValueKind::result && g_.node(v.producer).backward) continue;  // gradients
      if (onnx_name_[id].empty()) use(id, "graph output");
      describe(*graph_->add_output(), id);
    }
    return proto;
  }

  std::string model_label() const {
    auto it = model_.metadata.find("model");
    return it != model_.metadata.end() && !it->second.empty() ? "model '" + it->second + "'" : "the model";
  }

 private:
  // ---- values ---------------------------------------------------------------------------------

  // The ONNX name of value `id`, adding its initializer on first use (parameters, state, constants).
  std::string use(ValueId id, const std::string& role) {
    if (id == kNoValue) return "";
    if (!onnx_name_[id].empty()) return onnx_name_[id];
    const ValueInfo& v = g_.value(id);
    const Tensor* tensor = nullptr;
    switch (v.kind) {
      case ValueKind::parameter: tensor = find_tensor(model_.parameters, v, "parameters"); break;
      case ValueKind::state: tensor = find_tensor(model_.state, v, "state"); break;
      case ValueKind::constant:
        if (!v.constant) fail("ONNX export of ", model_label(), ": constant '", v.name, "' holds no tensor");
        tensor = v.constant.get();
        break;
      default:
        // A value only a backward node or an output ONNX lacks computes (batch norm's invstd, max
        // pooling's argmax, dropout's mask) cannot feed an exported node.
        fail("ONNX export of ", model_label(), ": ", role, " '", v.name, "'",
             node_ ? " of node '" + node_->name + "' (op '" + node_->op + "')" : std::string(),
             " is an output ONNX's form of its producer does not compute");
    }
    detail::tensor_to_proto(*tensor, v.name, *graph_->add_initializer());
    onnx_name_[id] = v.name;
    return v.name;
  }

  const Tensor* find_tensor(const TensorMap& map, const ValueInfo& v, const char* where) const {
    auto it = map.find(v.name);
    if (it == map.end()) fail("ONNX export of ", model_label(), ": ", where, " tensor '", v.name, "' is missing");
    if (it->second.shape() != v.type.shape || it->second.dtype() != v.type.dtype)
      fail("ONNX export of ", model_label(), ": ", where, " tensor '", v.name, "' is ", dtype_name(it->second.dtype()),
           to_string(it->second.shape()), ", the graph declares ", to_string(v.type));
    return &it->second;
  }

  std::string in(std::size_t i) {
    if (i >= node_->inputs.size()) return "";
    return use(node_->inputs[i], "input " + std::to_string(i));
  }
  std::string out(std::size_t i) {
    const ValueId id = node_->outputs.at(i);
    onnx_name_[id] = g_.value(id).name;
    return onnx_name_[id];
  }
  const ValueInfo& input_info(std::size_t i) const { return g_.value(node_->inputs.at(i)); }
  const Shape& input_shape(std::size_t i) const { return input_info(i).type.shape; }
  DType input_dtype(std::size_t i) const { return input_info(i).type.dtype; }
  bool has_input(std::size_t i) const { return i < node_->inputs.size() && node_->inputs[i] != kNoValue; }

  // "<node>/<what>", unique among the graph's value and node names and the helpers so far.
  std::string helper(const std::string& what) {
    std::string name = node_->name + "/" + what;
    if (!taken_.insert(name).second)
      fail("ONNX export of ", model_label(), ": helper name '", name, "' of node '", node_->name, "' is already taken");
    return name;
  }
  std::string ints_initializer(const std::string& what, const Ints& values) {
    const std::string name = helper(what);
    detail::tensor_to_proto(Tensor::from<std::int64_t>({static_cast<std::int64_t>(values.size())}, values), name,
                            *graph_->add_initializer());
    return name;
  }
  std::string scalar_initializer(const std::string& what, DType dtype, double value) {
    const std::string name = helper(what);
    detail::tensor_to_proto(Tensor::scalar(dtype, value), name, *graph_->add_initializer());
    return name;
  }
  std::string bool_initializer(const std::string& what, bool value) {
    const std::string name = helper(what);
    onnx::TensorProto* t = graph_->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto_DataType_BOOL);
    t->set_raw_data(std::string(1, value ? '\1' : '\0'));
    return name;
  }

  // The graph input/output declaration of a value; the batch dim is "N" when symbolic.
  void describe(onnx::ValueInfoProto& info, ValueId id) const {
    const ValueInfo& v = g_.value(id);
    info.set_name(onnx_name_[id]);
    auto* tensor = info.mutable_type()->mutable_tensor_type();
    tensor->set_elem_type(detail::onnx_type_of(v.type.dtype));
    auto* shape = tensor->mutable_shape();
    for (std::size_t d = 0; d < v.type.shape.size(); ++d) {
      auto* dim = shape->add_dim();
      if (d == 0 && batched_[id] && options_.symbolic_batch) dim->set_dim_param("N");
      else dim->set_dim_value(v.type.shape[d]);
    }
  }

  // Whether dim 0 of a node output is the batch: some input carries it there, and so does the output.
  bool output_is_batched(const Node& n, ValueId out) const {
    const Shape& shape = g_.value(out).type.shape;
    if (shape.empty() || shape[0] != batch_) return false;
    if (n.op == "transpose" && ints_of(n, "perm").at(0) != 0) return false;
    return std::any_of(n.inputs.begin(), n.inputs.end(), [&](ValueId id) { return id != kNoValue && batched_[id]; });
  }
  bool input_batched(std::size_t i) const { return has_input(i) && batched_[node_->inputs[i]]; }
  bool output_batched_now(std::size_t i) const { return output_is_batched(*node_, node_->outputs.at(i)); }

  // ---- attributes -----------------------------------------------------------------------------

  static const AttrValue& attr_of(const Node& n, const std::string& name) {
    auto it = n.attrs.find(name);
    if (it == n.attrs.end()) fail("ONNX export: node '", n.name, "' (op '", n.op, "') has no attribute '", name, "'");
    return it->second;
  }
  static Ints ints_of(const Node& n, const std::string& name) { return std::get<Ints>(attr_of(n, name)); }
  Ints ints(const std::string& name) const { return ints_of(*node_, name); }
  std::int64_t int_attr(const std::string& name) const { return std::get<std::int64_t>(attr_of(*node_, name)); }
  double float_attr(const std::string& name) const { return std::get<double>(attr_of(*node_, name)); }
  bool bool_attr(const std::string& name) const { return std::get<bool>(attr_of(*node_, name)); }
  std::string string_attr(const std::string& name) const { return std::get<std::string>(attr_of(*node_, name)); }

  static void set(onnx::NodeProto& n, const std::string& name, std::int64_t v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto_AttributeType_INT);
    a->set_i(v);
  }
  static void set(onnx::NodeProto& n, const std::string& name, const Ints& v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto_AttributeType_INTS);
    for (std::int64_t x : v) a->add_ints(x);
  }
  static void set_float(onnx::NodeProto& n, const std::string& name, double v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto_AttributeType_FLOAT);
    a->set_f(static_cast<float>(v));
  }
  static void set(onnx::NodeProto& n, const std::string& name, const std::string& v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto_AttributeType_STRING);
    a->set_s(v);
  }

  onnx::NodeProto& emit(const std::string& op_type, const std::string& name, const std::vector<std::string>& inputs,
                        const std::vector<std::string>& outputs) {
    onnx::NodeProto* n = graph_->add_node();
    n->set_op_type(op_type);
    n->set_name(name);
    // Trailing absent optional inputs are dropped; inner ones stay as "".
    std::size_t count = inputs.size();
    while (count > 0 && inputs[count - 1].empty()) --count;
    for (std::size_t i = 0; i < count; ++i) n->add_input(inputs[i]);
    for (const std::string& o : outputs) n->add_output(o);
    return *n;
  }
  // The node's own ONNX node: its name, inputs as given, outputs as given.
  onnx::NodeProto& emit(const std::string& op_type, const std::vector<std::string>& inputs,
                        const std::vector<std::string>& outputs) {
    return emit(op_type, node_->name, inputs, outputs);
  }
  onnx::NodeProto& emit_unary(const std::string& op_type) { return emit(op_type, {in(0)}, {out(0)}); }

  [[noreturn]] static void no_form(const std::string& reason = "") { throw NoOnnxForm{reason}; }

  // ---- the rules, one per dagrad op -------------------------------------------------------------

  // [top,left,bottom,right] (ONNX's begin..., end... order) from a 2- or 4-value pad.
  static Ints pads4(const Ints& pad) { return pad.size() == 4 ? pad : Ints{pad.at(0), pad.at(1), pad.at(0), pad.at(1)}; }

  void conv_attrs(onnx::NodeProto& n, const Ints& kernel) {
    set(n, "kernel_shape", kernel);
    set(n, "strides", ints("stride"));
    set(n, "pads", pads4(ints("pad")));
    set(n, "dilations", ints("dilation"));
    set(n, "group", int_attr("groups"));
  }

  void translate(const Node& n) {
    const std::string& op = n.op;
    if (op.ends_with("_grad") || op == "conv2d_grad_input" || op == "conv2d_grad_filter")
      no_form("a backward op; export the forward graph");
    if (op == "conv2d") {
      const Shape& w = input_shape(1);
      conv_attrs(emit("Conv", {in(0), in(1), in(2)}, {out(0)}), {w.at(2), w.at(3)});
    } else if (op == "conv1d") {
      const Shape& w = input_shape(1);
      const std::int64_t pad = int_attr("pad"), pad_end = int_attr("pad_end");
      auto& node = emit("Conv", {in(0), in(1), in(2)}, {out(0)});
      set(node, "kernel_shape", Ints{w.at(2)});
      set(node, "strides", Ints{int_attr("stride")});
      set(node, "pads", Ints{pad, pad_end == -1 ? pad : pad_end});
      set(node, "dilations", Ints{int_attr("dilation")});
      set(node, "group", int_attr("groups"));
    } else if (op == "conv_transpose2d") {
      const Shape& w = input_shape(1);
      auto& node = emit("ConvTranspose", {in(0), in(1), in(2)}, {out(0)});
      conv_attrs(node, {w.at(2), w.at(3)});
      set(node, "output_padding", ints("output_padding"));
    } else if (op == "dense") {
      auto& node = emit("Gemm", {in(0), in(1), in(2)}, {out(0)});
      set_float(node, "alpha", 1.0);
      set_float(node, "beta", 1.0);
      set(node, "transA", std::int64_t{0});
      set(node, "transB", std::int64_t{0});
    } else if (op == "matmul") {
      translate_matmul();
    } else if (op == "batch_norm") {
      translate_batch_norm();
    } else if (op == "relu" || op == "sigmoid" || op == "tanh" || op == "exp" || op == "log" || op == "sqrt" ||
               op == "neg") {
      static const std::map<std::string, std::string> names = {{"relu", "Relu"}, {"sigmoid", "Sigmoid"}, {"tanh", "Tanh"},
                                                               {"exp", "Exp"},   {"log", "Log"},         {"sqrt", "Sqrt"},
                                                               {"neg", "Neg"}};
      emit_unary(names.at(op));
    } else if (op == "leaky_relu") {
      set_float(emit_unary("LeakyRelu"), "alpha", float_attr("alpha"));
    } else if (op == "elu") {
      set_float(emit_unary("Elu"), "alpha", float_attr("alpha"));
    } else if (op == "hardswish") {
      if (options_.opset >= 14) {
        emit_unary("HardSwish");
      } else {  // x * HardSigmoid(x) with alpha 1/6, beta 1/2: the same function, two nodes
        const std::string gate = helper("gate");
        auto& hs = emit("HardSigmoid", gate, {in(0)}, {gate});
        set_float(hs, "alpha", 1.0 / 6.0);
        set_float(hs, "beta", 0.5);
        emit("Mul", {in(0), gate}, {out(0)});
      }
    } else if (op == "silu") {  // x * sigmoid(x)
      const std::string gate = helper("sigmoid");
      emit("Sigmoid", gate, {in(0)}, {gate});
      emit("Mul", {in(0), gate}, {out(0)});
    } else if (op == "clip") {
      const DType dtype = input_dtype(0);
      emit("Clip", {in(0), scalar_initializer("min", dtype, float_attr("min")), scalar_initializer("max", dtype, float_attr("max"))},
           {out(0)});
    } else if (op == "scale") {
      emit("Mul", {in(0), scalar_initializer("factor", input_dtype(0), float_attr("factor"))}, {out(0)});
    } else if (op == "add" || op == "sub" || op == "mul" || op == "div") {
      static const std::map<std::string, std::string> names = {{"add", "Add"}, {"sub", "Sub"}, {"mul", "Mul"}, {"div", "Div"}};
      emit(names.at(op), {in(0), in(1)}, {out(0)});
    } else if (op == "max_pool2d" || op == "max_pool2d_with_indices") {
      auto& node = emit("MaxPool", {in(0)}, {out(0)});  // the argmax output has no ONNX match (ONNX's indices are NCHW-flat)
      set(node, "kernel_shape", ints("window"));
      set(node, "strides", ints("stride"));
      set(node, "pads", pads4(ints("pad")));
      set(node, "dilations", ints("dilation"));
      set(node, "ceil_mode", std::int64_t{bool_attr("ceil_mode")});
    } else if (op == "max_pool1d") {
      auto& node = emit("MaxPool", {in(0)}, {out(0)});
      set(node, "kernel_shape", Ints{int_attr("window")});
      set(node, "strides", Ints{int_attr("stride")});
      set(node, "pads", Ints{int_attr("pad"), int_attr("pad")});
      set(node, "dilations", Ints{int_attr("dilation")});
      set(node, "ceil_mode", std::int64_t{bool_attr("ceil_mode")});
    } else if (op == "avg_pool2d") {
      auto& node = emit("AveragePool", {in(0)}, {out(0)});
      set(node, "kernel_shape", ints("window"));
      set(node, "strides", ints("stride"));
      set(node, "pads", pads4(ints("pad")));
      set(node, "ceil_mode", std::int64_t{bool_attr("ceil_mode")});
      set(node, "count_include_pad", std::int64_t{bool_attr("count_include_pad")});
    } else if (op == "adaptive_avg_pool2d") {
      translate_adaptive_avg_pool();
    } else if (op == "global_avg_pool" || op == "global_max_pool") {
      // dagrad's global pools return [N,C]; ONNX's keep [N,C,1,1].
      const std::string pooled = helper("pool");
      emit(op == "global_avg_pool" ? "GlobalAveragePool" : "GlobalMaxPool", pooled, {in(0)}, {pooled});
      set(emit("Flatten", {pooled}, {out(0)}), "axis", std::int64_t{1});
    } else if (op == "flatten") {
      set(emit_unary("Flatten"), "axis", std::int64_t{1});
    } else if (op == "reshape") {
      Ints shape = ints("shape");
      // Dim 0 copied from the input (0 in ONNX) keeps the batch symbolic.
      if (options_.symbolic_batch && input_batched(0) && output_batched_now(0) && !shape.empty() && shape[0] == batch_) shape[0] = 0;
      emit("Reshape", {in(0), ints_initializer("shape", shape)}, {out(0)});
    } else if (op == "broadcast_to") {
      Ints shape = ints("shape");
      // Expand broadcasts a 1 against the input's dim, so a batch dim stays symbolic.
      const std::size_t lead = shape.size() - input_shape(0).size();
      if (options_.symbolic_batch && input_batched(0) && lead == 0 && !shape.empty() && shape[0] == batch_) shape[0] = 1;
      emit("Expand", {in(0), ints_initializer("shape", shape)}, {out(0)});
    } else if (op == "sum_to") {
      translate_sum_to();
    } else if (op == "concat") {
      std::vector<std::string> inputs;
      for (std::size_t i = 0; i < n.inputs.size(); ++i) inputs.push_back(in(i));
      set(emit("Concat", inputs, {out(0)}), "axis", int_attr("axis"));
    } else if (op == "split") {
      std::vector<std::string> outputs;
      for (std::size_t i = 0; i < n.outputs.size(); ++i) outputs.push_back(out(i));
      set(emit("Split", {in(0), ints_initializer("split", ints("sizes"))}, outputs), "axis", int_attr("axis"));
    } else if (op == "slice") {
      const Ints starts = ints("starts");
      Ints axes = ints("axes"), steps = ints("steps");
      if (axes.empty())
        for (std::size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<std::int64_t>(i));
      if (steps.empty()) steps.assign(starts.size(), 1);
      emit("Slice", {in(0), ints_initializer("starts", starts), ints_initializer("ends", ints("ends")), ints_initializer("axes", axes),
                     ints_initializer("steps", steps)},
           {out(0)});
    } else if (op == "transpose") {
      set(emit_unary("Transpose"), "perm", ints("perm"));
    } else if (op == "pad") {
      const std::string mode = string_attr("mode");
      std::vector<std::string> inputs = {in(0), ints_initializer("pads", ints("pads"))};
      if (mode == "constant") inputs.push_back(scalar_initializer("value", input_dtype(0), float_attr("value")));
      set(emit("Pad", inputs, {out(0)}), "mode", mode);
    } else if (op == "reduce_mean" || op == "reduce_max" || op == "reduce_sum") {
      translate_reduce();
    } else if (op == "softmax" || op == "log_softmax") {
      set(emit_unary(op == "softmax" ? "Softmax" : "LogSoftmax"), "axis", int_attr("axis"));
    } else if (op == "softmax_cross_entropy") {
      if (float_attr("label_smoothing") != 0)
        no_form("label_smoothing " + to_string(attr_of(n, "label_smoothing")) + " (ONNX's SoftmaxCrossEntropyLoss has none)");
      auto& node = emit("SoftmaxCrossEntropyLoss", {in(0), in(1)}, {out(0)});
      set(node, "reduction", std::string("mean"));
      if (int_attr("ignore_index") != -100) set(node, "ignore_index", int_attr("ignore_index"));
    } else if (op == "nll_loss") {
      auto& node = emit("NegativeLogLikelihoodLoss", {in(0), in(1), in(2)}, {out(0)});
      set(node, "reduction", string_attr("reduction"));
      if (int_attr("ignore_index") != -100) set(node, "ignore_index", int_attr("ignore_index"));
    } else if (op == "dropout") {
      translate_dropout();
    } else {
      no_form();
    }
  }

  void translate_matmul() {
    const bool ta = bool_attr("transpose_a"), tb = bool_attr("transpose_b");
    if (!ta && !tb) {
      emit("MatMul", {in(0), in(1)}, {out(0)});
    } else if (input_shape(0).size() == 2 && input_shape(1).size() == 2) {
      auto& node = emit("Gemm", {in(0), in(1)}, {out(0)});
      set(node, "transA", std::int64_t{ta});
      set(node, "transB", std::int64_t{tb});
    } else {  // batched: swap the last two dims explicitly
      auto swapped = [&](std::size_t i, const char* what) {
        const std::size_t rank = input_shape(i).size();
        Ints perm(rank);
        for (std::size_t d = 0; d < rank; ++d) perm[d] = static_cast<std::int64_t>(d);
        std::swap(perm[rank - 1], perm[rank - 2]);
        const std::string name = helper(what);
        set(emit("Transpose", name, {in(i)}, {name}), "perm", perm);
        return name;
      };
      const std::string a = ta ? swapped(0, "transpose_a") : in(0);
      const std::string b = tb ? swapped(1, "transpose_b") : in(1);
      emit("MatMul", {a, b}, {out(0)});
    }
  }

  // Inference: one output. Training, opset 14+: training_mode=1 with the running statistics as
  // outputs 1 and 2; opset 13: the pre-14 form (running mean, running var, saved mean, saved var).
  // ONNX's momentum weighs the old running value: 1 - dagrad's.
  void translate_batch_norm() {
    const bool training = bool_attr("training");
    std::vector<std::string> outputs = {out(0)};
    if (training) {
      outputs.push_back(out(3));
      outputs.push_back(out(4));
      if (options_.opset < 14) {
        outputs.push_back(helper("saved_mean"));
        outputs.push_back(helper("saved_var"));
      }
    }
    auto& node = emit("BatchNormalization", {in(0), in(1), in(2), in(3), in(4)}, outputs);
    set_float(node, "epsilon", float_attr("eps"));
    set_float(node, "momentum", 1.0 - float_attr("momentum"));
    if (training && options_.opset >= 14) set(node, "training_mode", std::int64_t{1});
  }

  // Exact only when the windows do not overlap: an input an integer multiple of the output.
  void translate_adaptive_avg_pool() {
    const Ints size = ints("output_size");
    const Shape& x = input_shape(0);
    const std::int64_t h = x.at(2), w = x.at(3);
    if (size.at(0) == h && size.at(1) == w) {
      emit_unary("Identity");
    } else if (h % size.at(0) == 0 && w % size.at(1) == 0) {
      auto& node = emit_unary("AveragePool");
      set(node, "kernel_shape", Ints{h / size[0], w / size[1]});
      set(node, "strides", Ints{h / size[0], w / size[1]});
    } else {
      no_form("output_size " + to_string(attr_of(*node_, "output_size")) + " does not divide the input " + to_string(x) +
              " (overlapping windows have no ONNX pooling)");
    }
  }

  // ReduceSum over the broadcast dims (keepdims), then Reshape to the target.
  void translate_sum_to() {
    Ints target = ints("shape");
    const Shape& x = input_shape(0);
    const std::size_t lead = x.size() - target.size();
    Ints axes;
    for (std::size_t d = 0; d < x.size(); ++d)
      if (d < lead || (target[d - lead] == 1 && x[d] != 1)) axes.push_back(static_cast<std::int64_t>(d));
    if (options_.symbolic_batch && lead == 0 && input_batched(0) && output_batched_now(0)) target[0] = 0;
    const std::string summed = helper("sum");
    auto& sum = emit("ReduceSum", summed, {in(0), ints_initializer("axes", axes)}, {summed});
    set(sum, "keepdims", std::int64_t{1});
    set(sum, "noop_with_empty_axes", std::int64_t{1});
    emit("Reshape", {summed, ints_initializer("target", target)}, {out(0)});
  }

  // Empty axes reduce nothing in dagrad but everything in ONNX before opset 18: an Identity then.
  void translate_reduce() {
    const Ints axes = ints("axes");
    const std::int64_t keepdims = bool_attr("keepdims");
    if (axes.empty()) {
      emit_unary("Identity");
      return;
    }
    if (node_->op == "reduce_sum") {
      set(emit("ReduceSum", {in(0), ints_initializer("axes", axes)}, {out(0)}), "keepdims", keepdims);
      return;
    }
    auto& node = emit_unary(node_->op == "reduce_mean" ? "ReduceMean" : "ReduceMax");
    set(node, "axes", axes);
    set(node, "keepdims", keepdims);
  }

  // Dropout: ratio and training_mode are inputs (opset 12+); dagrad's mask seed is ONNX's seed.
  // The mask output is left out: ONNX's is bool, dagrad's the scale factors.
  void translate_dropout() {
    const bool training = bool_attr("training");
    std::vector<std::string> inputs = {in(0), scalar_initializer("ratio", input_dtype(0), float_attr("p"))};
    if (training) inputs.push_back(bool_initializer("training_mode", true));
    set(emit("Dropout", inputs, {out(0)}), "seed", int_attr("seed"));
  }

  const Model& model_;
  const Graph& g_;
  OnnxExportOptions options_;
  onnx::GraphProto* graph_ = nullptr;
  const Node* node_ = nullptr;
  std::int64_t batch_ = -1;
  std::vector<std::string> onnx_name_;  // per value: its ONNX name once defined ("" before)
  std::vector<bool> batched_;           // per value: dim 0 is the batch
  std::set<std::string> taken_;
  std::vector<std::string> unsupported_;
};

}  // namespace

std::string export_onnx_bytes(const Model& model, const OnnxExportOptions& options) {
  Exporter exporter(model, options);
  onnx::ModelProto proto = exporter.run();
  detail::full_check(proto, "ONNX export of " + exporter.model_label());
  std::string bytes;
  if (!proto.SerializeToString(&bytes))
    fail("ONNX export of ", exporter.model_label(), ": the model does not serialize (", proto.ByteSizeLong(),
         " bytes; one protobuf holds less than 2 GiB)");
  return bytes;
}

void export_onnx(const Model& model, const std::string& path, const OnnxExportOptions& options) {
  std::string bytes;
  try {
    bytes = export_onnx_bytes(model, options);
  } catch (const Error& e) {
    fail(path, ": ", e.what());
  }
  write_file_atomically(path, bytes);
}

}  // namespace dagrad::interop
