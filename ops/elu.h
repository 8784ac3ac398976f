#pragma once
// elu's DSL (ops/elu.cc, ops/elu_grad.cc).
#include "graph/graph.h"

namespace dagrad::ops {

// Shared by both ops: the scale of the negative branch.
struct EluAttrs {
  double alpha = 1.0;
  template <class V> void fields(V& v) { v("alpha", alpha); }
};

Value elu(Value x, double alpha = 1.0);           // x > 0 ? x : alpha * (exp(x) - 1)
Value elu_grad(Value x, Value dy, double alpha);  // dy * (x > 0 ? 1 : alpha * exp(x)), from the forward input

}  // namespace dagrad::ops
