#pragma once
// silu's DSL (ops/silu.cc, ops/silu_grad.cc).
#include "graph/graph.h"
#include "ops/kernels/stable_sigmoid.h"

namespace dagrad::ops {

Value silu(Value x);                 // x * sigmoid(x) (swish)
Value silu_grad(Value x, Value dy);  // dy * s * (1 + x * (1 - s)), s = sigmoid(x), from the forward input

using kernels::stable_sigmoid;

}  // namespace dagrad::ops
