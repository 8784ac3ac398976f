// split: x cut into consecutive pieces of `sizes` along `axis`, built as one slice node per piece.
// It is not an op of its own because the graph gives an op a fixed number of outputs; as slices,
// each piece's gradient is dy padded back to x's shape with zeros, and autodiff sums those of the
// pieces that get a gradient (a piece without one contributes nothing).
#include "graph/op.h"
#include "ops/ops.h"

namespace dagrad::ops {

std::vector<Value> split(Value x, Ints sizes, std::int64_t axis) {
  const Shape shape = x.shape();
  const auto rank = static_cast<std::int64_t>(shape.size());
  auto where = [&] { return "split of '" + x.name() + "' " + to_string(x.type()) + " along axis " + std::to_string(axis); };
  if (axis < -rank || axis >= rank) fail(where(), ": axis ", axis, " is out of range for rank ", rank);
  const std::int64_t a = axis < 0 ? axis + rank : axis;
  std::int64_t total = 0;
  for (std::int64_t s : sizes) {
    if (s < 0) fail(where(), ": sizes ", to_string(sizes), " has a negative size ", s);
    total += s;
  }
  if (total != shape[a]) fail(where(), ": sizes ", to_string(sizes), " sum to ", total, ", but the axis has extent ", shape[a]);
  std::vector<Value> pieces;
  std::int64_t begin = 0;
  for (std::int64_t s : sizes) {
    pieces.push_back(slice(x, {begin}, {begin + s}, {a}));
    begin += s;
  }
  return pieces;
}

// The generated registration list calls register_<file>() for every ops/*.cc; split adds no op.
void register_split(OpRegistry&) {}

}  // namespace dagrad::ops
