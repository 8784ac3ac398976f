// adaptive_avg_pool2d: average pooling of x [N,C,H,W] to a given output size [N,C,OH,OW] with
// PyTorch's windows (kernels::adaptive_ranges), which overlap or differ in size when the output
// does not divide the input; what torchvision puts before its classifiers.
// Gradient: adaptive_avg_pool2d_grad, which needs only dy and x's height and width.
#include "graph/op.h"
#include "ops/kernels/parallel.h"
#include "ops/kernels/pool.h"
#include "ops/ops.h"

namespace dagrad::ops {
namespace {
struct AdaptiveAvgPool2dAttrs {
  Int2 output_size{0, 0};
  template <class V> void fields(V& v) { v.required("output_size", output_size); }
};
}  // namespace

Value adaptive_avg_pool2d(Value x, Int2 output_size) {
  return x.graph().add_node("adaptive_avg_pool2d", {x}, write_attrs(AdaptiveAvgPool2dAttrs{output_size}))[0];
}

void register_adaptive_avg_pool2d(OpRegistry& registry) {
  using Ints = std::vector<std::int64_t>;
  registry.add(define_op<AdaptiveAvgPool2dAttrs>({
      .name = "adaptive_avg_pool2d",
      .doc = "Average pooling of NCHW to output_size [OH, OW]; window i spans floor(i*H/OH) .. ceil((i+1)*H/OH).",
      .inputs = {"x"},
      .examples = {{.label = "divides_6x4_to_3x2", .attrs = {{"output_size", Ints{3, 2}}}, .inputs = {{.shape = {2, 3, 6, 4}}}},
                   {.label = "uneven_5x7_to_3x2", .attrs = {{"output_size", Ints{3, 2}}}, .inputs = {{.shape = {2, 2, 5, 7}}}},
                   {.label = "to_1x1", .attrs = {{"output_size", Ints{1, 1}}}, .inputs = {{.shape = {1, 3, 5, 6}}}},
                   {.label = "upsamples_3x2_to_4x5", .attrs = {{"output_size", Ints{4, 5}}}, .inputs = {{.shape = {1, 2, 3, 2}}}}},
      .infer = [](const AdaptiveAvgPool2dAttrs& a, InferContext& c) {
        c.expect_rank(0, 4);
        c.expect_float(0);
        return std::vector{TensorType{c.dtype(0), kernels::adaptive_pool2d_output_shape(c, c.shape(0), a.output_size)}};
      },
      .forward = [](const AdaptiveAvgPool2dAttrs&, KernelContext& k) {
        dispatch_float(k.input(0).dtype(), [&]<class T>() {
          const Shape& xs = k.input(0).shape();
          const Shape& ys = k.output(0).shape();
          const auto rows = kernels::adaptive_ranges(xs[2], ys[2]), cols = kernels::adaptive_ranges(xs[3], ys[3]);
          const std::int64_t in_plane = xs[2] * xs[3], out_plane = ys[2] * ys[3];
          const T* x = k.input(0).data<T>().data();
          T* y = k.output(0).data<T>().data();
          // Each output cell reads about in_plane / out_plane cells (more where windows overlap).
          const std::int64_t work = std::max<std::int64_t>(1, std::max(in_plane, out_plane));
          const std::int64_t grain = std::max<std::int64_t>(1, kernels::kElementwiseGrain / work);
          kernels::parallel_chunks(xs[0] * xs[1], grain, [&](std::int64_t begin, std::int64_t end) {
            for (std::int64_t p = begin; p < end; ++p) {
              const T* plane = x + p * in_plane;
              T* out = y + p * out_plane;
              for (std::int64_t oh = 0; oh < ys[2]; ++oh)
                for (std::int64_t ow = 0; ow < ys[3]; ++ow) {
                  const kernels::AdaptiveRange r = rows[oh], c = cols[ow];
                  T sum = 0;
                  for (std::int64_t ih = r.begin; ih < r.end; ++ih)
                    for (std::int64_t iw = c.begin; iw < c.end; ++iw) sum += plane[ih * xs[3] + iw];
                  out[oh * ys[3] + ow] = sum / static_cast<T>((r.end - r.begin) * (c.end - c.begin));
                }
            }
          });
        });
      },
      .grad = [](const AdaptiveAvgPool2dAttrs&, GradContext& g) {
        const Shape xs = g.shape(0);
        const kernels::AdaptiveAvgPool2dGradAttrs attrs{{xs[2], xs[3]}};
        return std::vector{g.graph().add_node("adaptive_avg_pool2d_grad", {g.dy()}, write_attrs(attrs))[0]};
      },
  }));
}

}  // namespace dagrad::ops
