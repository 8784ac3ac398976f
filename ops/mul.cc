// mul: y = a * b with numpy broadcasting. Gradient: sum_to(dy * b, a.shape), sum_to(dy * a, b.shape).
#include "graph/op.h"
#include "ops/kernels/broadcast.h"
#include "ops/kernels/parallel.h"
#include "ops/ops.h"

namespace dagrad::ops {

Value mul(Value a, Value b) { return a.graph().add_node("mul", {a, b})[0]; }

void register_mul(OpRegistry& registry) {
  registry.add(define_op<NoAttrs>({
      .name = "mul",
      .doc = "Elementwise product with numpy broadcasting.",
      .inputs = {"a", "b"},
      .examples = {{.label = "same_shape", .inputs = {{.shape = {2, 3, 4}}, {.shape = {2, 3, 4}}}},
                   {.label = "broadcast", .inputs = {{.shape = {4, 5}}, {.shape = {5}}}}},
      .infer = [](const NoAttrs&, InferContext& c) {
        c.expect_float(0);
        c.expect_same_dtype(0, 1);
        return std::vector{TensorType{c.dtype(0), kernels::broadcast_shapes(c.shape(0), c.shape(1), c)}};
      },
      .forward = [](const NoAttrs&, KernelContext& k) {
        dispatch_float(k.input(0).dtype(), [&]<class T>() {
          const Tensor& ta = k.input(0);
          const Tensor& tb = k.input(1);
          Tensor& ty = k.output(0);
          const T* a = ta.data<T>().data();
          const T* b = tb.data<T>().data();
          T* y = ty.data<T>().data();
          if (ta.shape() == tb.shape()) {
            kernels::parallel_chunks(ty.numel(), kernels::kElementwiseGrain, [&](std::int64_t s, std::int64_t e) {
              for (std::int64_t i = s; i < e; ++i) y[i] = a[i] * b[i];
            });
            return;
          }
          kernels::parallel_chunks(ty.numel(), kernels::kElementwiseGrain, [&](std::int64_t s, std::int64_t e) {
            kernels::BroadcastCursor from_a(ta.shape(), ty.shape(), s), from_b(tb.shape(), ty.shape(), s);
            for (std::int64_t i = s; i < e; ++i, from_a.next(), from_b.next()) y[i] = a[from_a.offset()] * b[from_b.offset()];
          });
        });
      },
      .grad = [](const NoAttrs&, GradContext& g) {
        std::vector<Value> grads(2);
        for (int i = 0; i < 2; ++i) {
          if (!g.needs(i)) continue;
          Value product = mul(g.dy(), g.input(1 - i));
          grads[i] = product.shape() == g.shape(i) ? product : sum_to(product, g.shape(i));
        }
        return grads;
      },
  }));
}

}  // namespace dagrad::ops
