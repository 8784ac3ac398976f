// tanh: y = tanh(x). Gradient: tanh_grad(y, dy), which reads the forward output.
#include <cmath>

#include "graph/op.h"
#include "ops/kernels/parallel.h"
#include "ops/ops.h"

namespace dagrad::ops {

Value tanh(Value x) { return x.graph().add_node("tanh", {x})[0]; }

void register_tanh(OpRegistry& registry) {
  registry.add(define_op<NoAttrs>({
      .name = "tanh",
      .doc = "Hyperbolic tangent, y = tanh(x).",
      .inputs = {"x"},
      .examples = {{.label = "vector", .inputs = {{.shape = {7}, .low = -3, .high = 3}}},
                   {.label = "nchw", .inputs = {{.shape = {2, 3, 4, 5}, .low = -2, .high = 2}}}},
      .infer = [](const NoAttrs&, InferContext& c) {
        c.expect_float(0);
        return std::vector{c.input(0)};
      },
      .forward = [](const NoAttrs&, KernelContext& k) {
        dispatch_float(k.input(0).dtype(), [&]<class T>() {
          const T* x = k.input(0).data<T>().data();
          T* y = k.output(0).data<T>().data();
          kernels::parallel_chunks(k.input(0).numel(), kernels::kElementwiseGrain, [&](std::int64_t b, std::int64_t e) {
            for (std::int64_t i = b; i < e; ++i) y[i] = std::tanh(x[i]);
          });
        });
      },
      .grad = [](const NoAttrs&, GradContext& g) { return std::vector{tanh_grad(g.output(0), g.dy())}; },
  }));
}

}  // namespace dagrad::ops
