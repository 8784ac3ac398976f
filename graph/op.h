#pragma once
// What an op is: attributes, shape rule, forward kernels and a gradient written as graph ops.
// Each op lives in ops/<name>.cc and registers one OpDef through define_op<Attrs>().
#include <any>
#include <cstdint>
#include <functional>
#include <map>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "graph/attrs.h"
#include "graph/batch_slice.h"
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
                std::uint64_t step_seed, const BatchSlice& batch_slice = {})
      : node_(node), inputs_(std::move(inputs)), outputs_(std::move(outputs)), step_seed_(step_seed),
        batch_slice_(batch_slice) {}
  int num_inputs() const { return static_cast<int>(inputs_.size()); }
  int num_outputs() const { return static_cast<int>(outputs_.size()); }
  const Tensor& input(int i) const { return *inputs_.at(i); }
  Tensor& output(int i) const { return *outputs_.at(i); }
  const Node& node() const { return node_; }
  // Differs between runs of a plan; ops that draw random numbers (dropout) mix it with their seed.
  std::uint64_t step_seed() const { return step_seed_; }
  // Where this run's batch sits in a data-parallel step (graph/batch_slice.h); empty by default.
  const BatchSlice& batch_slice() const { return batch_slice_; }

 private:
  const Node& node_;
  std::vector<const Tensor*> inputs_;
  std::vector<Tensor*> outputs_;
  std::uint64_t step_seed_;
  BatchSlice batch_slice_;
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

// Given to an op's FLOP rule: the node and the types of its inputs and outputs.
class FlopContext {
 public:
  FlopContext(const Node& node, std::vector<TensorType> inputs, std::vector<TensorType> outputs)
      : node_(node), inputs_(std::move(inputs)), outputs_(std::move(outputs)) {}
  const Node& node() const { return node_; }
  const Shape& input(int i) const { return inputs_.at(i).shape; }
  const Shape& output(int i) const { return outputs_.at(i).shape; }
  int num_outputs() const { return static_cast<int>(outputs_.size()); }
  // The product of the factors, each step overflow-checked: past int64 it throws an Error naming
  // the node and op, so a huge model's count is an error, never a wrapped number.
  std::int64_t product(std::initializer_list<std::int64_t> factors) const;
  // count * dims[from] * dims[from + 1] * ..., checked the same way.
  std::int64_t times_dims(std::int64_t count, const Shape& dims, std::size_t from) const;
  std::int64_t sum(std::initializer_list<std::int64_t> terms) const;

 private:
  [[noreturn]] void overflow() const;
  const Node& node_;
  std::vector<TensorType> inputs_, outputs_;
};

// result = a * b * ...; false when a step leaves int64.
bool checked_product(std::span<const std::int64_t> factors, std::int64_t& result);

// Activations a kernel can apply as an epilogue (see ChannelEpilogue).
enum class Activation { none, relu };

// A per-channel (dim 1) map applied by a kernel to its output while it is still in cache:
// y = T(double(y) * scale[c] + shift[c]), then the activation computed as its op computes it, so a
// fused run is bitwise equal to the separate ops.
struct ChannelEpilogue {
  const double* scale = nullptr;
  const double* shift = nullptr;
  Activation activation = Activation::none;
  // Added elementwise (in T, after the affine map, before the activation) when not null: a
  // residual add(y, residual) of the same shape folded in (OpSpec::epilogue_residual). scale and
  // shift may then be null: no affine map.
  const Tensor* residual = nullptr;
};

// An activation's gradient folded into the kernel that reads it (OpSpec::grad_prologue_input):
// that input, bound to the gradient dy reaching the activation's output, stands for
// act'(y) * dy computed on the fly as the activation's gradient op computes it (relu_grad).
struct ActivationGradPrologue {
  Activation activation = Activation::none;
  const Tensor* y = nullptr;  // the activation's forward output
};

// How an op's kernel treats the batch (dim 0 of its inputs that carry one, see
// runtime/canonical_batch.h): whether a data-parallel step split into slices (graph/batch_slice.h)
// still gives the bits of the whole batch.
enum class BatchReduction {
  none,           // no sum over the batch: each image's results depend on that image alone
  canonical,      // sums over the batch in the canonical order (ops/kernels/batch_groups.h) and
                  // normalizes by the global batch, finishing in-run sums through the slice's combiner
  non_canonical,  // sums over (or normalizes by) the batch some other way: a slice gives other bits
};

// Given to an op's batch-reduction trait: the shape rule's view of the inputs plus which of them
// carry the batch at dim 0.
struct BatchContext {
  const InferContext& infer;
  std::span<const bool> batched;  // per input
  bool any_batched() const {
    for (bool b : batched)
      if (b) return true;
    return false;
  }
};

struct OpDef {
  std::string name;
  int version = 1;
  std::string doc;
  std::vector<std::string> inputs;   // a trailing '?' marks an optional input, a last "xs..." one or more
  std::vector<std::string> outputs;  // a last "ys..." one or more (see output_name)
  std::vector<AttrSpec> attrs;
  std::vector<int> nondifferentiable_inputs;  // labels, integer inputs, running statistics
  std::vector<OpExample> examples;

  // Type-erased; define_op<A>() fills these from typed functions.
  std::function<std::any(const AttrMap&, const std::string& where)> parse;
  std::function<AttrMap(const std::any&)> canonical;
  std::function<std::vector<TensorType>(const std::any&, InferContext&)> infer;
  std::function<void(const std::any&, KernelContext&)> forward;
  std::function<std::vector<Value>(const std::any&, GradContext&)> grad;  // empty: not differentiable

