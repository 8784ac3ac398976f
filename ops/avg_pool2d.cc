// avg_pool2d: the mean of each window of x [N,C,H,W], with PyTorch's ceil_mode and
// count_include_pad. With count_include_pad (the default) zero padding counts in the divisor, as
// far as the padded input reaches; without it only real cells count (kernels::avg_window).
// Gradient: avg_pool2d_grad, which needs only dy and x's shape.
#include "graph/op.h"
#include "ops/kernels/parallel.h"
#include "ops/kernels/pool.h"
#include "ops/ops.h"

namespace dagrad::ops {
using kernels::AvgPool2dAttrs;

Value avg_pool2d(Value x, Int2 window, Int2 stride, Int2 pad) {
  return x.graph().add_node("avg_pool2d", {x}, write_attrs(AvgPool2dAttrs{window, stride, pad}))[0];
}

Value avg_pool2d(Value x, Int2 window, Int2 stride, Int2 pad, const PoolOptions& options) {
  // Refused here rather than ignored: PyTorch's average pooling has no dilation.
  if (options.dilation != Int2{1, 1})
    fail("avg_pool2d: PoolOptions::dilation {", options.dilation[0], ",", options.dilation[1],
         "} applies to max pooling only");
  const AvgPool2dAttrs attrs{window, stride, pad, options.ceil_mode, options.count_include_pad};
  return x.graph().add_node("avg_pool2d", {x}, write_attrs(attrs))[0];
}

void register_avg_pool2d(OpRegistry& registry) {
  registry.add(define_op<AvgPool2dAttrs>({
      .name = "avg_pool2d",
      .doc = "2-D average pooling over NCHW windows (ceil_mode; count_include_pad, default true: zero padding "
             "counts in the divisor).",
      .inputs = {"x"},
      .examples = kernels::avg_pool2d_examples(),
      .infer = [](const AvgPool2dAttrs& a, InferContext& c) {
        return std::vector{TensorType{c.dtype(0), kernels::pool2d_infer(a, c)}};
      },
      .forward = [](const AvgPool2dAttrs& a, KernelContext& k) {
        dispatch_float(k.input(0).dtype(), [&]<class T>() {
          kernels::PoolGeometry g = kernels::pool_geometry(k.input(0).shape(), k.output(0).shape(), a.window, a.stride, a.pad);
          const T* x = k.input(0).data<T>().data();
          T* y = k.output(0).data<T>().data();
          kernels::parallel_chunks(g.planes, g.plane_grain(), [&](std::int64_t begin, std::int64_t end) {
            for (std::int64_t p = begin; p < end; ++p) {
              const T* plane = x + p * g.in_plane();
              T* out = y + p * g.out_plane();
              for (std::int64_t oh = 0; oh < g.out_h; ++oh)
                for (std::int64_t ow = 0; ow < g.out_w; ++ow) {
                  const kernels::AvgWindow w = kernels::avg_window(g, a.count_include_pad, oh, ow);
                  T sum = 0;
                  for (std::int64_t ih = w.h0; ih < w.h1; ++ih)
                    for (std::int64_t iw = w.w0; iw < w.w1; ++iw) sum += plane[ih * g.in_w + iw];
                  // The shape rule leaves no window with a zero divisor.
                  out[oh * g.out_w + ow] = sum * (T(1) / static_cast<T>(w.divisor));
                }
            }
          });
        });
      },
      .grad = [](const AvgPool2dAttrs& a, GradContext& g) {
        const kernels::AvgPool2dGradAttrs attrs{a, g.shape(0)};
        return std::vector{g.graph().add_node("avg_pool2d_grad", {g.dy()}, write_attrs(attrs))[0]};
      },
  }));
}

}  // namespace dagrad::ops
