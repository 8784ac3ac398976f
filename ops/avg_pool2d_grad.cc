// avg_pool2d_grad: the backward of avg_pool2d. Each dy cell spreads dy / divisor over the real
// cells of its window (the divisor of kernels::avg_window, as in the forward); overlapping windows
// accumulate in row-major output order within a plane, so the sum is deterministic.
#include <algorithm>

#include "graph/op.h"
#include "ops/kernels/parallel.h"
#include "ops/kernels/pool.h"
#include "ops/ops.h"

namespace dagrad::ops {
using kernels::AvgPool2dGradAttrs;

Value avg_pool2d_grad(Value dy, Shape x_shape, Int2 window, Int2 stride, Int2 pad) {
  return dy.graph().add_node("avg_pool2d_grad", {dy},
                             write_attrs(AvgPool2dGradAttrs{{.window = window, .stride = stride, .pad = pad}, std::move(x_shape)}))[0];
}

void register_avg_pool2d_grad(OpRegistry& registry) {
  using Ints = std::vector<std::int64_t>;
  registry.add(define_op<AvgPool2dGradAttrs>({
      .name = "avg_pool2d_grad",
      .doc = "Backward of avg_pool2d: spreads dy evenly over each window's real cells (divisor as in the forward).",
      .inputs = {"dy"},
      .outputs = {"dx"},
      .examples = {{.label = "k3s2p1",
                    .attrs = {{"x_shape", Ints{1, 2, 5, 5}}, {"window", Ints{3, 3}}, {"stride", Ints{2, 2}}, {"pad", Ints{1, 1}}},
                    .inputs = {{.shape = {1, 2, 3, 3}}}},
                   {.label = "k2s2",
                    .attrs = {{"x_shape", Ints{2, 3, 4, 4}}, {"window", Ints{2, 2}}, {"stride", Ints{2, 2}}},
                    .inputs = {{.shape = {2, 3, 2, 2}}}},
                   // 6x8 with window 3, stride 2, pad 1: ceil_mode's last windows run past the padding.
                   {.label = "ceil_k3s2p1",
                    .attrs = {{"x_shape", Ints{2, 1, 6, 8}}, {"window", Ints{3, 3}}, {"stride", Ints{2, 2}}, {"pad", Ints{1, 1}},
                              {"ceil_mode", true}},
                    .inputs = {{.shape = {2, 1, 4, 5}}}},
                   {.label = "exclude_pad_ceil",
                    .attrs = {{"x_shape", Ints{1, 3, 6, 5}}, {"window", Ints{3, 2}}, {"stride", Ints{2, 2}}, {"pad", Ints{1, 1}},
                              {"ceil_mode", true}, {"count_include_pad", false}},
                    .inputs = {{.shape = {1, 3, 4, 3}}}},
                   {.label = "exclude_pad_big_pad",
                    .attrs = {{"x_shape", Ints{1, 2, 4, 3}}, {"window", Ints{3, 2}}, {"stride", Ints{1, 1}}, {"pad", Ints{2, 1}},
                              {"count_include_pad", false}},
                    .inputs = {{.shape = {1, 2, 6, 4}}}}},
      .infer = [](const AvgPool2dGradAttrs& a, InferContext& c) {
        c.expect_rank(0, 4);
        c.expect_float(0);
        if (a.x_shape.size() != 4) c.fail("x_shape ", to_string(a.x_shape), " must have rank 4 (NCHW)");
        for (std::int64_t d : a.x_shape)
          if (d < 0) c.fail("x_shape ", to_string(a.x_shape), " has a negative dim");
        element_count(a.x_shape);
        Shape y = kernels::pool2d_output_shape(c, a.x_shape, a.forward());
        if (c.shape(0) != y)
          c.fail("dy shape ", to_string(c.shape(0)), " must equal the pooled output shape ", to_string(y),
                 " of x_shape ", to_string(a.x_shape));
        return std::vector{TensorType{c.dtype(0), a.x_shape}};
      },
      .forward = [](const AvgPool2dGradAttrs& a, KernelContext& k) {
        dispatch_float(k.input(0).dtype(), [&]<class T>() {
          kernels::PoolGeometry g = kernels::pool_geometry(a.x_shape, k.input(0).shape(), a.window, a.stride, a.pad);
          const T* dy = k.input(0).data<T>().data();
          T* dx = k.output(0).data<T>().data();
          kernels::parallel_chunks(g.planes, g.plane_grain(), [&](std::int64_t begin, std::int64_t end) {
            for (std::int64_t p = begin; p < end; ++p) {
              const T* dplane = dy + p * g.out_plane();
              T* out = dx + p * g.in_plane();
              std::fill(out, out + g.in_plane(), T(0));
              for (std::int64_t oh = 0; oh < g.out_h; ++oh)
                for (std::int64_t ow = 0; ow < g.out_w; ++ow) {
                  const kernels::AvgWindow w = kernels::avg_window(g, a.count_include_pad, oh, ow);
                  const T share = dplane[oh * g.out_w + ow] * (T(1) / static_cast<T>(w.divisor));
                  for (std::int64_t ih = w.h0; ih < w.h1; ++ih)
                    for (std::int64_t iw = w.w0; iw < w.w1; ++iw) out[ih * g.in_w + iw] += share;
                }
            }
          });
        });
      },
  }));
}

}  // namespace dagrad::ops
