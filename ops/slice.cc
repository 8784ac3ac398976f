// slice: the elements starts[i], starts[i] + steps[i], ... before ends[i] along axes[i], with
// numpy's and ONNX's clamping (negative indices count from the end; out-of-range bounds clamp, so
// INT64_MAX means "to the end"); steps positive. Any dtype (a copy through the strided kernel).
// Gradient, in existing ops: dy padded with zeros back to x's shape; a step s spreads dy first by
// reshaping each stepped dim m to [m, 1], padding that to [m, s] and merging it to m * s.
#include <algorithm>
#include <string>

#include "graph/op.h"
#include "ops/kernels/strided_copy.h"
#include "ops/ops.h"
#include "ops/slice.h"

namespace dagrad::ops {
namespace {
struct SliceAttrs {
  Ints starts, ends;
  Ints axes;   // empty: 0, 1, ..., starts.size() - 1
  Ints steps;  // empty: all 1
  template <class V> void fields(V& v) {
    v.required("starts", starts);
    v.required("ends", ends);
    v("axes", axes);
    v("steps", steps);
  }
};

// What a slice takes along one dim of x: `count` elements from `start`, `step` apart.
struct Range {
  std::int64_t start = 0, step = 1, count = 0;
};

[[noreturn]] void refuse(const InferContext* c, const std::string& message) {
  if (c) c->fail(message);
  fail("slice: ", message);
}

// One Range per dim of x (dims not sliced: all of it); fails through c on bad attributes.
std::vector<Range> ranges(const SliceAttrs& a, const Shape& x, const InferContext* c) {
  const auto rank = static_cast<std::int64_t>(x.size());
  const auto n = a.starts.size();
  if (a.ends.size() != n)
    refuse(c, "attributes 'starts' = " + to_string(a.starts) + " and 'ends' = " + to_string(a.ends) + " differ in length");
  if (!a.axes.empty() && a.axes.size() != n)
    refuse(c, "attribute 'axes' = " + to_string(a.axes) + " has " + std::to_string(a.axes.size()) + " values but 'starts' has " +
                  std::to_string(n));
  if (!a.steps.empty() && a.steps.size() != n)
    refuse(c, "attribute 'steps' = " + to_string(a.steps) + " has " + std::to_string(a.steps.size()) +
                  " values but 'starts' has " + std::to_string(n));
  if (a.axes.empty() && static_cast<std::int64_t>(n) > rank)
    refuse(c, "attribute 'starts' = " + to_string(a.starts) + " has " + std::to_string(n) + " values for a rank-" +
                  std::to_string(rank) + " input");
  std::vector<Range> out(x.size());
  for (std::size_t d = 0; d < x.size(); ++d) out[d].count = x[d];
  std::vector<bool> seen(x.size(), false);
  for (std::size_t i = 0; i < n; ++i) {
    std::int64_t axis = a.axes.empty() ? static_cast<std::int64_t>(i) : a.axes[i];
    if (axis < -rank || axis >= rank)
      refuse(c, "attribute 'axes' = " + to_string(a.axes) + ": axis " + std::to_string(axis) + " is out of range for rank " +
                    std::to_string(rank));
    if (axis < 0) axis += rank;
    if (seen[axis]) refuse(c, "attribute 'axes' = " + to_string(a.axes) + ": axis " + std::to_string(a.axes[i]) + " is repeated");
    seen[axis] = true;
    const std::int64_t step = a.steps.empty() ? 1 : a.steps[i];
    if (step <= 0)
      refuse(c, "attribute 'steps' = " + to_string(a.steps) + ": steps must be positive, got " + std::to_string(step));
    const std::int64_t dim = x[axis];
    auto clamp = [dim](std::int64_t k) { return std::clamp<std::int64_t>(k < 0 ? k + dim : k, 0, dim); };
    const std::int64_t start = clamp(a.starts[i]), end = clamp(a.ends[i]);
    out[axis] = {start, step, end > start ? (end - start - 1) / step + 1 : 0};
  }
  return out;
}
}  // namespace

Value slice(Value x, Ints starts, Ints ends, Ints axes, Ints steps) {
  return x.graph().add_node("slice", {x}, write_attrs(SliceAttrs{std::move(starts), std::move(ends), std::move(axes), std::move(steps)}))[0];
}

Value slice(Value x, Ints starts, Ints ends, Ints axes) { return slice(x, std::move(starts), std::move(ends), std::move(axes), {}); }

void register_slice(OpRegistry& registry) {
  constexpr std::int64_t kEnd = INT64_MAX, kMin = INT64_MIN;
  registry.add(define_op<SliceAttrs>({
      .name = "slice",
      .doc = "Elements starts[i], starts[i] + steps[i], ... before ends[i] along axes[i] (default 0, 1, ...); "
             "negative indices count from the end and out-of-range bounds clamp, as in numpy and ONNX; steps > 0.",
      .inputs = {"x"},
      .examples = {{.label = "channels", .attrs = {{"starts", Ints{1}}, {"ends", Ints{3}}, {"axes", Ints{1}}}, .inputs = {{.shape = {2, 4, 3, 3}}}},
                   {.label = "leading_axes_default", .attrs = {{"starts", Ints{1, 0}}, {"ends", Ints{3, 2}}}, .inputs = {{.shape = {4, 3, 2}}}},
                   {.label = "negative_indices", .attrs = {{"starts", Ints{-3}}, {"ends", Ints{-1}}, {"axes", Ints{-1}}}, .inputs = {{.shape = {3, 5}}}},
                   {.label = "clamped_to_end", .attrs = {{"starts", Ints{2, kMin}}, {"ends", Ints{kEnd, 100}}, {"axes", Ints{0, 2}}},
                    .inputs = {{.shape = {4, 2, 3}}}},
                   {.label = "unordered_axes", .attrs = {{"starts", Ints{1, 0}}, {"ends", Ints{4, 1}}, {"axes", Ints{2, 0}}}, .inputs = {{.shape = {2, 3, 5}}}},
                   {.label = "empty_result", .attrs = {{"starts", Ints{3}}, {"ends", Ints{1}}, {"axes", Ints{1}}}, .inputs = {{.shape = {2, 4}}}},
                   {.label = "steps", .attrs = {{"starts", Ints{0, 1}}, {"ends", Ints{5, 7}}, {"axes", Ints{2, 3}}, {"steps", Ints{2, 3}}},
                    .inputs = {{.shape = {2, 2, 5, 7}}}},
                   {.label = "step_uneven_end", .attrs = {{"starts", Ints{1}}, {"ends", Ints{kEnd}}, {"steps", Ints{2}}}, .inputs = {{.shape = {6, 2}}}},
                   {.label = "step_larger_than_dim", .attrs = {{"starts", Ints{1}}, {"ends", Ints{3}}, {"axes", Ints{1}}, {"steps", Ints{10}}},
                    .inputs = {{.shape = {3, 3}}}},
                   {.label = "step_empty_result", .attrs = {{"starts", Ints{2}}, {"ends", Ints{2}}, {"axes", Ints{0}}, {"steps", Ints{2}}},
                    .inputs = {{.shape = {4, 3}}}},
                   {.label = "steps_one", .attrs = {{"starts", Ints{0}}, {"ends", Ints{2}}, {"axes", Ints{0}}, {"steps", Ints{1}}},
                    .inputs = {{.shape = {3, 2}}}},
                   {.label = "whole", .attrs = {{"starts", Ints{}}, {"ends", Ints{}}}, .inputs = {{.shape = {2, 3}}}}},
      .infer = [](const SliceAttrs& a, InferContext& c) {
        Shape y;
        for (const Range& r : ranges(a, c.shape(0), &c)) y.push_back(r.count);
        return std::vector{TensorType{c.dtype(0), y}};
      },
      .forward = [](const SliceAttrs& a, KernelContext& k) {
        const Tensor& x = k.input(0);
        const std::vector<Range> rs = ranges(a, x.shape(), nullptr);
        const std::vector<std::int64_t> xs = kernels::row_major_strides(x.shape());
        kernels::StridedLayout layout{k.output(0).shape(), {}, kernels::row_major_strides(k.output(0).shape())};
        std::int64_t base = 0;
        for (std::size_t d = 0; d < rs.size(); ++d) {
          base += rs[d].count ? rs[d].start * xs[d] : 0;
          layout.src.push_back(rs[d].step * xs[d]);
        }
        const std::size_t size = dtype_size(x.dtype());
        kernels::strided_copy(layout, static_cast<const std::byte*>(x.raw()) + base * size, k.output(0).raw(), size);
      },
      .grad = [](const SliceAttrs& a, GradContext& g) {
        const Shape x = g.shape(0);
        const std::vector<Range> rs = ranges(a, x, nullptr);
        const std::size_t rank = x.size();
        Value dy = g.dy();
        Shape spread, merged;  // dy with [m, 1] for each stepped dim; then [m * s]
        Ints spread_pads;
        bool stepped = false;
        for (std::size_t d = 0; d < rank; ++d) {
          spread.push_back(rs[d].count);
          merged.push_back(rs[d].count);
          if (rs[d].step > 1 && rs[d].count > 0) {
            stepped = true;
            spread.push_back(1);
            merged.back() *= rs[d].step;
          }
        }
        if (stepped) {
          Ints begins(spread.size(), 0), ends(spread.size(), 0);
          for (std::size_t d = 0, s = 0; d < rank; ++d, ++s)
            if (rs[d].step > 1 && rs[d].count > 0) ends[++s] = rs[d].step - 1;
          begins.insert(begins.end(), ends.begin(), ends.end());
          dy = reshape(pad(reshape(dy, spread), begins), merged);
        }
        Ints pads(2 * rank);
        for (std::size_t d = 0; d < rank; ++d) {
          const std::int64_t begin = rs[d].count ? rs[d].start : 0;
          pads[d] = begin;
          pads[rank + d] = x[d] - begin - merged[d];  // negative when the last step runs past x: a crop
        }
        return std::vector{pad(dy, pads)};
      },
  }));
}

}  // namespace dagrad::ops
