// sigmoid: y = 1 / (1 + exp(-x)). Gradient: sigmoid_grad(y, dy), which reads the forward output.
#include <cmath>

#include "graph/op.h"
#include "ops/kernels/parallel.h"
#include "ops/ops.h"

namespace dagrad::ops {

Value sigmoid(Value x) { return x.graph().add_node("sigmoid", {x})[0]; }

void register_sigmoid(OpRegistry& registry) {
  registry.add(define_op<NoAttrs>({
      .name = "sigmoid",
      .doc = "Logistic function, y = 1 / (1 + exp(-x)).",
      .inputs = {"x"},
      .examples = {{.label = "vector", .inputs = {{.shape = {7}, .low = -4, .high = 4}}},
                   {.label = "nchw", .inputs = {{.shape = {2, 3, 4, 5}, .low = -3, .high = 3}}}},
      .infer = [](const NoAttrs&, InferContext& c) {
        c.expect_float(0);
        return std::vector{c.input(0)};
      },
      .forward = [](const NoAttrs&, KernelContext& k) {
        dispatch_float(k.input(0).dtype(), [&]<class T>() {
          const T* x = k.input(0).data<T>().data();
          T* y = k.output(0).data<T>().data();
          kernels::parallel_chunks(k.input(0).numel(), kernels::kElementwiseGrain, [&](std::int64_t b, std::int64_t e) {
            // exp of a non-positive argument only: no overflow for large |x|, and no 1 - 1 cancellation.
            for (std::int64_t i = b; i < e; ++i) {
              if (x[i] >= T(0)) {
                y[i] = T(1) / (T(1) + std::exp(-x[i]));
              } else {
                T z = std::exp(x[i]);
                y[i] = z / (T(1) + z);
              }
            }
          });
        });
      },
      .grad = [](const NoAttrs&, GradContext& g) { return std::vector{sigmoid_grad(g.output(0), g.dy())}; },
  }));
}

}  // namespace dagrad::ops
