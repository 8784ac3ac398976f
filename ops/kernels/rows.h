#pragma once
// Row-wise loops over the last axis (softmax and friends): rows in parallel, each row sequential,
// so every per-row sum has a fixed order whatever the thread count.
#include <algorithm>
#include <cstdint>

#include "graph/op.h"
#include "ops/kernels/parallel.h"

namespace dagrad::kernels {

// Fails unless input i has rank >= 1 with a non-empty last axis (softmax over nothing is undefined).
inline void expect_last_axis(const InferContext& c, int i) {
  if (c.shape(i).empty()) c.fail("input ", i, " must have rank >= 1 (softmax runs over the last axis), got a scalar");
  if (c.shape(i).back() == 0) c.fail("input ", i, " has an empty last axis: shape ", to_string(c.shape(i)));
}

// Calls row_body(row) for each of the numel/width rows of width `width`.
template <class RowBody> void parallel_rows(std::int64_t numel, std::int64_t width, const RowBody& row_body) {
  if (width <= 0) return;
  const std::int64_t rows = numel / width;
  parallel_chunks(rows, std::max<std::int64_t>(1, kElementwiseGrain / width), [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t r = b; r < e; ++r) row_body(r);
  });
}

}  // namespace dagrad::kernels
