// max_pool1d: the maximum of each window of x [N,C,L], with max_pool2d's padding, tie, dilation
// and ceil_mode rules. Gradient: x and dy viewed as [N,C,1,L] through max_pool2d_grad with a
// {1, window} window.
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
  std::int64_t dilation = 1;
  bool ceil_mode = false;
  template <class V> void fields(V& v) {
    v.required("window", window);
    v.required("stride", stride);
    v("pad", pad);
    v("dilation", dilation);
    v("ceil_mode", ceil_mode);
  }
  // The same pooling as a [N,C,1,L] 2-D max pool.
  kernels::MaxPool2dAttrs as_2d() const { return {{1, window}, {1, stride}, {0, pad}, {1, dilation}, ceil_mode}; }
};
}  // namespace

Value max_pool1d(Value x, std::int64_t window, std::int64_t stride, std::int64_t pad) {
  return x.graph().add_node("max_pool1d", {x}, write_attrs(MaxPool1dAttrs{window, stride, pad}))[0];
}

void register_max_pool1d(OpRegistry& registry) {
  using I = std::int64_t;
  registry.add(define_op<MaxPool1dAttrs>({
      .name = "max_pool1d",
      .doc = "1-D max pooling over NCL windows (dilation, ceil_mode); padded cells never win, ties go to the first maximum.",
      .inputs = {"x"},
      .examples = {{.label = "k3s2p1",
                    .attrs = {{"window", I{3}}, {"stride", I{2}}, {"pad", I{1}}},
                    .inputs = {{.shape = {2, 3, 9}, .min_abs = 0.05}}},
                   {.label = "k2s1_overlap",
                    .attrs = {{"window", I{2}}, {"stride", I{1}}},
                    .inputs = {{.shape = {1, 2, 6}, .min_abs = 0.05}}},
                   // 8 = 2 * 3 + 2: ceil_mode adds a third window at 6 that holds two real cells.
                   {.label = "ceil_k3s3",
                    .attrs = {{"window", I{3}}, {"stride", I{3}}, {"ceil_mode", true}},
                    .inputs = {{.shape = {2, 2, 8}, .min_abs = 0.05}}},
                   {.label = "dilation2_big_pad_ceil",
                    .attrs = {{"window", I{3}}, {"stride", I{2}}, {"pad", I{3}}, {"dilation", I{2}}, {"ceil_mode", true}},
                    .inputs = {{.shape = {1, 3, 8}, .min_abs = 0.05}}}},
      .infer = [](const MaxPool1dAttrs& a, InferContext& c) {
        c.expect_rank(0, 3);
        c.expect_float(0);
        const Shape& x = c.shape(0);
        Shape y = {x[0], x[1], kernels::pool_output_extent(c, "length", x[2], {a.window, a.stride, a.pad, a.dilation, a.ceil_mode})};
        return std::vector{TensorType{c.dtype(0), y}};
      },
      .forward = [](const MaxPool1dAttrs& a, KernelContext& k) {
        dispatch_float(k.input(0).dtype(), [&]<class T>() {
          const Shape& xs = k.input(0).shape();
          const Shape& ys = k.output(0).shape();
          // A row of height 1: the 2-D geometry with a {1, window} window and no vertical padding.
          const kernels::MaxPool2dAttrs a2 = a.as_2d();
          kernels::PoolGeometry g = kernels::pool_geometry({xs[0], xs[1], 1, xs[2]}, {ys[0], ys[1], 1, ys[2]}, a2.window,
                                                           a2.stride, a2.pad, a2.dilation);
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
        Value dx4 = g.graph().add_node("max_pool2d_grad", {x4, dy4}, write_attrs(a.as_2d()))[0];
        return std::vector{reshape(dx4, xs)};
      },
  }));
}

}  // namespace dagrad::ops
