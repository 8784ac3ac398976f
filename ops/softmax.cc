// softmax over the last axis: y = exp(x - max) / sum(exp(x - max)), stable for large logits.
// Gradient: softmax_grad(y, dy), which reads the forward output.
#include <cmath>

#include "graph/op.h"
#include "ops/kernels/rows.h"
#include "ops/ops.h"

namespace dagrad::ops {

Value softmax(Value x) { return x.graph().add_node("softmax", {x})[0]; }

void register_softmax(OpRegistry& registry) {
  registry.add(define_op<NoAttrs>({
      .name = "softmax",
      .doc = "Softmax over the last axis.",
      .inputs = {"x"},
      .examples = {{.label = "rows", .inputs = {{.shape = {3, 5}, .low = -3, .high = 3}}},
                   {.label = "rank3", .inputs = {{.shape = {2, 2, 4}, .low = -3, .high = 3}}}},
      .infer = [](const NoAttrs&, InferContext& c) {
        c.expect_float(0);
        kernels::expect_last_axis(c, 0);
        return std::vector{c.input(0)};
      },
      .forward = [](const NoAttrs&, KernelContext& k) {
        dispatch_float(k.input(0).dtype(), [&]<class T>() {
          const std::int64_t width = k.input(0).shape().back();
          const T* x = k.input(0).data<T>().data();
          T* y = k.output(0).data<T>().data();
          kernels::parallel_rows(k.input(0).numel(), width, [&](std::int64_t r) {
            const T* xr = x + r * width;
            T* yr = y + r * width;
            T top = xr[0];
            for (std::int64_t j = 1; j < width; ++j) top = std::max(top, xr[j]);
            double total = 0;
            for (std::int64_t j = 0; j < width; ++j) total += std::exp(static_cast<double>(xr[j] - top));
            for (std::int64_t j = 0; j < width; ++j) yr[j] = static_cast<T>(std::exp(static_cast<double>(xr[j] - top)) / total);
          });
        });
      },
      .grad = [](const NoAttrs&, GradContext& g) { return std::vector{softmax_grad(g.output(0), g.dy())}; },
  }));
}

}  // namespace dagrad::ops
