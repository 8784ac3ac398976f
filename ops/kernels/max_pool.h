#pragma once
// The forward of max pooling on one [H, W] plane: y and, when `indices` is not null, the winning
// cell's index, by the tie and NaN rules of window_argmax. Float32 windows that lie wholly inside the plane, with a
// horizontal stride of 1 or 2 (any dilation), go 8 output cells at a time through AVX2 compares and blends; all
// other cells (borders, float64, other strides) through window_argmax itself.
#include <cstdint>

#include "ops/kernels/pool.h"

namespace dagrad::kernels {

template <class T> void max_pool_plane(const PoolGeometry& g, const T* plane, T* y, std::int64_t* indices);

}  // namespace dagrad::kernels
