#pragma once
// silu's DSL (ops/silu.cc, ops/silu_grad.cc) and the sigmoid both kernels evaluate.
#include <cmath>

#include "graph/graph.h"

namespace dagrad::ops {

Value silu(Value x);                 // x * sigmoid(x) (swish)
Value silu_grad(Value x, Value dy);  // dy * s * (1 + x * (1 - s)), s = sigmoid(x), from the forward input

// 1 / (1 + exp(-x)) with exp of a non-positive argument only: no overflow for large |x|.
template <class T> T stable_sigmoid(T x) {
  if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
  const T z = std::exp(x);
  return z / (T(1) + z);
}

}  // namespace dagrad::ops
