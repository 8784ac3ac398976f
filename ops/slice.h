#pragma once
// slice with steps (ops/slice.cc); the plain slice is in ops/ops.h.
#include "graph/graph.h"
#include "ops/ops.h"

namespace dagrad::ops {

// Every steps[i]-th element from starts[i] toward ends[i] along axes[i] (steps positive; ONNX's
// Slice); the clamping of ops::slice.
Value slice(Value x, Ints starts, Ints ends, Ints axes, Ints steps);

}  // namespace dagrad::ops
