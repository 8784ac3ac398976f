#include "graph/analysis.h"

#include "graph/op.h"

#include <cmath>
#include <limits>

namespace dagrad {

namespace {
std::int64_t numel(const Graph& g, ValueId id) { return element_count(g.value(id).type.shape); }
}  // namespace

std::int64_t node_flops(const Graph& g, const Node& node) {
  std::vector<TensorType> inputs, outputs;
  for (ValueId in : node.inputs) inputs.push_back(g.value(in).type);
  for (ValueId out : node.outputs) outputs.push_back(g.value(out).type);
  const FlopContext context(node, std::move(inputs), std::move(outputs));
  if (node.def && node.def->flops) return node.def->flops(node.parsed_attrs, context);
  std::int64_t total = 0;  // memory-bound ops: one FLOP per output element
  for (ValueId out : node.outputs) total = context.sum({total, numel(g, out)});
  return total;
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
