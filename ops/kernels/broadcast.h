#pragma once
// Numpy-style broadcasting (shapes aligned on the right) shared by add, mul, sum_to, broadcast_to.
#include <cstdint>
#include <vector>

#include "graph/op.h"

namespace dagrad::kernels {

// The broadcast shape of a and b; fails through `c` naming both shapes when they do not broadcast.
Shape broadcast_shapes(const Shape& a, const Shape& b, const InferContext& c);
// True when `from` broadcasts to `to` (every dim of `from`, right-aligned, is 1 or equal).
bool broadcasts_to(const Shape& from, const Shape& to);

// For each element of `out` (row-major), the offset of the element of `in` it reads when `in` is
// broadcast to `out`. Precomputed once per kernel call; simple and exact.
std::vector<std::int64_t> broadcast_offsets(const Shape& in, const Shape& out);

}  // namespace dagrad::kernels
