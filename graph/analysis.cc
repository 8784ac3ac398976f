#include "graph/analysis.h"

#include <cmath>
#include <limits>

namespace dagrad {

namespace {
std::int64_t numel(const Graph& g, ValueId id) { return element_count(g.value(id).type.shape); }
const Shape& shape(const Graph& g, ValueId id) { return g.value(id).type.shape; }
}  // namespace

std::int64_t node_flops(const Graph& g, const Node& node) {
  const std::string& op = node.op;
  if (op == "conv2d" || op == "conv1d") {
    // Every output element is a dot product over C * kernel elements of the filter.
    const Shape& w = shape(g, node.inputs[1]);
    std::int64_t per_output = 1;
    for (std::size_t i = 1; i < w.size(); ++i) per_output *= w[i];
    return 2 * numel(g, node.outputs[0]) * per_output;
  }
  if (op == "conv2d_grad_input") {  // same products as the forward convolution that made dy
    const Shape& w = shape(g, node.inputs[1]);
    return 2 * numel(g, node.inputs[0]) * (w[1] * w[2] * w[3]);
  }
  if (op == "conv2d_grad_filter") {
    const Shape& w = shape(g, node.outputs[0]);
    return 2 * numel(g, node.inputs[1]) * (w[1] * w[2] * w[3]);
  }
  if (op == "matmul" || op == "dense") {
    const Shape& y = shape(g, node.outputs[0]);
    const Shape& a = shape(g, node.inputs[0]);
    bool transpose_a = op == "matmul" && std::get<bool>(node.attrs.at("transpose_a"));
    std::int64_t k = transpose_a ? a[0] : a[1];
    return 2 * y[0] * y[1] * k;
  }
  std::int64_t total = 0;
  for (ValueId out : node.outputs) total += numel(g, out);
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
