// max_pool2d_grad: the backward of max_pool2d (and of max_pool1d and global_max_pool). Routes each
// dy cell to the argmax of its window, recomputed from x with the forward's tie rule; overlapping
// windows accumulate, in row-major output order within a plane, so the sum is deterministic.
#include <algorithm>

#include "graph/op.h"
#include "ops/kernels/parallel.h"
#include "ops/kernels/pool.h"
#include "ops/ops.h"

namespace dagrad::ops {
using kernels::MaxPool2dAttrs;

Value max_pool2d_grad(Value x, Value dy, Int2 window, Int2 stride, Int2 pad) {
  return x.graph().add_node("max_pool2d_grad", {x, dy}, write_attrs(MaxPool2dAttrs{window, stride, pad}))[0];
}

void register_max_pool2d_grad(OpRegistry& registry) {
  using Ints = std::vector<std::int64_t>;
  registry.add(define_op<MaxPool2dAttrs>({
      .name = "max_pool2d_grad",
      .doc = "Backward of max_pool2d: dx gets dy at each window's argmax (recomputed from x).",
      .inputs = {"x", "dy"},
      .outputs = {"dx"},
      .examples = {{.label = "k3s1p1_overlap",
                    .attrs = {{"window", Ints{3, 3}}, {"stride", Ints{1, 1}}, {"pad", Ints{1, 1}}},
                    .inputs = {{.shape = {1, 2, 4, 5}, .min_abs = 0.05}, {.shape = {1, 2, 4, 5}}}},
                   {.label = "k2s2",
                    .attrs = {{"window", Ints{2, 2}}, {"stride", Ints{2, 2}}},
                    .inputs = {{.shape = {2, 3, 4, 4}, .min_abs = 0.05}, {.shape = {2, 3, 2, 2}}}},
                   {.label = "rect_k2x3_s1x2_p1",
                    .attrs = {{"window", Ints{2, 3}}, {"stride", Ints{1, 2}}, {"pad", Ints{1, 1}}},
                    .inputs = {{.shape = {2, 2, 3, 7}, .min_abs = 0.05}, {.shape = {2, 2, 4, 4}}}},
                   {.label = "ceil_k3s2p1",
                    .attrs = {{"window", Ints{3, 3}}, {"stride", Ints{2, 2}}, {"pad", Ints{1, 1}}, {"ceil_mode", true}},
                    .inputs = {{.shape = {2, 1, 6, 8}, .min_abs = 0.05}, {.shape = {2, 1, 4, 5}}}},
                   {.label = "dilation2_big_pad",
                    .attrs = {{"window", Ints{3, 2}}, {"stride", Ints{1, 2}}, {"pad", Ints{2, 1}}, {"dilation", Ints{2, 3}}},
                    .inputs = {{.shape = {1, 2, 6, 7}, .min_abs = 0.05}, {.shape = {1, 2, 6, 3}}}}},
      .infer = [](const MaxPool2dAttrs& a, InferContext& c) {
        c.expect_rank(0, 4);
        c.expect_float(0);
        c.expect_same_dtype(0, 1);
        Shape y = kernels::pool2d_output_shape(c, c.shape(0), a);
        if (c.shape(1) != y)
          c.fail("dy shape ", to_string(c.shape(1)), " must equal the pooled output shape ", to_string(y));
        return std::vector{c.input(0)};
      },
      .forward = [](const MaxPool2dAttrs& a, KernelContext& k) {
        dispatch_float(k.input(0).dtype(), [&]<class T>() {
          kernels::PoolGeometry g =
              kernels::pool_geometry(k.input(0).shape(), k.input(1).shape(), a.window, a.stride, a.pad, a.dilation);
          const T* x = k.input(0).data<T>().data();
          const T* dy = k.input(1).data<T>().data();
          T* dx = k.output(0).data<T>().data();
          kernels::parallel_chunks(g.planes, g.plane_grain(), [&](std::int64_t begin, std::int64_t end) {
            for (std::int64_t p = begin; p < end; ++p) {
              const T* plane = x + p * g.in_plane();
              const T* dplane = dy + p * g.out_plane();
              T* out = dx + p * g.in_plane();
              std::fill(out, out + g.in_plane(), T(0));
              for (std::int64_t oh = 0; oh < g.out_h; ++oh)
                for (std::int64_t ow = 0; ow < g.out_w; ++ow) {
                  std::int64_t i = kernels::window_argmax(plane, g, oh, ow);
                  if (i >= 0) out[i] += dplane[oh * g.out_w + ow];
                }
            }
          });
        });
      },
  }));
}

}  // namespace dagrad::ops
