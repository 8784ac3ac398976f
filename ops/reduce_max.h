#pragma once
// reduce_max's backward op (ops/reduce_max_grad.cc); reduce_max itself is in ops/ops.h.
#include "graph/graph.h"
#include "ops/ops.h"

namespace dagrad::ops {

// dx[i] = dy[o] / ties for each element i of x that equals the maximum of its output o (`ties` of
// them: a tie splits dy evenly, like PyTorch's amax), else 0. dy has reduce_max(x, axes, keepdims)'s shape.
Value reduce_max_grad(Value x, Value dy, Ints axes, bool keepdims = false);

}  // namespace dagrad::ops
