// avg_pool2d: the mean of each window of x [N,C,H,W]; zero padding counts in the divisor
// (PyTorch's count_include_pad=True), so every window divides by window[0] * window[1].
// Gradient: avg_pool2d_grad, which needs only dy and x's shape.
#include "graph/op.h"
#include "ops/kernels/parallel.h"
#include "ops/kernels/pool.h"
#include "ops/ops.h"

namespace dagrad::ops {
using kernels::Pool2dAttrs;

Value avg_pool2d(Value x, Int2 window, Int2 stride, Int2 pad) {
  return x.graph().add_node("avg_pool2d", {x}, write_attrs(Pool2dAttrs{window, stride, pad}))[0];
}

void register_avg_pool2d(OpRegistry& registry) {
  registry.add(define_op<Pool2dAttrs>({
      .name = "avg_pool2d",
      .doc = "2-D average pooling over NCHW windows; zero padding counts in the divisor.",
      .inputs = {"x"},
      .examples = kernels::pool2d_examples(),
      .infer = [](const Pool2dAttrs& a, InferContext& c) {
        return std::vector{TensorType{c.dtype(0), kernels::pool2d_infer(a, c)}};
      },
      .forward = [](const Pool2dAttrs& a, KernelContext& k) {
        dispatch_float(k.input(0).dtype(), [&]<class T>() {
          kernels::PoolGeometry g = kernels::pool_geometry(k.input(0).shape(), k.output(0).shape(), a.window, a.stride, a.pad);
          const T* x = k.input(0).data<T>().data();
          T* y = k.output(0).data<T>().data();
          const T inv_count = T(1) / static_cast<T>(g.window[0] * g.window[1]);
          kernels::parallel_chunks(g.planes, g.plane_grain(), [&](std::int64_t begin, std::int64_t end) {
            for (std::int64_t p = begin; p < end; ++p) {
              const T* plane = x + p * g.in_plane();
              T* out = y + p * g.out_plane();
              for (std::int64_t oh = 0; oh < g.out_h; ++oh)
                for (std::int64_t ow = 0; ow < g.out_w; ++ow) {
                  T sum = 0;
                  for (std::int64_t kh = 0; kh < g.window[0]; ++kh) {
                    std::int64_t ih = oh * g.stride[0] - g.pad[0] + kh;
                    if (ih < 0 || ih >= g.in_h) continue;
                    for (std::int64_t kw = 0; kw < g.window[1]; ++kw) {
                      std::int64_t iw = ow * g.stride[1] - g.pad[1] + kw;
                      if (iw >= 0 && iw < g.in_w) sum += plane[ih * g.in_w + iw];
                    }
                  }
                  out[oh * g.out_w + ow] = sum * inv_count;
                }
            }
          });
        });
      },
      .grad = [](const Pool2dAttrs& a, GradContext& g) {
        return std::vector{avg_pool2d_grad(g.dy(), g.shape(0), a.window, a.stride, a.pad)};
      },
  }));
}

}  // namespace dagrad::ops
