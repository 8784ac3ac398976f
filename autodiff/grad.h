#pragma once
// Reverse-mode automatic differentiation as a graph-to-graph transform.
#include <vector>

#include "graph/graph.h"

namespace dagrad::autodiff {

struct Gradients {
  Graph graph;                  // the forward graph extended with the backward nodes
  ValueId loss = kNoValue;
  std::vector<ValueId> grads;   // grads[i] = d loss / d wrt[i]; kNoValue if the loss does not depend on it
};

// One graph computing the loss and the gradient of every value in `wrt`: a reverse topological
// sweep that calls each op's gradient rule, reuses forward results, sums the gradients of a value
// that fans out in a fixed order, and skips nodes the loss does not depend on. Integer values and
// inputs an op declares non-differentiable (labels, running statistics) get no gradient.
Gradients grad(const Graph& forward, ValueId loss, const std::vector<ValueId>& wrt);

// All trainable parameters of the graph, with respect to graph.loss().
Gradients grad_parameters(const Graph& forward);

// Vector-Jacobian product: the gradient of sum_i <outputs[i], cotangents[i]>, where cotangents are
// values of `forward` with the outputs' types (typically inputs fed at run time).
Gradients vjp(const Graph& forward, const std::vector<ValueId>& outputs, const std::vector<ValueId>& cotangents,
              const std::vector<ValueId>& wrt);

}  // namespace dagrad::autodiff
