#include "graph/graph.h"

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/topological_sort.hpp>
#include <cmath>

#include "graph/op.h"

namespace dagrad {

std::string to_string(const TensorType& type) { return std::string(dtype_name(type.dtype)) + to_string(type.shape); }

const char* value_kind_name(ValueKind kind) {
  switch (kind) {
    case ValueKind::input: return "input";
    case ValueKind::parameter: return "parameter";
    case ValueKind::state: return "state";
    case ValueKind::constant: return "constant";
    case ValueKind::result: return "result";
  }
  return "invalid";
}

// ---- deterministic initializers -------------------------------------------------------------
namespace {
std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
double uniform01(std::uint64_t& state) { return (splitmix64(state) >> 11) * 0x1.0p-53; }
}  // namespace

Tensor initialize(const Initializer& init, const TensorType& type) {
  Tensor t(type.dtype, type.shape);
  std::uint64_t rng = init.seed;
  auto fill_with = [&](auto draw) {
    for (std::int64_t i = 0; i < t.numel(); ++i) {
      double v = draw();
      if (type.dtype == DType::f32) t.data<float>()[i] = static_cast<float>(v);
      else if (type.dtype == DType::f64) t.data<double>()[i] = v;
      else t.data<std::int64_t>()[i] = static_cast<std::int64_t>(v);
    }
  };
  if (init.kind == "zeros") {
  } else if (init.kind == "ones") {
    t.fill(1);
  } else if (init.kind == "constant") {
    t.fill(init.value);
  } else if (init.kind == "uniform") {
    fill_with([&] { return (2 * uniform01(rng) - 1) * init.value; });
  } else if (init.kind == "he_normal") {
    if (init.fan_in <= 0) fail("he_normal initializer needs a positive fan_in, got ", init.fan_in);
    double stddev = std::sqrt(2.0 / static_cast<double>(init.fan_in));
    fill_with([&] {  // Box-Muller on our own generator: identical on every platform
      double u1 = uniform01(rng), u2 = uniform01(rng);
      return stddev * std::sqrt(-2 * std::log(1 - u1)) * std::cos(2 * M_PI * u2);
    });
  } else {
    fail("unknown initializer '", init.kind, "' (expected zeros, ones, constant, uniform or he_normal)");
  }
  return t;
}

// ---- Value ----------------------------------------------------------------------------------
Graph& Value::graph() const {
  if (!graph_) fail("use of an empty Value");
  return *graph_;
}
TensorType Value::type() const { return graph().value(id_).type; }
std::string Value::name() const { return graph().value(id_).name; }
std::int64_t Value::dim(int axis) const {
  int r = rank();
  int a = axis < 0 ? axis + r : axis;
  if (a < 0 || a >= r) fail("axis ", axis, " out of range for value '", name(), "' of shape ", to_string(shape()));
  return shape()[a];
}

// ---- Graph ----------------------------------------------------------------------------------
ValueId Graph::add_value(ValueInfo info) {
  if (info.name.empty()) fail("a value needs a name");
  if (value_by_name_.count(info.name)) fail("duplicate value name '", info.name, "'");
  element_count(info.type.shape);  // rejects negative and overflowing dims early
  auto id = static_cast<ValueId>(values_.size());
  value_by_name_[info.name] = id;
  values_.push_back(std::move(info));
  return id;
}

Value Graph::input(const std::string& name, TensorType type) {
  return Value(this, add_value({.name = name, .type = std::move(type), .kind = ValueKind::input}));
}
Value Graph::parameter(const std::string& name, TensorType type, Initializer init) {
  if (!is_float(type.dtype)) fail("parameter '", name, "' must be f32 or f64");
  return Value(this, add_value({.name = name, .type = std::move(type), .kind = ValueKind::parameter, .init = init}));
}
Value Graph::state(const std::string& name, TensorType type, Initializer init) {
  return Value(this, add_value({.name = name, .type = std::move(type), .kind = ValueKind::state, .init = init}));
}
Value Graph::constant(const std::string& name, Tensor value) {
  TensorType type{value.dtype(), value.shape()};
  return Value(this, add_value({.name = name, .type = type, .kind = ValueKind::constant,
                                .constant = std::make_shared<const Tensor>(std::move(value))}));
}
Value Graph::scalar_constant(DType dtype, double value) {
  return constant(unique_name(scoped("const")), Tensor::scalar(dtype, value));
}

void Graph::push_scope(const std::string& name) { scopes_.push_back(name); }
void Graph::pop_scope() {
  if (scopes_.empty()) fail("pop_scope without a matching push_scope");
  scopes_.pop_back();
}
std::string Graph::scoped(const std::string& name) const {
  std::string s;
  for (const auto& scope : scopes_) s += scope + ".";
  return s + name;
}
std::string Graph::unique_name(const std::string& base) {
  if (!name_taken(base)) return base;
  int& counter = name_counters_[base];
  std::string name;
  do name = base + "_" + std::to_string(++counter);
  while (name_taken(name));
  return name;
}

const ValueInfo& Graph::value(ValueId id) const {
  if (id < 0 || id >= static_cast<ValueId>(values_.size())) fail("value id ", id, " out of range");
  return values_[id];
}
const Node& Graph::node(std::int32_t index) const {
  if (index < 0 || index >= static_cast<std::int32_t>(nodes_.size())) fail("node index ", index, " out of range");
  return nodes_[index];
}
std::optional<ValueId> Graph::find(const std::string& name) const {
  auto it = value_by_name_.find(name);
  if (it == value_by_name_.end()) return std::nullopt;
  return it->second;
}
ValueId Graph::at(const std::string& name) const {
  if (auto id = find(name)) return *id;
  fail("the graph has no value named '", name, "'");
}

std::vector<TensorType> Graph::infer_node(Node& node) const {
  const OpDef& def = *node.def;
  std::string where = "op '" + node.op + "' node '" + node.name + "'";
  int n = static_cast<int>(node.inputs.size());
  if (n < def.min_inputs() || n > def.max_inputs())
    fail(where, ": ", def.input_count_text(), ", got ", n);
  std::vector<TensorType> types;
  for (ValueId id : node.inputs) {
    if (id < 0 || id >= static_cast<ValueId>(values_.size())) fail(where, ": input value id ", id, " does not exist");
    types.push_back(values_[id].type);
  }
  InferContext context(node.op, node.name, types);
  std::vector<TensorType> out = def.infer(node.parsed_attrs, context);
  if (def.variadic_outputs() ? out.size() < def.outputs.size() : out.size() != def.outputs.size())
    fail(where, ": shape rule returned ", out.size(), " outputs, the op declares ", def.outputs.size(),
         def.variadic_outputs() ? " or more" : "");
  for (const TensorType& t : out) element_count(t.shape);
  return out;
}

std::vector<ValueId> Graph::add_node_ids(const std::string& op, const std::vector<ValueId>& inputs, AttrMap attrs,
                                         std::string name, bool backward) {
  const OpDef& def = op_registry().at(op);
  if (name.empty()) name = unique_name(scoped(op));
  if (node_by_name_.count(name) || value_by_name_.count(name)) fail("op '", op, "': duplicate node name '", name, "'");
  Node node;
  node.name = name;
  node.op = op;
  node.op_version = def.version;
  node.inputs = inputs;
  node.backward = backward;
  node.def = &def;
  node.parsed_attrs = def.parse(attrs, "op '" + op + "' node '" + name + "'");
  node.attrs = def.canonical(node.parsed_attrs);
  std::vector<TensorType> types = infer_node(node);

  auto index = static_cast<std::int32_t>(nodes_.size());
  node_by_name_[name] = index;
  for (std::size_t i = 0; i < types.size(); ++i) {
    std::string value_name = types.size() == 1 ? name : name + ":" + def.output_name(i);
    node.outputs.push_back(add_value({.name = value_name, .type = types[i], .kind = ValueKind::result,
                                      .producer = index, .output_index = static_cast<std::int32_t>(i)}));
  }
  std::vector<ValueId> outputs = node.outputs;
  nodes_.push_back(std::move(node));
  return outputs;
}

std::vector<Value> Graph::add_node(const std::string& op, std::vector<Value> inputs, AttrMap attrs, std::string name) {
  std::vector<ValueId> ids;
  for (const Value& v : inputs) {
    if (!v.valid()) fail("op '", op, "': input ", ids.size(), " is an empty Value");
    if (&v.graph() != this) fail("op '", op, "': input '", v.name(), "' belongs to another graph");
    ids.push_back(v.id());
  }
  std::vector<Value> out;
  for (ValueId id : add_node_ids(op, ids, std::move(attrs), std::move(name))) out.emplace_back(this, id);
  return out;
}

void Graph::mark_output(Value v) {
  if (&v.graph() != this) fail("mark_output: value belongs to another graph");
  for (ValueId id : outputs_)
    if (id == v.id()) return;
  outputs_.push_back(v.id());
}
void Graph::set_loss(Value v) {
  if (&v.graph() != this) fail("set_loss: value belongs to another graph");
  if (!v.shape().empty()) fail("the loss '", v.name(), "' must be a scalar, got shape ", to_string(v.shape()));
  loss_ = v.id();
  mark_output(v);
}
void Graph::add_state_update(ValueId state, ValueId next) {
  if (value(state).kind != ValueKind::state) fail("'", value(state).name, "' is not a state value");
  if (value(state).type != value(next).type)
    fail("state update of '", value(state).name, "': ", to_string(value(next).type), " does not match ",
         to_string(value(state).type));
  state_updates_.emplace_back(state, next);
}

void Graph::add_gradient(ValueId wrt, ValueId grad) {
  if (value(wrt).type != value(grad).type)
    fail("gradient of '", value(wrt).name, "' has type ", to_string(value(grad).type), ", expected ",
         to_string(value(wrt).type));
  gradients_.emplace_back(wrt, grad);
}

void Graph::rename_value(ValueId id, const std::string& name) {
  const std::string old = value(id).name;
  if (old == name) return;
  if (name_taken(name)) fail("cannot rename '", old, "' to '", name, "': name taken");
  value_by_name_.erase(old);
  value_by_name_[name] = id;
  values_[id].name = name;
}

std::vector<ValueId> Graph::values_of_kind(ValueKind kind) const {
  std::vector<ValueId> ids;
  for (std::size_t i = 0; i < values_.size(); ++i)
    if (values_[i].kind == kind) ids.push_back(static_cast<ValueId>(i));
  return ids;
}

std::int64_t Graph::parameter_count() const {
  std::int64_t n = 0;
  for (const ValueInfo& v : values_)
    if (v.kind == ValueKind::parameter) n += element_count(v.type.shape);
  return n;
}

void Graph::reshape_inputs(const std::unordered_map<std::string, Shape>& shapes) {
  for (const auto& [name, shape] : shapes) {
    ValueId id = at(name);
    if (values_[id].kind != ValueKind::input) fail("reshape_inputs: '", name, "' is not an input");
    element_count(shape);
    values_[id].type.shape = shape;
  }
  for (std::int32_t index : topological_order()) {
    Node& node = nodes_[index];
    std::vector<TensorType> types = infer_node(node);
    for (std::size_t i = 0; i < types.size(); ++i) values_[node.outputs[i]].type = types[i];
  }
}

void Graph::set_training(bool training) {
  for (Node& node : nodes_) {
    auto it = node.attrs.find("training");
    if (it == node.attrs.end()) continue;
    it->second = training;
    node.parsed_attrs = node.def->parse(node.attrs, "op '" + node.op + "' node '" + node.name + "'");
  }
}

namespace {
// Names one node that lies on a cycle: strip nodes with no pending predecessor (Kahn), then walk
// backwards among the rest until a node repeats.
std::string describe_cycle_node(const Graph& g) {
  std::size_t n = g.nodes().size();
  std::vector<std::vector<std::size_t>> preds(n), succs(n);
  for (std::size_t i = 0; i < n; ++i)
    for (ValueId id : g.nodes()[i].inputs) {
      std::int32_t p = g.value(id).producer;
      if (g.value(id).kind == ValueKind::result && p >= 0) {
        preds[i].push_back(static_cast<std::size_t>(p));
        succs[static_cast<std::size_t>(p)].push_back(i);
      }
    }
  std::vector<std::size_t> pending(n);
  std::vector<std::size_t> ready;
  for (std::size_t i = 0; i < n; ++i)
    if ((pending[i] = preds[i].size()) == 0) ready.push_back(i);
  std::vector<bool> done(n, false);
  while (!ready.empty()) {
    std::size_t i = ready.back();
    ready.pop_back();
    done[i] = true;
    for (std::size_t s : succs[i])
      if (--pending[s] == 0) ready.push_back(s);
  }
  std::size_t at = 0;
  while (at < n && done[at]) ++at;
  if (at == n) return "(unknown)";
  std::vector<bool> visited(n, false);
  while (!visited[at]) {
    visited[at] = true;
    for (std::size_t p : preds[at])
      if (!done[p]) {
        at = p;
        break;
      }
  }
  return "'" + g.nodes()[at].name + "' (index " + std::to_string(at) + ", op '" + g.nodes()[at].op + "')";
}
}  // namespace

std::vector<std::int32_t> Graph::topological_order() const {
  using BoostGraph = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS>;
  BoostGraph g(nodes_.size());
  for (std::size_t i = 0; i < nodes_.size(); ++i)
    for (ValueId id : nodes_[i].inputs) {
      std::int32_t producer = value(id).producer;
      if (value(id).kind == ValueKind::result && producer >= 0) {
        if (static_cast<std::size_t>(producer) == i) fail("node '", nodes_[i].name, "' (index ", i, ") reads its own output");
        boost::add_edge(static_cast<std::size_t>(producer), i, g);
      }
    }
  std::vector<std::size_t> reversed;
  try {
    boost::topological_sort(g, std::back_inserter(reversed));
  } catch (const boost::not_a_dag&) {
    fail("the graph has a cycle through node ", describe_cycle_node(*this));
  }
  return {reversed.rbegin(), reversed.rend()};
}

}  // namespace dagrad
