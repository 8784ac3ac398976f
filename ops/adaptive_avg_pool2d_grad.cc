// adaptive_avg_pool2d_grad: the backward of adaptive_avg_pool2d. Each dy cell spreads dy / (its
// window's cell count) over its window; overlapping windows accumulate in row-major output order
// within a plane, so the sum is deterministic. Linear in dy, so its own gradient is
// adaptive_avg_pool2d of the incoming gradient.
#include <algorithm>

#include "graph/op.h"
#include "ops/kernels/parallel.h"
#include "ops/kernels/pool.h"
#include "ops/ops.h"

namespace dagrad::ops {
using kernels::AdaptiveAvgPool2dGradAttrs;

void register_adaptive_avg_pool2d_grad(OpRegistry& registry) {
  using Ints = std::vector<std::int64_t>;
  registry.add(define_op<AdaptiveAvgPool2dGradAttrs>({
      .name = "adaptive_avg_pool2d_grad",
      .doc = "Backward of adaptive_avg_pool2d: dx [N,C,input_size] gets each dy cell spread evenly over its window.",
      .inputs = {"dy"},
      .outputs = {"dx"},
      .examples = {{.label = "divides_6x4_to_3x2", .attrs = {{"input_size", Ints{6, 4}}}, .inputs = {{.shape = {2, 3, 3, 2}}}},
                   {.label = "uneven_5x7_to_3x2", .attrs = {{"input_size", Ints{5, 7}}}, .inputs = {{.shape = {2, 2, 3, 2}}}},
                   {.label = "from_1x1", .attrs = {{"input_size", Ints{5, 6}}}, .inputs = {{.shape = {1, 3, 1, 1}}}},
                   {.label = "upsampled_3x2_to_4x5", .attrs = {{"input_size", Ints{3, 2}}}, .inputs = {{.shape = {1, 2, 4, 5}}}}},
      .infer = [](const AdaptiveAvgPool2dGradAttrs& a, InferContext& c) {
        c.expect_rank(0, 4);
        c.expect_float(0);
        const Shape& dy = c.shape(0);
        if (a.input_size[0] < 0 || a.input_size[1] < 0)
          c.fail("input_size ", a.input_size[0], "x", a.input_size[1], " has a negative dim");
        if (dy[2] == 0 || dy[3] == 0) c.fail("dy height ", dy[2], " x width ", dy[3], " must not be empty");
        const Shape x{dy[0], dy[1], a.input_size[0], a.input_size[1]};
        element_count(x);
        // The forward's rule on x: positive output size, non-empty input.
        kernels::adaptive_pool2d_output_shape(c, x, {dy[2], dy[3]});
        return std::vector{TensorType{c.dtype(0), x}};
      },
      .forward = [](const AdaptiveAvgPool2dGradAttrs&, KernelContext& k) {
        dispatch_float(k.input(0).dtype(), [&]<class T>() {
          const Shape& ys = k.input(0).shape();
          const Shape& xs = k.output(0).shape();
          const auto rows = kernels::adaptive_ranges(xs[2], ys[2]), cols = kernels::adaptive_ranges(xs[3], ys[3]);
          const std::int64_t in_plane = xs[2] * xs[3], out_plane = ys[2] * ys[3];
          const T* dy = k.input(0).data<T>().data();
          T* dx = k.output(0).data<T>().data();
          const std::int64_t work = std::max<std::int64_t>(1, std::max(in_plane, out_plane));
          const std::int64_t grain = std::max<std::int64_t>(1, kernels::kElementwiseGrain / work);
          kernels::parallel_chunks(xs[0] * xs[1], grain, [&](std::int64_t begin, std::int64_t end) {
            for (std::int64_t p = begin; p < end; ++p) {
              const T* dplane = dy + p * out_plane;
              T* out = dx + p * in_plane;
              std::fill(out, out + in_plane, T(0));
              for (std::int64_t oh = 0; oh < ys[2]; ++oh)
                for (std::int64_t ow = 0; ow < ys[3]; ++ow) {
                  const kernels::AdaptiveRange r = rows[oh], c = cols[ow];
                  const T share = dplane[oh * ys[3] + ow] / static_cast<T>((r.end - r.begin) * (c.end - c.begin));
                  for (std::int64_t ih = r.begin; ih < r.end; ++ih)
                    for (std::int64_t iw = c.begin; iw < c.end; ++iw) out[ih * xs[3] + iw] += share;
                }
            }
          });
        });
      },
      .grad = [](const AdaptiveAvgPool2dGradAttrs&, GradContext& g) {
        const Shape dy = g.shape(0);
        return std::vector{adaptive_avg_pool2d(g.dy(), {dy[2], dy[3]})};
      },
  }));
}

}  // namespace dagrad::ops
