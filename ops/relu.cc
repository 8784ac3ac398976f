// relu: y = max(x, 0). Gradient: relu_grad(y, dy), which reads the forward output.
#include "graph/op.h"
#include "ops/kernels/parallel.h"
#include "ops/ops.h"

namespace dagrad::ops {

Value relu(Value x) { return x.graph().add_node("relu", {x})[0]; }

void register_relu(OpRegistry& registry) {
  registry.add(define_op<NoAttrs>({
      .name = "relu",
      .doc = "Rectified linear unit, y = max(x, 0).",
      .inputs = {"x"},
      .examples = {{.label = "vector", .inputs = {{.shape = {7}, .min_abs = 0.05}}},
                   {.label = "nchw", .inputs = {{.shape = {2, 3, 4, 5}, .min_abs = 0.05}}}},
      .infer = [](const NoAttrs&, InferContext& c) {
        c.expect_float(0);
        return std::vector{c.input(0)};
      },
      .forward = [](const NoAttrs&, KernelContext& k) {
        dispatch_float(k.input(0).dtype(), [&]<class T>() {
          const T* x = k.input(0).data<T>().data();
          T* y = k.output(0).data<T>().data();
          kernels::parallel_chunks(k.input(0).numel(), kernels::kElementwiseGrain, [&](std::int64_t b, std::int64_t e) {
            for (std::int64_t i = b; i < e; ++i) y[i] = x[i] > T(0) ? x[i] : T(0);
          });
        });
      },
      .grad = [](const NoAttrs&, GradContext& g) { return std::vector{relu_grad(g.output(0), g.dy())}; },
  }));
}

}  // namespace dagrad::ops
