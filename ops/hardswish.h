#pragma once
// hardswish's DSL (ops/hardswish.cc, ops/hardswish_grad.cc).
#include "graph/graph.h"

namespace dagrad::ops {

Value hardswish(Value x);                 // x * relu6(x + 3) / 6, as PyTorch
Value hardswish_grad(Value x, Value dy);  // dy * (x < -3 ? 0 : x <= 3 ? x / 3 + 1/2 : 1), from the forward input

}  // namespace dagrad::ops
