// global_max_pool: the maximum of each (n, c) plane, [N,C,H,W] -> [N,C]: max pooling with the
// whole plane as one window, so the tie rule (the first maximum in row-major order wins, a NaN
// propagates) is kernels::window_argmax's. Gradient: max_pool2d_grad with that window, which
// routes dy to the same argmax; no backward op of its own is needed.
#include "graph/op.h"
#include "ops/kernels/max_pool.h"
#include "ops/kernels/parallel.h"
#include "ops/kernels/pool.h"
#include "ops/ops.h"

namespace dagrad::ops {

Value global_max_pool(Value x) { return x.graph().add_node("global_max_pool", {x})[0]; }

void register_global_max_pool(OpRegistry& registry) {
  registry.add(define_op<NoAttrs>({
      .name = "global_max_pool",
      .doc = "Maximum over the spatial dims of NCHW: [N,C,H,W] -> [N,C]; ties go to the first maximum.",
      .inputs = {"x"},
      .examples = {{.label = "nchw", .inputs = {{.shape = {2, 3, 4, 5}, .min_abs = 0.05}}},
                   {.label = "one_pixel", .inputs = {{.shape = {3, 2, 1, 1}, .min_abs = 0.05}}},
                   {.label = "wide_row", .inputs = {{.shape = {1, 4, 1, 37}, .min_abs = 0.05}}}},
      .infer = [](const NoAttrs&, InferContext& c) { return kernels::global_pool_infer(c); },
      .forward = [](const NoAttrs&, KernelContext& k) {
        dispatch_float(k.input(0).dtype(), [&]<class T>() {
          const Shape& xs = k.input(0).shape();
          const kernels::PoolGeometry g =
              kernels::pool_geometry(xs, {xs[0], xs[1], 1, 1}, {xs[2], xs[3]}, {1, 1}, {0, 0});
          const T* x = k.input(0).data<T>().data();
          T* y = k.output(0).data<T>().data();
          kernels::parallel_chunks(g.planes, g.plane_grain(), [&](std::int64_t begin, std::int64_t end) {
            for (std::int64_t p = begin; p < end; ++p) kernels::max_pool_plane<T>(g, x + p * g.in_plane(), y + p, nullptr);
          });
        });
      },
      .grad = [](const NoAttrs&, GradContext& g) {
        // A copy: adding nodes grows the graph's value list, which would invalidate a reference.
        const Shape xs = g.shape(0);
        Value dy4 = reshape(g.dy(), {xs[0], xs[1], 1, 1});
        return std::vector{max_pool2d_grad(g.input(0), dy4, {xs[2], xs[3]}, {1, 1}, {0, 0})};
      },
  }));
}

}  // namespace dagrad::ops
