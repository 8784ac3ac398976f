#pragma once
// The logistic function for sigmoid, silu and their gradients, in the element's own type.
#include <cmath>

namespace dagrad::kernels {

// 1 / (1 + exp(-x)) with exp of a non-positive argument only: no overflow for large |x|, and no
// 1 - 1 cancellation.
template <class T> T stable_sigmoid(T x) {
  if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
  const T z = std::exp(x);
  return z / (T(1) + z);
}

}  // namespace dagrad::kernels
