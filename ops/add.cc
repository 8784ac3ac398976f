// add: y = a + b with numpy broadcasting (a residual sum, or a bias added to activations).
// Gradient: dy to each input, summed over the dims that input was broadcast along.
#include "graph/op.h"
#include "ops/kernels/broadcast.h"
#include "ops/kernels/parallel.h"
#include "ops/ops.h"

namespace dagrad::ops {

Value add(Value a, Value b) { return a.graph().add_node("add", {a, b})[0]; }

void register_add(OpRegistry& registry) {
  registry.add(define_op<NoAttrs>({
      .name = "add",
      .doc = "Elementwise sum with numpy broadcasting.",
      .inputs = {"a", "b"},
      .examples = {{.label = "same_shape", .inputs = {{.shape = {2, 3, 4}}, {.shape = {2, 3, 4}}}},
                   {.label = "bias", .inputs = {{.shape = {4, 5}}, {.shape = {5}}}},
                   {.label = "both_broadcast", .inputs = {{.shape = {3, 1}}, {.shape = {1, 4}}}}},
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
              for (std::int64_t i = s; i < e; ++i) y[i] = a[i] + b[i];
            });
            return;
          }
          kernels::parallel_chunks(ty.numel(), kernels::kElementwiseGrain, [&](std::int64_t s, std::int64_t e) {
            kernels::BroadcastCursor from_a(ta.shape(), ty.shape(), s), from_b(tb.shape(), ty.shape(), s);
            for (std::int64_t i = s; i < e; ++i, from_a.next(), from_b.next()) y[i] = a[from_a.offset()] + b[from_b.offset()];
          });
        });
      },
      .grad = [](const NoAttrs&, GradContext& g) {
        std::vector<Value> grads(2);
        for (int i = 0; i < 2; ++i)
          if (g.needs(i)) grads[i] = g.shape(i) == g.dy().shape() ? g.dy() : sum_to(g.dy(), g.shape(i));
        return grads;
      },
  }));
}

}  // namespace dagrad::ops