  // Traits the runtime and analyses ask for instead of naming ops (see OpSpec for their meaning).
  bool writes_every_output = true;
  int in_place_input = -1;
  std::function<std::int64_t(const std::any&, const FlopContext&)> flops;  // empty: one per output element
  Activation activation = Activation::none;
  std::function<void(const std::any&, KernelContext&, const ChannelEpilogue&)> forward_with_epilogue;
  bool epilogue_residual = false;
  bool residual_add = false;
  Activation activation_grad = Activation::none;
  int grad_prologue_input = -1;
  std::function<void(const std::any&, KernelContext&, const ActivationGradPrologue&)> forward_with_grad_prologue;
  std::function<bool(const std::any&)> is_channel_affine;
  std::function<void(const std::any&, std::span<const Tensor* const>, std::span<double>, std::span<double>)> channel_affine;
  // Empty: BatchReduction::none for any attributes and inputs.
  std::function<BatchReduction(const std::any&, const BatchContext&)> batch_reduction;

  int min_inputs() const;
  int max_inputs() const;  // INT_MAX for a variadic last input
  bool variadic_inputs() const;
  // "takes 2 inputs", "takes 2 to 3 inputs", "takes at least 1 input": for errors.
  std::string input_count_text() const;
  // A last output "ys..." stands for one or more, as many as the shape rule returns (split).
  bool variadic_outputs() const;
  // Output i's name: outputs[i], or for the variadic ones the stem and its index ("ys0", "ys1", ...).
  std::string output_name(std::size_t i) const;
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

  // Whether the forward kernel writes every element of every output. When false the runtime
  // zero-fills the outputs first (scatter-add kernels that rely on a cleared buffer).
  bool writes_every_output = true;
  // The input whose buffer output 0 may take over when that input dies here (same type; each
  // element read before it is written by the same iteration). -1: none.
  int in_place_input = -1;
  // Multiply-adds count 2. Empty: one FLOP per output element (memory-bound ops).
  std::function<std::int64_t(const A&, const FlopContext&)> flops;
  // Fusion hooks. An op y = activation(x) that a kernel may apply as its epilogue.
  Activation activation = Activation::none;
  // A kernel that can apply a ChannelEpilogue to output 0 (conv2d); runs as forward otherwise.
  std::function<void(const A&, KernelContext&, const ChannelEpilogue&)> forward_with_epilogue;
  // forward_with_epilogue also adds the epilogue's residual (after the affine map, before the
  // activation), and takes an epilogue without an affine map (scale and shift null): batch_norm,
  // whose training-mode y feeds add and relu in a residual network, and conv2d (relu(conv + r)).
  bool epilogue_residual = false;
  // The op is y = x0 + x1 in T, elementwise where the shapes are equal (add): the residual sum a
  // kernel with epilogue_residual can absorb.
  bool residual_add = false;
  // An op (y, dy) -> dx that is this activation's gradient from its forward output (relu_grad).
  Activation activation_grad = Activation::none;
  // The input (a gradient) that forward_with_grad_prologue can take as act'(y) * dy, computed on
  // the fly from the activation's output (ActivationGradPrologue); -1: none.
  int grad_prologue_input = -1;
  std::function<void(const A&, KernelContext&, const ActivationGradPrologue&)> forward_with_grad_prologue;
  // An op that is, with these attributes, y0 = x * scale[c] + shift[c] per channel of input 0
  // (batch_norm in inference), its other inputs read-only parameters. channel_affine fills scale
  // and shift from those inputs (inputs[0] may be null: x is not needed) with the op's own arithmetic.
  std::function<bool(const A&)> is_channel_affine;
  std::function<void(const A&, std::span<const Tensor* const> inputs, std::span<double> scale, std::span<double> shift)>
      channel_affine;
  // How the kernel sums over the batch (BatchReduction); empty: it does not.
  std::function<BatchReduction(const A&, const BatchContext&)> batch_reduction;
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
  def.writes_every_output = spec.writes_every_output;
  def.in_place_input = spec.in_place_input;
  if (spec.flops)
    def.flops = [f = spec.flops](const std::any& a, const FlopContext& c) { return f(std::any_cast<const A&>(a), c); };
  def.activation = spec.activation;
  if (spec.forward_with_epilogue)
    def.forward_with_epilogue = [f = spec.forward_with_epilogue](const std::any& a, KernelContext& c,
                                                                 const ChannelEpilogue& e) { f(std::any_cast<const A&>(a), c, e); };
  def.epilogue_residual = spec.epilogue_residual;
  def.residual_add = spec.residual_add;
  def.activation_grad = spec.activation_grad;
  def.grad_prologue_input = spec.grad_prologue_input;
  if (spec.forward_with_grad_prologue)
    def.forward_with_grad_prologue = [f = spec.forward_with_grad_prologue](const std::any& a, KernelContext& c,
                                                                           const ActivationGradPrologue& p) {
      f(std::any_cast<const A&>(a), c, p);
    };
  if (spec.is_channel_affine && spec.channel_affine) {
    def.is_channel_affine = [f = spec.is_channel_affine](const std::any& a) { return f(std::any_cast<const A&>(a)); };
    def.channel_affine = [f = spec.channel_affine](const std::any& a, std::span<const Tensor* const> in,
                                                   std::span<double> scale, std::span<double> shift) {
      f(std::any_cast<const A&>(a), in, scale, shift);
    };
  }
  if (spec.batch_reduction)
    def.batch_reduction = [f = spec.batch_reduction](const std::any& a, const BatchContext& c) {
      return f(std::any_cast<const A&>(a), c);
    };
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
