#pragma once
// Numpy-style broadcasting (shapes aligned on the right) shared by add, mul, sum_to, broadcast_to.
#include <cstdint>
#include <vector>

#include <boost/container/small_vector.hpp>

#include "graph/op.h"

namespace dagrad::kernels {

// The broadcast shape of a and b; fails through `c` naming both shapes when they do not broadcast.
Shape broadcast_shapes(const Shape& a, const Shape& b, const InferContext& c);
// True when `from` broadcasts to `to` (every dim of `from`, right-aligned, is 1 or equal).
bool broadcasts_to(const Shape& from, const Shape& to);

// The offsets of the elements of `in` that consecutive elements of `out` (row-major) read when
// `in` is broadcast to `out`, walked like an odometer from any start element: no per-element
// table, and no heap allocation below rank 8, so kernels can start one per parallel chunk.
class BroadcastCursor {
 public:
  BroadcastCursor(const Shape& in, const Shape& out, std::int64_t start);
  std::int64_t offset() const { return offset_; }
  void next() {
    for (std::size_t i = out_.size(); i-- > 0;) {
      offset_ += strides_[i];
      if (++index_[i] < out_[i]) return;
      offset_ -= strides_[i] * index_[i];
      index_[i] = 0;
    }
  }

 private:
  using Dims = boost::container::small_vector<std::int64_t, 8>;
  Dims out_, strides_, index_;
  std::int64_t offset_ = 0;
};

}  // namespace dagrad::kernels
