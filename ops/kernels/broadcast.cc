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

std::vector<std::int64_t> broadcast_offsets(const Shape& in, const Shape& out) {
  std::size_t rank = out.size(), lead = rank - in.size();
  std::vector<std::int64_t> in_strides(rank, 0);
  std::int64_t stride = 1;
  for (std::size_t i = rank; i-- > lead;) {
    std::int64_t d = in[i - lead];
    in_strides[i] = d == 1 ? 0 : stride;
    stride *= d;
  }
  std::int64_t n = element_count(out);
  std::vector<std::int64_t> offsets(static_cast<std::size_t>(n));
  std::vector<std::int64_t> index(rank, 0);
  std::int64_t offset = 0;
  for (std::int64_t k = 0; k < n; ++k) {
    offsets[k] = offset;
    for (std::size_t i = rank; i-- > 0;) {  // odometer increment
      offset += in_strides[i];
      if (++index[i] < out[i]) break;
      offset -= in_strides[i] * index[i];
      index[i] = 0;
    }
  }
  return offsets;
}

}  // namespace dagrad::kernels
