// tanh_grad: dx = dy * (1 - y^2), from the forward output y.
#include "graph/op.h"
#include "ops/kernels/parallel.h"
#include "ops/ops.h"

namespace dagrad::ops {

Value tanh_grad(Value y, Value dy) { return y.graph().add_node("tanh_grad", {y, dy})[0]; }

void register_tanh_grad(OpRegistry& registry) {
  registry.add(define_op<NoAttrs>({
      .name = "tanh_grad",
      .doc = "Backward of tanh: dx = dy * (1 - y^2), from the forward output y.",
      .inputs = {"y", "dy"},
      .outputs = {"dx"},
      .examples = {{.label = "nchw", .inputs = {{.shape = {2, 3, 4, 5}}, {.shape = {2, 3, 4, 5}}}}},
      .infer = [](const NoAttrs&, InferContext& c) {
        c.expect_float(0);
        c.expect_same_dtype(0, 1);
        c.expect_same_shape(0, 1);
        return std::vector{c.input(0)};
      },
      .forward = [](const NoAttrs&, KernelContext& k) {
        dispatch_float(k.input(0).dtype(), [&]<class T>() {
          const T* y = k.input(0).data<T>().data();
          const T* dy = k.input(1).data<T>().data();
          T* dx = k.output(0).data<T>().data();
          kernels::parallel_chunks(k.input(0).numel(), kernels::kElementwiseGrain, [&](std::int64_t b, std::int64_t e) {
            for (std::int64_t i = b; i < e; ++i) dx[i] = dy[i] * (T(1) - y[i] * y[i]);
          });
        });
      },
  }));
}

}  // namespace dagrad::ops
