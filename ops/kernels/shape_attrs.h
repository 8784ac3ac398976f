#pragma once
// The one attribute of the ops that move a tensor to a target shape (reshape, broadcast_to,
// sum_to): the shape itself. Shared so the three declare it once.
#include <cstdint>
#include <vector>

namespace dagrad::kernels {

struct TargetShapeAttrs {
  std::vector<std::int64_t> shape;
  template <class V> void fields(V& v) { v.required("shape", shape); }
};

}  // namespace dagrad::kernels
