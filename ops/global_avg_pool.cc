// global_avg_pool: the mean of each (n, c) plane, [N,C,H,W] -> [N,C].
// Gradient: dy reshaped to [N,C,1,1], broadcast over the plane and scaled by 1 / (H * W).
#include "graph/op.h"
#include "ops/kernels/parallel.h"
#include "ops/kernels/pool.h"
#include "ops/ops.h"

namespace dagrad::ops {

Value global_avg_pool(Value x) { return x.graph().add_node("global_avg_pool", {x})[0]; }

void register_global_avg_pool(OpRegistry& registry) {
  registry.add(define_op<NoAttrs>({
      .name = "global_avg_pool",
      .doc = "Mean over the spatial dims of NCHW: [N,C,H,W] -> [N,C].",
      .inputs = {"x"},
      .examples = {{.label = "nchw", .inputs = {{.shape = {2, 3, 4, 5}}}},
                   {.label = "one_pixel", .inputs = {{.shape = {3, 2, 1, 1}}}}},
      .infer = [](const NoAttrs&, InferContext& c) { return kernels::global_pool_infer(c); },
      .forward = [](const NoAttrs&, KernelContext& k) {
        dispatch_float(k.input(0).dtype(), [&]<class T>() {
          const Shape& xs = k.input(0).shape();
          const std::int64_t planes = xs[0] * xs[1];
          const std::int64_t plane = xs[2] * xs[3];
          const T* x = k.input(0).data<T>().data();
          T* y = k.output(0).data<T>().data();
          const T inv_count = T(1) / static_cast<T>(plane);
          std::int64_t grain = std::max<std::int64_t>(1, kernels::kElementwiseGrain / plane);
          kernels::parallel_chunks(planes, grain, [&](std::int64_t begin, std::int64_t end) {
            for (std::int64_t p = begin; p < end; ++p) {
              T sum = 0;
              for (std::int64_t i = 0; i < plane; ++i) sum += x[p * plane + i];
              y[p] = sum * inv_count;
            }
          });
        });
      },
      .grad = [](const NoAttrs&, GradContext& g) {
        // A copy: adding nodes grows the graph's value list, which would invalidate a reference.
        const Shape xs = g.shape(0);
        Value dy4 = reshape(g.dy(), {xs[0], xs[1], 1, 1});
        return std::vector{scale(broadcast_to(dy4, xs), 1.0 / static_cast<double>(xs[2] * xs[3]))};
      },
  }));
}

}  // namespace dagrad::ops
