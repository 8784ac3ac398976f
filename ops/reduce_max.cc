// reduce_max: the maximum of x over `axes` (negative axes count from the end; empty: none, y = x),
// keeping them as size-1 dims when keepdims. NaN propagates (a NaN term gives a NaN maximum), as
// in numpy and PyTorch. Gradient: reduce_max_grad(x, dy), which finds the maxima again and splits
// dy evenly among ties.
#include "graph/op.h"
#include "ops/kernels/reduce_axes.h"
#include "ops/ops.h"
#include "ops/reduce_max.h"

namespace dagrad::ops {
using kernels::ReduceAttrs;
using kernels::Reduction;

Value reduce_max(Value x, Ints axes, bool keepdims) {
  return x.graph().add_node("reduce_max", {x}, write_attrs(ReduceAttrs{std::move(axes), keepdims}))[0];
}

void register_reduce_max(OpRegistry& registry) {
  auto example = [](const char* label, Ints axes, bool keepdims, Shape x) {
    return OpExample{.label = label, .attrs = {{"axes", std::move(axes)}, {"keepdims", keepdims}}, .inputs = {{.shape = std::move(x)}}};
  };
  registry.add(define_op<ReduceAttrs>({
      .name = "reduce_max",
      .doc = "Maximum of x over `axes` (negative axes count from the end; empty: none); keepdims keeps them as size 1.",
      .inputs = {"x"},
      .examples = {example("spatial_keepdims", {2, 3}, true, {2, 3, 3, 2}), example("last", {-1}, false, {3, 4}),
                   example("first", {0}, false, {4, 3}), example("middle_keepdims", {1}, true, {3, 4, 2}),
                   example("all", {0, 1, 2}, false, {2, 3, 2}), example("unordered_axes", {2, 0}, true, {2, 3, 4}),
                   example("none", {}, false, {2, 3})},
      .infer = [](const ReduceAttrs& a, InferContext& c) {
        c.expect_float(0);
        const Reduction r(c.shape(0), a, &c);
        if (r.count == 0) c.fail("attribute 'axes' = ", to_string(a.axes), " reduces an empty dim: the maximum of nothing is undefined");
        return std::vector{TensorType{c.dtype(0), r.out}};
      },
      .forward = [](const ReduceAttrs& a, KernelContext& k) {
        dispatch_float(k.input(0).dtype(), [&]<class T>() {
          const Reduction r(k.input(0).shape(), a);
          const T* x = k.input(0).data<T>().data();
          T* y = k.output(0).data<T>().data();
          r.for_each_output([&](std::int64_t o, std::int64_t base, const std::vector<std::int64_t>& terms) {
            y[o] = kernels::max_of_terms(x, base, terms);
          });
        });
      },
      .grad = [](const ReduceAttrs& a, GradContext& g) { return std::vector{reduce_max_grad(g.input(0), g.dy(), a.axes, a.keepdims)}; },
  }));
}

}  // namespace dagrad::ops
