#pragma once
// leaky_relu's DSL (ops/leaky_relu.cc, ops/leaky_relu_grad.cc).
#include "graph/graph.h"

namespace dagrad::ops {

// Shared by both ops: one attribute, the slope for x <= 0.
struct LeakyReluAttrs {
  double alpha = 0.01;
  template <class V> void fields(V& v) { v("alpha", alpha); }
};

Value leaky_relu(Value x, double alpha = 0.01);        // x > 0 ? x : alpha * x
Value leaky_relu_grad(Value x, Value dy, double alpha);  // dy * (x > 0 ? 1 : alpha), from the forward input

}  // namespace dagrad::ops
