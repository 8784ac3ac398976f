#include "ops/kernels/broadcast.h"

namespace dagrad::kernels {

Shape broadcast_shapes(const Shape& a, const Shape& b, const InferContext& c) {
  std::size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (std::size_t i = 0; i < rank; ++i) {
    std::int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    std::int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1)
      c.fail("shapes ", to_string(a), " and ", to_string(b), " do not broadcast (dim ", i, ": ", da, " vs ", db, ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

bool broadcasts_to(const Shape& from, const Shape& to) {
  if (from.size() > to.size()) return false;
  std::size_t lead = to.size() - from.size();
  for (std::size_t i = 0; i < from.size(); ++i)
    if (from[i] != 1 && from[i] != to[lead + i]) return false;
  return true;
}

BroadcastCursor::BroadcastCursor(const Shape& in, const Shape& out, std::int64_t start)
    : out_(out.begin(), out.end()), strides_(out.size(), 0), index_(out.size(), 0) {
  const std::size_t rank = out.size(), lead = rank - in.size();
  std::int64_t stride = 1;
  for (std::size_t i = rank; i-- > lead;) {
    const std::int64_t d = in[i - lead];
    strides_[i] = d == 1 ? 0 : stride;
    stride *= d;
  }
  for (std::size_t i = rank; i-- > 0 && start > 0;) {  // the row-major index of `start`
    index_[i] = start % out[i];
    offset_ += index_[i] * strides_[i];
    start /= out[i];
  }
}

}  // namespace dagrad::kernels
