#pragma once
// pad_grad's DSL (ops/pad_grad.cc); pad itself is in ops/ops.h.
#include "graph/graph.h"
#include "ops/ops.h"

namespace dagrad::ops {

// The adjoint of pad(x, pads, mode) for x of shape x_shape: each dy cell added to the x cell it
// was read from (mirrored and repeated cells sum up; constant cells are dropped).
Value pad_grad(Value dy, Shape x_shape, Ints pads, PadMode mode);

}  // namespace dagrad::ops
