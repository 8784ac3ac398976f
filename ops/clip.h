#pragma once
// clip's DSL (ops/clip.cc, ops/clip_grad.cc).
#include "graph/graph.h"

namespace dagrad::ops {

// Shared by both ops. Both bounds required: files and dumps would have to spell an infinite default.
struct ClipAttrs {
  double min = 0;
  double max = 0;
  template <class V> void fields(V& v) {
    v.required("min", min);
    v.required("max", max);
  }
};

Value clip(Value x, double min, double max);                 // min(max(x, min), max); ReLU6 is clip(x, 0, 6)
Value clip_grad(Value x, Value dy, double min, double max);  // dy where min < x < max, else 0

}  // namespace dagrad::ops
