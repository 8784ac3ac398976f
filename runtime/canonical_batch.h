#pragma once
// Whether a graph keeps the data-parallel promise of graph/batch_slice.h: that running a training
// step as slices of its global batch (MPI ranks, gradient-accumulation micro-batches) gives the
// bits of one run over the whole batch. Every sum over the batch must then follow the canonical
// reduction (ops/kernels/batch_groups.h); ops declare how they sum through their batch_reduction
// trait (graph/op.h).
#include <string>
#include <vector>

#include "graph/graph.h"

namespace dagrad::runtime {

// The nodes that would break the promise, as "node 'name' (op)", in topological order: ops whose
// trait says non_canonical for their attributes and inputs. Which values carry the batch at dim 0
// is traced from the graph's inputs: a node's output does when one of its inputs does and the
// output's dim 0 has that input's extent. Empty: the graph may be split.
std::vector<std::string> non_canonical_batch_nodes(const Graph& graph);

}  // namespace dagrad::runtime
