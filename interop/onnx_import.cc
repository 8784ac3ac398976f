// The ONNX importer's driver: parses the ModelProto, checks opsets, turns graph inputs and
// initializers into dagrad values, gathers every unsupported op and attribute into one error,
// then translates node by node with the rules of onnx_rules.cc.
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <variant>
#include <sstream>

#include <google/protobuf/stubs/logging.h>  // LogSilencer ("stubs" is protobuf's own folder name)

#include "graph/error.h"
#include "graph/op.h"
#include "interop/onnx.h"
#include "interop/onnx_import_context.h"
#include "interop/onnx_internal.h"

#include "interop/onnx_validate.h"

namespace dagrad::interop {
namespace detail {

// ---- NodeContext -------------------------------------------------------------------------------

Graph& NodeContext::graph() { return importer_.graph(); }
const OnnxImportOptions& NodeContext::options() const { return importer_.options(); }
bool NodeContext::from_dagrad() const { return importer_.dagrad_producer; }

std::string NodeContext::where() const {
  return importer_.source() + ": node '" + name_ + "' (" + node_.op_type() + ", opset " + std::to_string(opset_) + ")";
}

Value NodeContext::input(int i) {
  if (!has_input(i)) fail_here("input ", i, " is required but missing");
  return importer_.value_of(node_.input(i), where());
}

const Tensor* NodeContext::constant_input(int i) {
  if (!has_input(i)) return nullptr;
  Symbol& s = importer_.symbol(node_.input(i), where());
  if (s.constant) return &*s.constant;
  if (s.origin == Symbol::Origin::graph_input && importer_.bound_inputs) {
    auto it = importer_.bound_inputs->find(node_.input(i));
    if (it != importer_.bound_inputs->end()) {
      s.constant = it->second;
      return &*s.constant;
    }
  }
  return nullptr;
}

Tensor NodeContext::required_constant(int i, const char* what) {
  if (!has_input(i)) fail_here(what, " (input ", i, ") is missing");
  const Tensor* t = constant_input(i);
  if (!t)
    fail_here(what, " (input ", i, " '", node_.input(i),
              "') must be known at import time (an initializer, a Constant or folded shape arithmetic); a value computed "
              "at run time is not supported");
  return *t;
}

Shape NodeContext::input_shape(int i) {
  if (!has_input(i)) fail_here("input ", i, " is required but missing");
  Symbol& s = importer_.symbol(node_.input(i), where());
  if (s.id != kNoValue) return graph().value(s.id).type.shape;
  if (s.constant) return s.constant->shape();
  return input(i).shape();
}

DType NodeContext::input_dtype(int i) {
  Symbol& s = importer_.symbol(node_.input(i), where());
  if (s.id != kNoValue) return graph().value(s.id).type.dtype;
  if (s.constant) return s.constant->dtype();
  return input(i).dtype();
}

const onnx::AttributeProto* NodeContext::attr(const char* name) const {
  for (const auto& a : node_.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

std::int64_t NodeContext::attr_int(const char* name, std::int64_t fallback) const {
  const auto* a = attr(name);
  if (!a) return fallback;
  if (a->type() != onnx::AttributeProto_AttributeType_INT) fail_here("attribute '", name, "' must be an INT");
  return a->i();
}
double NodeContext::attr_float(const char* name, double fallback) const {
  const auto* a = attr(name);
  if (!a) return fallback;
  if (a->type() != onnx::AttributeProto_AttributeType_FLOAT) fail_here("attribute '", name, "' must be a FLOAT");
  return float_as_written(a->f());
}

double float_as_written(float value) {
  // The shortest decimal that reads back as this float, read as a double: 1e-5f gives 1e-5, not
  // 9.99999974e-06, so dagrad's double attributes survive a trip through ONNX's float ones.
  char text[64];
  const auto written = std::to_chars(text, text + sizeof text, value);
  double result = value;
  std::from_chars(text, written.ptr, result);
  return result;
}

double decimal_round(double value) {
  char text[64];
  const int n = std::snprintf(text, sizeof text, "%.15g", value);
  double result = value;
  std::from_chars(text, text + n, result);
  return result;
}
std::string NodeContext::attr_string(const char* name, const std::string& fallback) const {
  const auto* a = attr(name);
  if (!a) return fallback;
  if (a->type() != onnx::AttributeProto_AttributeType_STRING) fail_here("attribute '", name, "' must be a STRING");
  return a->s();
}
std::optional<std::vector<std::int64_t>> NodeContext::attr_ints(const char* name) const {
  const auto* a = attr(name);
  if (!a) return std::nullopt;
  if (a->type() != onnx::AttributeProto_AttributeType_INTS) fail_here("attribute '", name, "' must be INTS");
  return std::vector<std::int64_t>(a->ints().begin(), a->ints().end());
}
std::optional<std::vector<double>> NodeContext::attr_floats(const char* name) const {
  const auto* a = attr(name);
  if (!a) return std::nullopt;
  if (a->type() != onnx::AttributeProto_AttributeType_FLOATS) fail_here("attribute '", name, "' must be FLOATS");
  return std::vector<double>(a->floats().begin(), a->floats().end());
}
std::optional<Tensor> NodeContext::attr_tensor(const char* name) const {
  const auto* a = attr(name);
  if (!a) return std::nullopt;
  if (a->type() != onnx::AttributeProto_AttributeType_TENSOR) fail_here("attribute '", name, "' must be a TENSOR");
  return tensor_from_proto(a->t(), where() + ": attribute '" + name + "'", importer_.base_dir(), importer_.options().max_bytes,
                           /*bool_as_i64=*/true);
}

std::vector<Value> NodeContext::add(const std::string& op, std::vector<Value> inputs, AttrMap attrs, const std::string& part) {
  std::string node_name = part.empty() ? name_ : name_ + "/" + part;
  node_name = graph().unique_name(node_name);
  try {
    return graph().add_node(op, std::move(inputs), std::move(attrs), node_name);
  } catch (const Error& e) {
    fail_here(e.what());
  }
}

Value NodeContext::constant(const std::string& part, Tensor tensor) {
  return graph().constant(graph().unique_name(name_ + "/" + part), std::move(tensor));
}

Value NodeContext::reshape(Value x, const Shape& shape, const std::string& part) {
  return add1("reshape", {x}, {{"shape", shape}}, part);
}

void NodeContext::set_output(int i, Value v) {
  if (!has_output(i)) return;
  const std::string& onnx_name = node_.output(i);
  Symbol& s = importer_.define(onnx_name);
  s.id = v.id();
  s.origin = Symbol::Origin::result;
  const ValueInfo& info = graph().value(v.id());
  // Only this node's own results take the ONNX name; a value passed through (Identity, Dropout
  // in inference) keeps the name it has.
  const auto made_here = [&](const std::string& node_name) {
    return node_name.rfind(name_, 0) == 0 && (node_name.size() == name_.size() || node_name[name_.size()] == '/' ||
                                              node_name[name_.size()] == '_');  // '_': unique_name's suffix
  };
  if (info.kind == ValueKind::result && !importer_.own_names.count(info.name) && info.producer >= 0 &&
      made_here(graph().node(info.producer).name)) {
    // Taken (a dagrad file whose value is named like its node, say): the value keeps its name;
    // the ONNX name still finds it through the symbol table.
    if (!graph().name_taken(onnx_name)) {
      graph().rename_value(v.id(), onnx_name);
      importer_.own_names.insert(onnx_name);
    }
  }
}

void NodeContext::set_output_constant(int i, Tensor t, bool boolean) {
  if (!has_output(i)) return;
  Symbol& s = importer_.define(node_.output(i));
  s.boolean = boolean;
  s.constant = std::move(t);
  s.origin = Symbol::Origin::folded;
}

void NodeContext::set_output_unsupported(int i, const std::string& why) {
  if (!has_output(i)) return;
  Symbol& s = importer_.define(node_.output(i));
  s.unsupported = why;
}

void NodeContext::mark_loss(int i) {
  if (has_output(i)) importer_.loss_values.insert(node_.output(i));
}

// ---- Importer ----------------------------------------------------------------------------------

Symbol& Importer::symbol(const std::string& onnx_name, const std::string& where) {
  auto it = symbols_.find(onnx_name);
  if (it == symbols_.end())
    fail(where, ": input '", onnx_name, "' is not defined before this node (not a graph input, initializer or earlier output)");
  if (!it->second.unsupported.empty()) fail(where, ": input '", onnx_name, "' is not supported: ", it->second.unsupported);
  return it->second;
}

Value Importer::value_of(const std::string& onnx_name, const std::string& where) {
  Symbol& s = symbol(onnx_name, where);
  if (s.id != kNoValue) return graph().handle(s.id);
  if (!s.constant) fail(where, ": input '", onnx_name, "' has no value");
  if (s.boolean) fail(where, ": input '", onnx_name, "' is a BOOL tensor used as data: unsupported element type BOOL");
  const Tensor& t = *s.constant;
  const std::string name = graph().find(onnx_name) ? graph().unique_name(onnx_name) : onnx_name;
  Value v;
  if (s.origin == Symbol::Origin::initializer && is_float(t.dtype())) {
    const TensorType type{t.dtype(), t.shape()};
    if (state_initializers.count(onnx_name)) {
      v = graph().state(name, type, Initializer{});
      model_.state[name] = t;
    } else {
      v = graph().parameter(name, type, Initializer{});
      model_.parameters[name] = t;
    }
  } else {
    v = graph().constant(name, t);
  }
  own_names.insert(name);
  s.id = v.id();
  return v;
}

namespace {

int default_domain_opset(const onnx::ModelProto& model, const std::string& source) {
  int opset = -1;
  std::vector<std::string> others;
  for (const auto& imp : model.opset_import()) {
    if (imp.domain().empty() || imp.domain() == "ai.onnx") {
      // Opsets 1 to 6 differ from 7 in the legacy broadcast attribute of the arithmetic ops, which
      // the rules handle; ONNX's conformance data holds such files (PyTorch's early exports).
      if (imp.version() < 1 || imp.version() > 17)
        fail(source, ": opset ", imp.version(), " of the default ONNX domain is not supported (dagrad imports opsets 1 to 17)");
      opset = static_cast<int>(imp.version());
    }
  }
  if (opset < 0) {
    if (model.ir_version() >= 3 || model.opset_import_size() > 0)
      fail(source, ": the model imports no opset of the default ONNX domain");
    opset = 7;
  }
  return opset;
}

std::string node_display_name(const onnx::NodeProto& node, int index) {
  return node.name().empty() ? node.op_type() + "_" + std::to_string(index) : node.name();
}

TensorType input_type(const onnx::ValueInfoProto& info, const OnnxImportOptions& options, const std::string& where,
                      std::vector<std::string>& problems) {
  if (!info.type().has_tensor_type()) {
    problems.push_back("graph input '" + info.name() + "': sequence, map and optional types are not supported (tensors only)");
    return {};
  }
  const auto& tt = info.type().tensor_type();
  TensorType type;
  const int et = tt.elem_type();
  if (et == onnx::TensorProto_DataType_FLOAT) type.dtype = DType::f32;
  else if (et == onnx::TensorProto_DataType_DOUBLE) type.dtype = DType::f64;
  else if (et == onnx::TensorProto_DataType_INT64) type.dtype = DType::i64;
  else {
    problems.push_back("graph input '" + info.name() + "': unsupported element type " + onnx_type_name(et) +
                       " (dagrad tensors are FLOAT, DOUBLE or INT64)");
    return type;
  }
  if (!tt.has_shape()) fail(where, ": graph input '", info.name(), "' has no shape; dagrad needs static shapes");
  for (int d = 0; d < tt.shape().dim_size(); ++d) {
    const auto& dim = tt.shape().dim(d);
    if (dim.has_dim_value()) {
      if (dim.dim_value() < 0) fail(where, ": graph input '", info.name(), "' dim ", d, " is negative (", dim.dim_value(), ")");
      type.shape.push_back(dim.dim_value());
    } else if (d == 0) {
      type.shape.push_back(options.batch);  // the symbolic batch
    } else {
      fail(where, ": graph input '", info.name(), "' dim ", d, " ('", dim.dim_param(),
           "') is symbolic; only the first (batch) dim may be");
    }
  }
  return type;
}

Model translate(const onnx::ModelProto& model, const std::string& source, const std::string& base_dir,
                const OnnxImportOptions& options, const TensorMap* bound_inputs) {
  const int opset = default_domain_opset(model, source);
  const auto& g = model.graph();
  Model result;
  Importer imp(result, options, source, base_dir);
  imp.bound_inputs = bound_inputs;
  imp.dagrad_producer = model.producer_name() == "dagrad";
  std::vector<std::string> problems;

  // Which initializers are batch-norm statistics (state, not parameters).
  for (const auto& node : g.node())
    if (node.op_type() == "BatchNormalization" && (node.domain().empty() || node.domain() == "ai.onnx"))
      for (int i = 3; i < std::min(5, node.input_size()); ++i) imp.state_initializers.insert(node.input(i));

  std::set<std::string> initializer_names;
  for (const auto& init : g.initializer()) {
    initializer_names.insert(init.name());
    const int et = init.data_type();
    // BOOL initializers are flags read at import time (Dropout's training_mode); used as data they
    // fail in the op that reads them.
    if (et != onnx::TensorProto_DataType_FLOAT && et != onnx::TensorProto_DataType_DOUBLE &&
        et != onnx::TensorProto_DataType_INT64 && et != onnx::TensorProto_DataType_BOOL) {
      problems.push_back("initializer '" + init.name() + "': unsupported element type " + onnx_type_name(et));
      continue;
    }
    Symbol& s = imp.define(init.name());
    s.constant = tensor_from_proto(init, source + ": initializer '" + init.name() + "'", base_dir, options.max_bytes,
                                   /*bool_as_i64=*/true);
    s.boolean = et == onnx::TensorProto_DataType_BOOL;
    s.origin = Symbol::Origin::initializer;
  }
  // Graph inputs that are not initializers (IR < 4 lists initializers as inputs too).
  for (const auto& in : g.input()) {
    if (initializer_names.count(in.name())) continue;
    const std::size_t before = problems.size();
    TensorType type = input_type(in, options, source, problems);
    if (problems.size() != before) {
      imp.define(in.name()).unsupported = problems.back();
      continue;
    }
    Symbol& s = imp.define(in.name());
    s.id = result.graph.input(in.name(), type).id();
    s.origin = Symbol::Origin::graph_input;
    imp.own_names.insert(in.name());
  }
  for (const auto& out : g.output()) {
    const int et = out.type().tensor_type().elem_type();
    if (out.type().has_sequence_type() || out.type().has_optional_type() || out.type().has_map_type())
      problems.push_back("graph output '" + out.name() + "': sequence, map and optional types are not supported");
    else if (out.type().has_tensor_type() && et != onnx::TensorProto_DataType_FLOAT && et != onnx::TensorProto_DataType_DOUBLE &&
        et != onnx::TensorProto_DataType_INT64)
      problems.push_back("graph output '" + out.name() + "': unsupported element type " + onnx_type_name(et));
  }

  // Float initializers that nodes use as graph values become parameters (or state) now, in the
  // file's order, so that a model exported and imported again lists its parameters (and so its
  // gradients) in the same order; those read only at import time (Clip's bounds) stay constants.
  if (problems.empty()) {
    std::set<std::string> used_as_values;
    for (const auto& node : g.node())
      for (int i = 0; i < node.input_size(); ++i)
        if (!input_read_at_import(node.op_type(), i)) used_as_values.insert(node.input(i));
    for (const auto& init : g.initializer()) {
      Symbol& s = imp.define(init.name());
      if (s.constant && is_float(s.constant->dtype()) && s.id == kNoValue && used_as_values.count(init.name()))
        imp.value_of(init.name(), source);
    }
  }

  // Every unsupported op type and attribute, before building anything.
  std::vector<const Rule*> rules;
  std::vector<std::string> names;
  std::set<std::string> used_names;
  for (int i = 0; i < g.node_size(); ++i) {
    const auto& node = g.node(i);
    std::string name = node_display_name(node, i);
    while (used_names.count(name)) name += "_";
    used_names.insert(name);
    names.push_back(name);
    const Rule* rule = nullptr;
    if (!node.domain().empty() && node.domain() != "ai.onnx") {
      problems.push_back(node.op_type() + " (node '" + name + "', domain '" + node.domain() + "'): not supported");
    } else if (!(rule = find_rule(node.op_type(), opset))) {
      problems.push_back(node.op_type() + " (node '" + name + "', opset " + std::to_string(opset) + "): not supported");
    } else if (rule->check) {
      std::vector<std::string> found;
      rule->check(node, opset, found);
      for (const auto& p : found) problems.push_back(node.op_type() + " '" + name + "': " + p);
    }
    rules.push_back(rule);
  }
  if (!problems.empty()) {
    std::ostringstream message;
    message << source << ": cannot import " << problems.size() << (problems.size() == 1 ? " item" : " items") << ": ";
    for (std::size_t i = 0; i < problems.size(); ++i) message << (i ? "; " : "") << problems[i];
    throw Error(message.str());
  }

  for (int i = 0; i < g.node_size(); ++i) {
    NodeContext ctx(imp, g.node(i), names[i], opset);
    rules[i]->translate(ctx);
    for (int k = 0; k < g.node(i).output_size(); ++k)
      if (ctx.has_output(k) && !imp.defined(g.node(i).output(k)))
        ctx.set_output_unsupported(k, "output " + std::to_string(k) + " of node '" + names[i] + "' (" +
                                          g.node(i).op_type() + ") is not produced by dagrad's translation");
  }

  for (const auto& out : g.output()) {
    const std::string where = source + ": graph output '" + out.name() + "'";
    Value v = imp.value_of(out.name(), where);
    const ValueInfo& info = result.graph.value(v.id());
    if (info.name != out.name()) {
      // A value that is also something else (an input, a parameter, another output): a copy
      // named as the ONNX output.
      v = result.graph.add_node("reshape", {v}, {{"shape", info.type.shape}}, result.graph.unique_name(out.name() + "/copy"))[0];
      result.graph.rename_value(v.id(), out.name());
    }
    const bool loss = imp.loss_values.count(out.name()) && v.shape().empty() && is_float(v.dtype());
    if (loss && result.graph.loss() == kNoValue) result.graph.set_loss(v);
    else result.graph.mark_output(v);
  }
  result.metadata["source"] = "onnx";
  if (!model.producer_name().empty()) result.metadata["onnx_producer"] = model.producer_name() + " " + model.producer_version();
  result.metadata["onnx_opset"] = std::to_string(opset);
  return result;
}

onnx::ModelProto parse_model(std::string_view bytes, const std::string& source_name, const OnnxImportOptions& options) {
  if (static_cast<std::int64_t>(bytes.size()) > options.max_bytes)
    fail(source_name, ": ", bytes.size(), " bytes, above the limit of ", options.max_bytes);
  if (bytes.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()))
    fail(source_name, ": ", bytes.size(), " bytes, above protobuf's 2 GiB message limit");
  onnx::ModelProto model;
  google::protobuf::LogSilencer silencer;  // the one-line error below says it; libprotobuf need not log too
  if (!model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    fail(source_name, ": not an ONNX model (protobuf parse failed: truncated or not a ModelProto)");
  if (!model.has_graph()) fail(source_name, ": the ModelProto has no graph");
  return model;
}

// Folding PyTorch's Shape -> Gather -> Concat -> Reshape chains writes the batch into reshape
// targets ([2, 512] at batch 2), so the graph could not be fed another batch later. The twin,
// translated at batch + 1, shows which target dim follows the batch: exactly one dim that is
// k * batch here and k * (batch + 1) there, every other dim equal. That dim becomes -1, and the
// shapes are inferred again as a check that the -1s say the same.
void free_batch_in_reshapes(Model& model, const Model& twin, std::int64_t batch) {
  std::vector<Node>& nodes = model.graph.mutable_nodes();
  if (twin.graph.nodes().size() != nodes.size()) return;
  bool changed = false;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    Node& node = nodes[i];
    const Node& other = twin.graph.nodes()[i];
    if (node.op != "reshape" || other.op != "reshape" || node.name != other.name) continue;
    auto* shape = std::get_if<std::vector<std::int64_t>>(&node.attrs.at("shape"));
    const auto* other_shape = std::get_if<std::vector<std::int64_t>>(&other.attrs.at("shape"));
    if (!shape || !other_shape || shape->size() != other_shape->size() || std::count(shape->begin(), shape->end(), -1)) continue;
    int batch_dim = -1, differing = 0;
    for (std::size_t d = 0; d < shape->size(); ++d) {
      const std::int64_t a = (*shape)[d], b = (*other_shape)[d];
      if (a == b) continue;
      ++differing;
      if (a > 0 && a % batch == 0 && b % (batch + 1) == 0 && a / batch == b / (batch + 1)) batch_dim = static_cast<int>(d);
    }
    if (differing != 1 || batch_dim < 0) continue;
    (*shape)[static_cast<std::size_t>(batch_dim)] = -1;
    node.parsed_attrs = node.def->parse(node.attrs, "op 'reshape' node '" + node.name + "'");
    changed = true;
  }
  if (!changed) return;
  std::unordered_map<std::string, Shape> shapes;
  for (ValueId id : model.graph.values_of_kind(ValueKind::input)) shapes[model.graph.value(id).name] = model.graph.value(id).type.shape;
  model.graph.reshape_inputs(shapes);
}

bool has_symbolic_batch(const onnx::GraphProto& graph) {
  for (const auto& input : graph.input()) {
    if (!input.type().has_tensor_type() || !input.type().tensor_type().has_shape()) continue;
    const auto& shape = input.type().tensor_type().shape();
    if (shape.dim_size() > 0 && !shape.dim(0).has_dim_value()) return true;
  }
  return false;
}

Model import_parsed(std::string_view bytes, const std::string& source_name, const std::string& base_dir,
                    const OnnxImportOptions& options, const TensorMap* bound_inputs) {
  if (options.batch < 1) fail(source_name, ": batch must be at least 1, got ", options.batch);
  onnx::ModelProto model = parse_model(bytes, source_name, options);
  validate_onnx_model(model, source_name, base_dir);
  Model result = translate(model, source_name, base_dir, options, bound_inputs);
  const auto& nodes = result.graph.nodes();
  if (has_symbolic_batch(model.graph()) && !bound_inputs &&
      std::any_of(nodes.begin(), nodes.end(), [](const Node& n) { return n.op == "reshape"; })) {
    OnnxImportOptions next = options;
    next.batch = options.batch + 1;
    // A file that imports at this batch but not at the next one keeps its fixed reshapes.
    std::optional<Model> twin;
    try {
      twin = translate(model, source_name, base_dir, next, bound_inputs);
    } catch (const Error&) {
    }
    if (twin) free_batch_in_reshapes(result, *twin, options.batch);
  }
  return result;
}

}  // namespace

Model import_onnx_bytes_bound(std::string_view bytes, const std::string& source_name, const std::string& base_dir,
                              const OnnxImportOptions& options, const TensorMap& bound_inputs) {
  return import_parsed(bytes, source_name, base_dir, options, &bound_inputs);
}

}  // namespace detail

Model import_onnx_bytes(std::string_view bytes, const std::string& source_name, const std::string& base_dir,
                        const OnnxImportOptions& options) {
  return detail::import_parsed(bytes, source_name, base_dir, options, nullptr);
}

Model import_onnx(const std::string& path, const OnnxImportOptions& options) {
  namespace fs = std::filesystem;
  const std::string bytes = detail::read_file_bytes(path, static_cast<std::uintmax_t>(std::max<std::int64_t>(options.max_bytes, 0)));
  std::string folder = fs::path(path).parent_path().string();
  if (folder.empty()) folder = ".";
  return detail::import_parsed(bytes, path, folder, options, nullptr);
}

}  // namespace dagrad::interop
