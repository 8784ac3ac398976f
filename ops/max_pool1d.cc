// max_pool1d: the maximum of each window of x [N,C,L], with max_pool2d's padding and tie rules.
// Gradient: x and dy viewed as [N,C,1,L] through max_pool2d_grad with a {1, window} window.
#include "graph/op.h"
#include "ops/kernels/parallel.h"
#include "ops/kernels/pool.h"
#include "ops/ops.h"

namespace dagrad::ops {
namespace {
struct MaxPool1dAttrs {
  std::int64_t window = 0;
  std::int64_t stride = 0;
  std::int64_t pad = 0;
  template <class V> void fields(V& v) {
    v.required("window", window);
    v.required("stride", stride);
    v("pad", pad);
  }
};
}  // namespace

Value max_pool1d(Value x, std::int64_t window, std::int64_t stride, std::int64_t pad) {
  return x.graph().add_node("max_pool1d", {x}, write_attrs(MaxPool1dAttrs{window, stride, pad}))[0];
}

void register_max_pool1d(OpRegistry& registry) {
  registry.add(define_op<MaxPool1dAttrs>({
      .name = "max_pool1d",
      .doc = "1-D max pooling over NCL windows; padded cells never win, ties go to the first maximum.",
      .inputs = {"x"},
      .examples = {{.label = "k3s2p1",
                    .attrs = {{"window", std::int64_t{3}}, {"stride", std::int64_t{2}}, {"pad", std::int64_t{1}}},
                    .inputs = {{.shape = {2, 3, 9}, .min_abs = 0.05}}},
                   {.label = "k2s1_overlap",
                    .attrs = {{"window", std::int64_t{2}}, {"stride", std::int64_t{1}}},
                    .inputs = {{.shape = {1, 2, 6}, .min_abs = 0.05}}}},
      .infer = [](const MaxPool1dAttrs& a, InferContext& c) {
        c.expect_rank(0, 3);
        c.expect_float(0);
        const Shape& x = c.shape(0);
        Shape y = {x[0], x[1], kernels::pool_output_extent(c, "length", x[2], a.window, a.stride, a.pad)};
        return std::vector{TensorType{c.dtype(0), y}};
      },
      .forward = [](const MaxPool1dAttrs& a, KernelContext& k) {
        dispatch_float(k.input(0).dtype(), [&]<class T>() {
          const Shape& xs = k.input(0).shape();
          const Shape& ys = k.output(0).shape();
          // A row of height 1: the 2-D geometry with a {1, window} window and no vertical padding.
          kernels::PoolGeometry g = kernels::pool_geometry({xs[0], xs[1], 1, xs[2]}, {ys[0], ys[1], 1, ys[2]},
                                                           {1, a.window}, {1, a.stride}, {0, a.pad});
          const T* x = k.input(0).data<T>().data();
          T* y = k.output(0).data<T>().data();
          kernels::parallel_chunks(g.planes, g.plane_grain(), [&](std::int64_t begin, std::int64_t end) {
            for (std::int64_t p = begin; p < end; ++p) {
              const T* row = x + p * g.in_w;
              T* out = y + p * g.out_w;
              for (std::int64_t o = 0; o < g.out_w; ++o) {
                std::int64_t i = kernels::window_argmax(row, g, 0, o);
                out[o] = i >= 0 ? row[i] : -std::numeric_limits<T>::infinity();
              }
            }
          });
        });
      },
      .grad = [](const MaxPool1dAttrs& a, GradContext& g) {
        // Copies: adding nodes grows the graph's value list, which would invalidate references.
        const Shape xs = g.shape(0);
        const Shape ys = g.dy().shape();
        Value x4 = reshape(g.input(0), {xs[0], xs[1], 1, xs[2]});
        Value dy4 = reshape(g.dy(), {ys[0], ys[1], 1, ys[2]});
        Value dx4 = max_pool2d_grad(x4, dy4, {1, a.window}, {1, a.stride}, {0, a.pad});
        return std::vector{reshape(dx4, xs)};
      },
  }));
}

}  // namespace dagrad::ops
