// reduce_mean: the mean of x over `axes` (negative axes count from the end; empty: none, y = x),
// keeping them as size-1 dims when keepdims. Each mean sums in double, in one fixed order.
// Gradient: dy / count, reshaped to the keepdims shape and broadcast back to x's shape.
#include "graph/op.h"
#include "ops/kernels/reduce_axes.h"
#include "ops/ops.h"

namespace dagrad::ops {
using kernels::ReduceAttrs;
using kernels::Reduction;

Value reduce_mean(Value x, Ints axes, bool keepdims) {
  return x.graph().add_node("reduce_mean", {x}, write_attrs(ReduceAttrs{std::move(axes), keepdims}))[0];
}

void register_reduce_mean(OpRegistry& registry) {
  auto example = [](const char* label, Ints axes, bool keepdims, Shape x) {
    return OpExample{.label = label, .attrs = {{"axes", std::move(axes)}, {"keepdims", keepdims}}, .inputs = {{.shape = std::move(x)}}};
  };
  registry.add(define_op<ReduceAttrs>({
      .name = "reduce_mean",
      .doc = "Mean of x over `axes` (negative axes count from the end; empty: none); keepdims keeps them as size 1.",
      .inputs = {"x"},
      .examples = {example("spatial_keepdims", {2, 3}, true, {2, 3, 4, 5}), example("spatial", {-2, -1}, false, {2, 3, 3, 4}),
                   example("first", {0}, false, {4, 3}), example("middle_keepdims", {1}, true, {3, 4, 2}),
                   example("all", {0, 1, 2}, false, {2, 3, 4}), example("unordered_axes", {2, 0}, true, {2, 3, 4}),
                   example("none", {}, false, {2, 3})},
      .infer = [](const ReduceAttrs& a, InferContext& c) {
        c.expect_float(0);
        return std::vector{TensorType{c.dtype(0), Reduction(c.shape(0), a, &c).out}};
      },
      .forward = [](const ReduceAttrs& a, KernelContext& k) {
        dispatch_float(k.input(0).dtype(), [&]<class T>() {
          const Reduction r(k.input(0).shape(), a);
          const T* x = k.input(0).data<T>().data();
          T* y = k.output(0).data<T>().data();
          // The mean of no terms is NaN (0 / 0), as in numpy.
          const auto count = static_cast<double>(r.count);
          r.for_each_output([&](std::int64_t o, std::int64_t base, const std::vector<std::int64_t>& terms) {
            double sum = 0;
            for (std::int64_t t : terms) sum += x[base + t];
            y[o] = static_cast<T>(sum / count);
          });
        });
      },
      .grad = [](const ReduceAttrs& a, GradContext& g) {
        const Reduction r(g.shape(0), a);
        Value dy = scale(g.dy(), r.count > 0 ? 1.0 / static_cast<double>(r.count) : 0.0);
        if (dy.shape() != r.kept) dy = reshape(dy, r.kept);
        return std::vector{dy.shape() == r.in ? dy : broadcast_to(dy, r.in)};
      },
      // Averaging over dim 0 of a batch: the run's own batch and order.
      .batch_reduction = [](const kernels::ReduceAttrs& a, const BatchContext& b) {
        const auto rank = static_cast<std::int64_t>(b.infer.shape(0).size());
        for (std::int64_t axis : a.axes)
          if (b.batched[0] && (axis == 0 || axis + rank == 0)) return BatchReduction::non_canonical;
        return BatchReduction::none;
      },
  }));
}

}  // namespace dagrad::ops
