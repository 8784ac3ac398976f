// softmax_grad: the backward of softmax from its output, dx = y * (dy - sum(dy * y)) per row.
#include "graph/op.h"
#include "ops/kernels/rows.h"
#include "ops/ops.h"

namespace dagrad::ops {

Value softmax_grad(Value y, Value dy) { return y.graph().add_node("softmax_grad", {y, dy})[0]; }

void register_softmax_grad(OpRegistry& registry) {
  registry.add(define_op<NoAttrs>({
      .name = "softmax_grad",
      .doc = "Backward of softmax over the last axis: dx = y * (dy - sum(dy * y)).",
      .inputs = {"y", "dy"},
      .outputs = {"dx"},
      .examples = {{.label = "rows", .inputs = {{.shape = {3, 5}, .low = 0, .high = 1}, {.shape = {3, 5}}}}},
      .infer = [](const NoAttrs&, InferContext& c) {
        c.expect_float(0);
        kernels::expect_last_axis(c, 0);
        c.expect_same_dtype(0, 1);
        c.expect_same_shape(0, 1);
        return std::vector{c.input(0)};
      },
      .forward = [](const NoAttrs&, KernelContext& k) {
        dispatch_float(k.input(0).dtype(), [&]<class T>() {
          const std::int64_t width = k.input(0).shape().back();
          const T* y = k.input(0).data<T>().data();
          const T* dy = k.input(1).data<T>().data();
          T* dx = k.output(0).data<T>().data();
          kernels::parallel_rows(k.input(0).numel(), width, [&](std::int64_t r) {
            const std::int64_t o = r * width;
            double dot = 0;
            for (std::int64_t j = 0; j < width; ++j) dot += static_cast<double>(dy[o + j]) * y[o + j];
            for (std::int64_t j = 0; j < width; ++j) dx[o + j] = static_cast<T>(y[o + j] * (dy[o + j] - dot));
          });
        });
      },
  }));
}

}  // namespace dagrad::ops
