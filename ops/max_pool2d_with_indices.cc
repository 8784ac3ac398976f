// max_pool2d_with_indices: max_pool2d that also returns, for every output cell, the index of the
// input cell that won (within its H*W plane; same tie rule). Its gradient scatters dy through the
// saved indices (max_pool2d_with_indices_grad) instead of searching every window of x again. The
// DSL's max_pool2d builds this op; the plain max_pool2d remains for graphs saved before it.
#include "graph/op.h"
#include "ops/kernels/max_pool.h"
#include "ops/kernels/parallel.h"
#include "ops/kernels/pool.h"
#include "ops/ops.h"

namespace dagrad::ops {
using kernels::MaxPool2dAttrs;

std::vector<Value> max_pool2d_with_indices(Value x, Int2 window, Int2 stride, Int2 pad) {
  return x.graph().add_node("max_pool2d_with_indices", {x}, write_attrs(MaxPool2dAttrs{window, stride, pad}));
}

Value max_pool2d(Value x, Int2 window, Int2 stride, Int2 pad) { return max_pool2d_with_indices(x, window, stride, pad)[0]; }

Value max_pool2d(Value x, Int2 window, Int2 stride, Int2 pad, const PoolOptions& options) {
  // Refused here rather than ignored: max pooling has no divisor, so the option would do nothing.
  if (!options.count_include_pad)
    fail("max_pool2d: PoolOptions::count_include_pad = false applies to average pooling only");
  const MaxPool2dAttrs attrs{window, stride, pad, options.dilation, options.ceil_mode};
  return x.graph().add_node("max_pool2d_with_indices", {x}, write_attrs(attrs))[0];
}

void register_max_pool2d_with_indices(OpRegistry& registry) {
  registry.add(define_op<MaxPool2dAttrs>({
      .name = "max_pool2d_with_indices",
      .doc = "2-D max pooling over NCHW windows (dilation, ceil_mode) that also returns each window's argmax (an "
             "index into the input's H*W plane, i64); padded cells never win, ties go to the first maximum.",
      .inputs = {"x"},
      .outputs = {"y", "indices"},
      .examples = kernels::max_pool2d_examples(),
      .infer = [](const MaxPool2dAttrs& a, InferContext& c) {
        const Shape y = kernels::pool2d_infer(a, c);
        return std::vector{TensorType{c.dtype(0), y}, TensorType{DType::i64, y}};
      },
      .forward = [](const MaxPool2dAttrs& a, KernelContext& k) {
        dispatch_float(k.input(0).dtype(), [&]<class T>() {
          kernels::PoolGeometry g =
              kernels::pool_geometry(k.input(0).shape(), k.output(0).shape(), a.window, a.stride, a.pad, a.dilation);
          const T* x = k.input(0).data<T>().data();
          T* y = k.output(0).data<T>().data();
          std::int64_t* indices = k.output(1).data<std::int64_t>().data();
          kernels::parallel_chunks(g.planes, g.plane_grain(), [&](std::int64_t begin, std::int64_t end) {
            for (std::int64_t p = begin; p < end; ++p)
              kernels::max_pool_plane(g, x + p * g.in_plane(), y + p * g.out_plane(), indices + p * g.out_plane());
          });
        });
      },
      .grad = [](const MaxPool2dAttrs& a, GradContext& g) {
        const Shape x = g.shape(0);
        const kernels::MaxPoolIndicesGradAttrs attrs{a, {x[2], x[3]}};
        return std::vector{g.graph().add_node("max_pool2d_with_indices_grad", {g.output(1), g.dy(0)}, write_attrs(attrs))[0]};
      },
  }));
}

}  // namespace dagrad::ops
