#include "graph/analysis.h"

#include <cmath>
#include <limits>

namespace dagrad {

namespace {
std::int64_t numel(const Graph& g, ValueId id) { return element_count(g.value(id).type.shape); }
const Shape& shape(const Graph& g, ValueId id) { return g.value(id).type.shape; }
}  // namespace

namespace {
// a * b * ..., each product checked; throws naming the node when it leaves int64.
class Checked {
 public:
  Checked(const Node& node, std::int64_t value) : node_(node), value_(value) {}
  Checked& operator*=(std::int64_t factor) {
    if (__builtin_mul_overflow(value_, factor, &value_)) overflow();
    return *this;
  }
  Checked& operator+=(std::int64_t term) {
    if (__builtin_add_overflow(value_, term, &value_)) overflow();
    return *this;
  }
  std::int64_t value() const { return value_; }

 private:
  [[noreturn]] void overflow() const {
    fail("the FLOP count of node '", node_.name, "' (", node_.op, ") overflows int64 (more than 9.2e18)");
  }
  const Node& node_;
  std::int64_t value_;
};
}  // namespace

std::int64_t node_flops(const Graph& g, const Node& node) {
  const std::string& op = node.op;
  if (op == "conv2d" || op == "conv1d") {
    // Every output element is a dot product over C * kernel elements of the filter.
    const Shape& w = shape(g, node.inputs[1]);
    Checked flops(node, 2);
    flops *= numel(g, node.outputs[0]);
    for (std::size_t i = 1; i < w.size(); ++i) flops *= w[i];
    return flops.value();
  }
  if (op == "conv2d_grad_input" || op == "conv2d_grad_filter") {
    // grad_input: the same products as the forward convolution that made dy (input 0);
    // grad_filter: one product per element of dy (input 1) and filter tap.
    const Shape& w = shape(g, op == "conv2d_grad_input" ? node.inputs[1] : node.outputs[0]);
    Checked flops(node, 2);
    flops *= numel(g, node.inputs[op == "conv2d_grad_input" ? 0 : 1]);
    for (std::size_t i = 1; i < w.size(); ++i) flops *= w[i];
    return flops.value();
  }
  if (op == "matmul" || op == "dense") {
    const Shape& y = shape(g, node.outputs[0]);
    const Shape& a = shape(g, node.inputs[0]);
    bool transpose_a = op == "matmul" && std::get<bool>(node.attrs.at("transpose_a"));
    Checked flops(node, 2);
    flops *= y[0];
    flops *= y[1];
    flops *= transpose_a ? a[0] : a[1];
    return flops.value();
  }
  Checked total(node, 0);
  for (ValueId out : node.outputs) total += numel(g, out);
  return total.value();
}

double graph_flops(const Graph& g) {
  double total = 0;
  for (const Node& node : g.nodes()) total += static_cast<double>(node_flops(g, node));
  return total;
}

std::vector<NodeSummary> summarize_nodes(const Graph& g) {
  std::vector<NodeSummary> rows;
  for (std::int32_t index : g.topological_order()) {
    const Node& node = g.node(index);
    NodeSummary row{index, node.name, node.op, {}, 0, node_flops(g, node), node.backward};
    for (ValueId out : node.outputs) row.outputs.push_back(g.value(out).type);
    for (ValueId in : node.inputs)
      if (g.value(in).kind == ValueKind::parameter) row.parameters += numel(g, in);
    rows.push_back(std::move(row));
  }
  return rows;
}

TensorStats tensor_stats(const Tensor& t) {
  TensorStats s;
  s.count = t.numel();
  double sum = 0, sum_sq = 0;
  std::int64_t finite = 0, zeros = 0;
  s.min = std::numeric_limits<double>::infinity();
  s.max = -s.min;
  for (std::int64_t i = 0; i < t.numel(); ++i) {
    double v = t.at(i);
    if (std::isnan(v)) {
      ++s.nan_count;
      continue;
    }
    if (std::isinf(v)) {
      ++s.inf_count;
      continue;
    }
    ++finite;
    zeros += v == 0;
    sum += v;
    sum_sq += v * v;
    s.min = std::min(s.min, v);
    s.max = std::max(s.max, v);
  }
  if (finite == 0) s.min = s.max = 0;
  s.mean = finite ? sum / static_cast<double>(finite) : 0;
  s.l2_norm = std::sqrt(sum_sq);
  s.abs_max = std::max(std::abs(s.min), std::abs(s.max));
  s.zero_fraction = s.count ? static_cast<double>(zeros) / static_cast<double>(s.count) : 0;
  return s;
}

}  // namespace dagrad
