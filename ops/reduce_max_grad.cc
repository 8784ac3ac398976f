// reduce_max_grad: the backward of reduce_max, dx = dy / ties where x is its output's maximum, else
// 0. `ties` counts the elements equal to that maximum (NaN maxima: the NaN elements), so a tie
// splits dy evenly (PyTorch's amax rule; max pooling instead gives all of it to the first).
// It reads x and finds the maxima again, so it needs no saved output.
#include <cmath>

#include "graph/op.h"
#include "ops/kernels/reduce_axes.h"
#include "ops/ops.h"
#include "ops/reduce_max.h"

namespace dagrad::ops {
using kernels::ReduceAttrs;
using kernels::Reduction;

Value reduce_max_grad(Value x, Value dy, Ints axes, bool keepdims) {
  return x.graph().add_node("reduce_max_grad", {x, dy}, write_attrs(ReduceAttrs{std::move(axes), keepdims}))[0];
}

void register_reduce_max_grad(OpRegistry& registry) {
  auto example = [](const char* label, Ints axes, bool keepdims, Shape x, Shape dy) {
    return OpExample{.label = label,
                     .attrs = {{"axes", std::move(axes)}, {"keepdims", keepdims}},
                     .inputs = {{.shape = std::move(x)}, {.shape = std::move(dy)}}};
  };
  registry.add(define_op<ReduceAttrs>({
      .name = "reduce_max_grad",
      .doc = "Backward of reduce_max: dy / ties where x equals its maximum over `axes`, else 0.",
      .inputs = {"x", "dy"},
      .outputs = {"dx"},
      .examples = {example("spatial_keepdims", {2, 3}, true, {2, 3, 3, 2}, {2, 3, 1, 1}),
                   example("first", {0}, false, {4, 3}, {3}), example("all", {0, 1}, false, {3, 4}, {}),
                   example("none", {}, false, {2, 3}, {2, 3})},
      .infer = [](const ReduceAttrs& a, InferContext& c) {
        c.expect_float(0);
        c.expect_same_dtype(0, 1);
        const Reduction r(c.shape(0), a, &c);
        if (r.count == 0) c.fail("attribute 'axes' = ", to_string(a.axes), " reduces an empty dim: the maximum of nothing is undefined");
        if (c.shape(1) != r.out)
          c.fail("dy (input 1) must have the shape of reduce_max's output ", to_string(r.out), ", got ", to_string(c.shape(1)));
        return std::vector{c.input(0)};
      },
      .forward = [](const ReduceAttrs& a, KernelContext& k) {
        dispatch_float(k.input(0).dtype(), [&]<class T>() {
          const Reduction r(k.input(0).shape(), a);
          const T* x = k.input(0).data<T>().data();
          const T* dy = k.input(1).data<T>().data();
          T* dx = k.output(0).data<T>().data();
          // Each element of x belongs to one output, so the outputs write disjoint elements of dx.
          r.for_each_output([&](std::int64_t o, std::int64_t base, const std::vector<std::int64_t>& terms) {
            const T top = kernels::max_of_terms(x, base, terms);
            auto wins = [&](T v) { return std::isnan(top) ? std::isnan(v) : v == top; };
            std::int64_t ties = 0;
            for (std::int64_t t : terms) ties += wins(x[base + t]) ? 1 : 0;
            const T share = static_cast<T>(static_cast<double>(dy[o]) / static_cast<double>(ties));
            for (std::int64_t t : terms) dx[base + t] = wins(x[base + t]) ? share : T(0);
          });
        });
      },
  }));
}

}  // namespace dagrad::ops
