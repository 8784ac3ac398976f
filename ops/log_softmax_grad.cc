// log_softmax_grad: the backward of log_softmax from its output, dx = dy - exp(y) * sum(dy) per row.
#include <cmath>

#include "graph/op.h"
#include "ops/kernels/rows.h"
#include "ops/ops.h"

namespace dagrad::ops {

Value log_softmax_grad(Value y, Value dy) { return y.graph().add_node("log_softmax_grad", {y, dy})[0]; }

void register_log_softmax_grad(OpRegistry& registry) {
  registry.add(define_op<NoAttrs>({
      .name = "log_softmax_grad",
      .doc = "Backward of log_softmax over the last axis: dx = dy - exp(y) * sum(dy).",
      .inputs = {"y", "dy"},
      .outputs = {"dx"},
      .examples = {{.label = "rows", .inputs = {{.shape = {3, 5}, .low = -3, .high = -0.1}, {.shape = {3, 5}}}}},
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
            double total = 0;
            for (std::int64_t j = 0; j < width; ++j) total += dy[o + j];
            for (std::int64_t j = 0; j < width; ++j)
              dx[o + j] = static_cast<T>(dy[o + j] - std::exp(static_cast<double>(y[o + j])) * total);
          });
        });
      },
  }));
}

}  // namespace dagrad::ops
