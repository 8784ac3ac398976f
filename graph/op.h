#pragma once
// What an op is: attributes, shape rule, forward kernels and a gradient written as graph ops.
// Each op lives in ops/<name>.cc and registers one OpDef through define_op<Attrs>().
#include <any>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "graph/attrs.h"
#include "graph/graph.h"
#include "graph/tensor.h"

namespace dagrad {

// Given to an op's shape rule. fail() throws an Error that names the op, the node and the input types.
class InferContext {
 public:
  InferContext(const std::string& op, const std::string& node, std::vector<TensorType> inputs)
      : op_(op), node_(node), inputs_(std::move(inputs)) {}
  int num_inputs() const { return static_cast<int>(inputs_.size()); }
  const TensorType& input(int i) const;
  const Shape& shape(int i) const { return input(i).shape; }
  DType dtype(int i) const { return input(i).dtype; }
  std::string where() const;  // "op 'conv2d' node 'stem.conv'"

  template <class... Parts> [[noreturn]] void fail(const Parts&... parts) const {
    dagrad::fail(where(), " with inputs ", describe_inputs(), ": ", parts...);
  }
  // Common checks, each failing with a precise message.
  void expect_rank(int i, int rank) const;
  void expect_float(int i) const;
  void expect_dtype(int i, DType dtype) const;
  void expect_same_dtype(int i, int j) const;
  void expect_same_shape(int i, int j) const;

 private:
  std::string describe_inputs() const;
  std::string op_;
  std::string node_;
  std::vector<TensorType> inputs_;
};

// Given to a forward kernel: the inputs, the preallocated outputs and the run's settings.
class KernelContext {
 public:
  KernelContext(const Node& node, std::vector<const Tensor*> inputs, std::vector<Tensor*> outputs,
                std::uint64_t step_seed)
      : node_(node), inputs_(std::move(inputs)), outputs_(std::move(outputs)), step_seed_(step_seed) {}
  int num_inputs() const { return static_cast<int>(inputs_.size()); }
  int num_outputs() const { return static_cast<int>(outputs_.size()); }
  const Tensor& input(int i) const { return *inputs_.at(i); }
  Tensor& output(int i) const { return *outputs_.at(i); }
  const Node& node() const { return node_; }
  // Differs between runs of a plan; ops that draw random numbers (dropout) mix it with their seed.
  std::uint64_t step_seed() const { return step_seed_; }

 private:
  const Node& node_;
  std::vector<const Tensor*> inputs_;
  std::vector<Tensor*> outputs_;
  std::uint64_t step_seed_;
};

// Given to a gradient rule: the forward node's inputs and outputs as values of the graph being
// extended, and the incoming gradients dy(i) (invalid when output i gets no gradient).
class GradContext {
 public:
  GradContext(Graph& graph, const Node& node, std::vector<Value> dys, std::vector<bool> needs)
      : graph_(graph), node_(node), dys_(std::move(dys)), needs_(std::move(needs)) {}
  Value input(int i) const { return Value(&graph_, node_.inputs.at(i)); }
  Value output(int i) const { return Value(&graph_, node_.outputs.at(i)); }
  Value dy(int i = 0) const { return dys_.at(i); }
  int num_inputs() const { return static_cast<int>(node_.inputs.size()); }
  // Whether input i's gradient is wanted; rules may skip work for the others.
  bool needs(int i) const { return needs_.at(i); }
  Shape shape(int i) const { return input(i).shape(); }  // a copy: rules add nodes, which may move values
  Graph& graph() const { return graph_; }
  const Node& node() const { return node_; }

 private:
  Graph& graph_;
  const Node& node_;
  std::vector<Value> dys_;
  std::vector<bool> needs_;
};

// A sample for gradient checks and tests: attributes plus input descriptions.
struct ExampleInput {
  Shape shape;
  DType dtype = DType::f64;  // i64 inputs are drawn as integers in [low, high)
  double low = -1, high = 1;
  double min_abs = 0;        // keep values away from a kink at 0 (relu, max pooling ties)
};
struct OpExample {
  std::string label;         // "stride2_pad1"
  AttrMap attrs;
  std::vector<ExampleInput> inputs;
};

struct OpDef {
  std::string name;
  int version = 1;
  std::string doc;
  std::vector<std::string> inputs;   // a trailing '?' marks an optional input
  std::vector<std::string> outputs;
  std::vector<AttrSpec> attrs;
  std::vector<int> nondifferentiable_inputs;  // labels, integer inputs, running statistics
  std::vector<OpExample> examples;

  // Type-erased; define_op<A>() fills these from typed functions.
  std::function<std::any(const AttrMap&, const std::string& where)> parse;
  std::function<AttrMap(const std::any&)> canonical;
  std::function<std::vector<TensorType>(const std::any&, InferContext&)> infer;
  std::function<void(const std::any&, KernelContext&)> forward;
  std::function<std::vector<Value>(const std::any&, GradContext&)> grad;  // empty: not differentiable

  int min_inputs() const;
  int max_inputs() const { return static_cast<int>(inputs.size()); }
  bool differentiable() const { return static_cast<bool>(grad); }
};

template <class A> struct OpSpec {
  std::string name;
  int version = 1;
  std::string doc;
  std::vector<std::string> inputs;
  std::vector<std::string> outputs = {"y"};
  std::vector<int> nondifferentiable_inputs;
  std::vector<OpExample> examples;
  std::function<std::vector<TensorType>(const A&, InferContext&)> infer;
  std::function<void(const A&, KernelContext&)> forward;
  std::function<std::vector<Value>(const A&, GradContext&)> grad;
};

template <class A> OpDef define_op(OpSpec<A> spec) {
  OpDef def;
  def.name = spec.name;
  def.version = spec.version;
  def.doc = spec.doc;
  def.inputs = spec.inputs;
  def.outputs = spec.outputs;
  def.attrs = attr_specs<A>();
  def.nondifferentiable_inputs = spec.nondifferentiable_inputs;
  def.examples = spec.examples;
  def.parse = [](const AttrMap& map, const std::string& where) { return std::any(parse_attrs<A>(map, where)); };
  def.canonical = [](const std::any& a) { return write_attrs(std::any_cast<const A&>(a)); };
  def.infer = [f = spec.infer](const std::any& a, InferContext& c) { return f(std::any_cast<const A&>(a), c); };
  def.forward = [f = spec.forward](const std::any& a, KernelContext& c) { f(std::any_cast<const A&>(a), c); };
  if (spec.grad)
    def.grad = [f = spec.grad](const std::any& a, GradContext& c) { return f(std::any_cast<const A&>(a), c); };
  return def;
}

class OpRegistry {
 public:
  void add(OpDef def);  // throws on a duplicate name
  const OpDef* find(const std::string& name) const;
  const OpDef& at(const std::string& name) const;  // throws "unknown op"
  std::vector<const OpDef*> all() const;           // sorted by name

 private:
  std::map<std::string, std::unique_ptr<OpDef>> ops_;
};

// The process-wide registry, filled on first use by ops::register_all_ops (a generated list).
const OpRegistry& op_registry();

// Typed attributes of a node, for kernels and rules of other ops.
template <class A> const A& node_attrs(const Node& node) { return std::any_cast<const A&>(node.parsed_attrs); }

}  // namespace dagrad
