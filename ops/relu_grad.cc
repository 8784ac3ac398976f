// relu_grad: dx = dy where the forward output y > 0, else 0.
#include "graph/op.h"
#include "ops/kernels/parallel.h"
#include "ops/ops.h"

namespace dagrad::ops {

Value relu_grad(Value y, Value dy) { return y.graph().add_node("relu_grad", {y, dy})[0]; }

void register_relu_grad(OpRegistry& registry) {
  registry.add(define_op<NoAttrs>({
      .name = "relu_grad",
      .doc = "Backward of relu: dx = dy * (y > 0), from the forward output y.",
      .inputs = {"y", "dy"},
      .outputs = {"dx"},
      .examples = {{.label = "nchw", .inputs = {{.shape = {2, 3, 4, 5}, .min_abs = 0.05}, {.shape = {2, 3, 4, 5}}}}},
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
            for (std::int64_t i = b; i < e; ++i) {
              const T d = dy[i];  // read unconditionally so the select vectorizes
              dx[i] = y[i] > T(0) ? d : T(0);
            }
          });
        });
      },
  }));
}

}  // namespace dagrad::ops
