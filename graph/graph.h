#pragma once
// The graph IR: a vector of values and a vector of nodes. Shape and dtype inference runs when a
// node is added, so an error points at the line of the DSL that built it.
#include <any>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "graph/attrs.h"
#include "graph/tensor.h"

namespace dagrad {

struct OpDef;
class Graph;

using ValueId = std::int32_t;
inline constexpr ValueId kNoValue = -1;

struct TensorType {
  DType dtype = DType::f32;
  Shape shape;
  bool operator==(const TensorType&) const = default;
};
std::string to_string(const TensorType& type);  // "f32[64,3,32,32]"

enum class ValueKind {
  input,      // fed at run time (images, labels)
  parameter,  // trainable weights, created with a named seeded initializer
  state,      // non-trainable persistent tensors (batch-norm running statistics)
  constant,   // a tensor stored in the graph
  result,     // the output of a node
};
const char* value_kind_name(ValueKind kind);

// How a parameter or state tensor is first filled. Deterministic for a given seed on any platform.
struct Initializer {
  std::string kind = "zeros";  // zeros | ones | constant | he_normal | uniform
  double value = 0;            // constant: the value; uniform: the bound (U(-value, value))
  std::int64_t fan_in = 1;     // he_normal: std = sqrt(2 / fan_in)
  std::uint64_t seed = 0;
};
Tensor initialize(const Initializer& init, const TensorType& type);

struct ValueInfo {
  std::string name;
  TensorType type;
  ValueKind kind = ValueKind::result;
  std::int32_t producer = -1;      // node index for results
  std::int32_t output_index = 0;   // which output of the producer
  Initializer init;                // parameters and state
  std::shared_ptr<const Tensor> constant;  // constants
};

struct Node {
  std::string name;
  std::string op;
  int op_version = 1;
  AttrMap attrs;              // canonical: every attribute of the op, defaults filled in
  std::any parsed_attrs;      // the op's typed attribute struct
  std::vector<ValueId> inputs;
  std::vector<ValueId> outputs;
  bool backward = false;      // made by autodiff
  const OpDef* def = nullptr;
};

// A handle to a value of a graph: what DSL functions take and return.
class Value {
 public:
  Value() = default;
  Value(Graph* graph, ValueId id) : graph_(graph), id_(id) {}
  bool valid() const { return graph_ != nullptr && id_ != kNoValue; }
  explicit operator bool() const { return valid(); }
  ValueId id() const { return id_; }
  Graph& graph() const;
  // By value: adding nodes grows the graph's value list, so a reference could dangle.
  TensorType type() const;
  Shape shape() const { return type().shape; }
  DType dtype() const { return type().dtype; }
  int rank() const { return static_cast<int>(shape().size()); }
  std::int64_t dim(int axis) const;  // negative axes count from the end
  std::string name() const;

 private:
  Graph* graph_ = nullptr;
  ValueId id_ = kNoValue;
};

class Graph {
 public:
  Graph() = default;
  // Values hold no pointers into the graph, so copies are independent and cheap enough.
  Graph(const Graph&) = default;
  Graph& operator=(const Graph&) = default;

  Value input(const std::string& name, TensorType type);
  Value parameter(const std::string& name, TensorType type, Initializer init);
  Value state(const std::string& name, TensorType type, Initializer init);
  Value constant(const std::string& name, Tensor value);
  Value scalar_constant(DType dtype, double value);  // auto-named

  // Adds a node, infers its output types (throws Error naming op, node and input shapes) and
  // returns its outputs. An empty name is replaced by a unique one from the current scope.
  std::vector<Value> add_node(const std::string& op, std::vector<Value> inputs, AttrMap attrs = {},
                              std::string name = "");
  // Same, from ids (for autodiff and loaders).
  std::vector<ValueId> add_node_ids(const std::string& op, const std::vector<ValueId>& inputs, AttrMap attrs,
                                    std::string name, bool backward = false);

  // Declarations of what the graph computes.
  void mark_output(Value v);
  void set_loss(Value v);
  // After a run, state `state` takes the value of `next` (batch-norm running statistics).
  void add_state_update(ValueId state, ValueId next);
  // Records that `grad` is d(loss)/d(`wrt`) (autodiff does this; trainers and files read it).
  void add_gradient(ValueId wrt, ValueId grad);
  // Renames a result value (autodiff names gradients "grad/<name>"); throws on a clash.
  void rename_value(ValueId id, const std::string& name);

  // Name scopes for automatic node and parameter names ("stage1.block0.conv1").
  void push_scope(const std::string& name);
  void pop_scope();
  std::string scoped(const std::string& name) const;
  std::string unique_name(const std::string& base);

  const std::vector<ValueInfo>& values() const { return values_; }
  const std::vector<Node>& nodes() const { return nodes_; }
  std::vector<Node>& mutable_nodes() { return nodes_; }
  const ValueInfo& value(ValueId id) const;
  const Node& node(std::int32_t index) const;
  Value handle(ValueId id) { return Value(this, id); }
  std::optional<ValueId> find(const std::string& name) const;
  // Values and nodes share one namespace: true if a value or a node has this name.
  bool name_taken(const std::string& name) const { return value_by_name_.count(name) || node_by_name_.count(name); }
  ValueId at(const std::string& name) const;  // throws naming the missing value

  const std::vector<ValueId>& outputs() const { return outputs_; }
  ValueId loss() const { return loss_; }
  const std::vector<std::pair<ValueId, ValueId>>& state_updates() const { return state_updates_; }
  const std::vector<std::pair<ValueId, ValueId>>& gradients() const { return gradients_; }

  std::vector<ValueId> values_of_kind(ValueKind kind) const;
  std::int64_t parameter_count() const;  // trainable elements

  // Re-runs shape inference with new input shapes (e.g. another batch size); throws on mismatch.
  void reshape_inputs(const std::unordered_map<std::string, Shape>& shapes);
  // Sets the "training" attribute of every op that has one (batch_norm, dropout).
  void set_training(bool training);

  // Node indices in dependency order (Boost.Graph topological sort); throws naming a node on a cycle.
  std::vector<std::int32_t> topological_order() const;

 private:
  ValueId add_value(ValueInfo info);
  std::vector<TensorType> infer_node(Node& node) const;

  std::vector<ValueInfo> values_;
  std::vector<Node> nodes_;
  std::unordered_map<std::string, ValueId> value_by_name_;
  std::unordered_map<std::string, std::int32_t> node_by_name_;
  std::vector<ValueId> outputs_;
  ValueId loss_ = kNoValue;
  std::vector<std::pair<ValueId, ValueId>> state_updates_;
  std::vector<std::pair<ValueId, ValueId>> gradients_;
  std::vector<std::string> scopes_;
  std::unordered_map<std::string, int> name_counters_;
};

// RAII name scope: { Scope s(g, "block1"); ... }
class Scope {
 public:
  Scope(Graph& graph, const std::string& name) : graph_(graph) { graph_.push_scope(name); }
  ~Scope() { graph_.pop_scope(); }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  Graph& graph_;
};

}  // namespace dagrad
