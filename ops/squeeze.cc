// squeeze and unsqueeze: reshape nodes that drop or insert size-1 dims (ONNX's Squeeze and
// Unsqueeze), so they need no op, kernel or gradient of their own. The checks name the input value.
#include <algorithm>

#include "graph/op.h"
#include "ops/ops.h"

namespace dagrad::ops {
namespace {
// Which of `rank` dims `axes` names (negative counts from the end); fails on out-of-range or repeats.
std::vector<bool> named_dims(const Ints& axes, std::int64_t rank, const std::string& where) {
  std::vector<bool> named(rank, false);
  for (std::int64_t axis : axes) {
    if (axis < -rank || axis >= rank) fail(where, ": axis ", axis, " is out of range for rank ", rank);
    const std::int64_t a = axis < 0 ? axis + rank : axis;
    if (named[a]) fail(where, ": axis ", axis, " is repeated in axes ", to_string(axes));
    named[a] = true;
  }
  return named;
}

std::string describe(const char* what, const Value& x) { return std::string(what) + " of '" + x.name() + "' " + to_string(x.type()); }
}  // namespace

// Empty axes: every size-1 dim (numpy and ONNX).
Value squeeze(Value x, Ints axes) {
  const Shape shape = x.shape();
  const std::string where = describe(__func__, x);
  std::vector<bool> drop = named_dims(axes, static_cast<std::int64_t>(shape.size()), where);
  Shape out;
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (axes.empty()) drop[d] = shape[d] == 1;
    if (drop[d] && shape[d] != 1) fail(where, ": dim ", d, " has extent ", shape[d], ", not 1");
    if (!drop[d]) out.push_back(shape[d]);
  }
  return out == shape ? x : reshape(x, out);
}

// axes index the result (rank + axes.size() dims), as in ONNX.
Value unsqueeze(Value x, Ints axes) {
  const Shape shape = x.shape();
  const std::string where = describe(__func__, x);
  const std::vector<bool> insert = named_dims(axes, static_cast<std::int64_t>(shape.size() + axes.size()), where);
  Shape out;
  for (std::size_t d = 0, from = 0; d < insert.size(); ++d) out.push_back(insert[d] ? 1 : shape[from++]);
  return out == shape ? x : reshape(x, out);
}

// The generated registration list calls register_<file>() for every ops/*.cc; these add no op.
void register_squeeze(OpRegistry&) {}

}  // namespace dagrad::ops
