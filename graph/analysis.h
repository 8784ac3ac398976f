#pragma once
// Read-only analyses of graphs and tensors that tools and tests share: per-node cost, tensor statistics.
#include <cstdint>
#include <string>
#include <vector>

#include "graph/graph.h"

namespace dagrad {

// Multiply-adds count as 2 FLOPs. Convolutions and matrix products are counted exactly; other ops
// as one FLOP per output element (their cost is memory traffic, not arithmetic). The arithmetic is
// overflow-checked: a node whose count exceeds int64 throws Error naming the node and op.
std::int64_t node_flops(const Graph& graph, const Node& node);
// Sum of node_flops over every node of the graph (forward and backward nodes alike). A double:
// totals of large batches pass int64 (VGG-16's training step at batch 10^8 is about 10^19 FLOPs)
// while each node still fits; exact up to 2^53, then to double's 16 significant digits.
double graph_flops(const Graph& graph);

struct NodeSummary {
  std::int32_t index;
  std::string name, op;
  std::vector<TensorType> outputs;
  std::int64_t parameters = 0;  // elements of parameter values this node reads directly
  std::int64_t flops = 0;
  bool backward = false;
};
std::vector<NodeSummary> summarize_nodes(const Graph& graph);

struct TensorStats {
  std::int64_t count = 0;
  double l2_norm = 0, mean = 0, min = 0, max = 0, abs_max = 0;
  double zero_fraction = 0;
  std::int64_t nan_count = 0, inf_count = 0;
};
// Statistics over the finite entries (NaN and Inf are counted apart).
TensorStats tensor_stats(const Tensor& tensor);

}  // namespace dagrad
