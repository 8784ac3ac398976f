// max_pool2d: the maximum of each window of x [N,C,H,W] (padding is -inf, so padded cells never
// win; ties go to the first maximum in row-major window order), with PyTorch's dilation and
// ceil_mode. Gradient: max_pool2d_grad, which recomputes the argmax from x with the same rule. The
// DSL's max_pool2d builds max_pool2d_with_indices instead; this op serves graphs saved before it
// (max_pool2d_recomputing).
#include "graph/op.h"
#include "ops/kernels/max_pool.h"
#include "ops/kernels/parallel.h"
#include "ops/kernels/pool.h"
#include "ops/ops.h"

namespace dagrad::ops {
using kernels::MaxPool2dAttrs;

Value max_pool2d_recomputing(Value x, Int2 window, Int2 stride, Int2 pad) {
  return x.graph().add_node("max_pool2d", {x}, write_attrs(MaxPool2dAttrs{window, stride, pad}))[0];
}

void register_max_pool2d(OpRegistry& registry) {
  registry.add(define_op<MaxPool2dAttrs>({
      .name = "max_pool2d",
      .doc = "2-D max pooling over NCHW windows (dilation, ceil_mode); padded cells never win, ties go to the first maximum.",
      .inputs = {"x"},
      .examples = kernels::max_pool2d_examples(),
      .infer = [](const MaxPool2dAttrs& a, InferContext& c) {
        return std::vector{TensorType{c.dtype(0), kernels::pool2d_infer(a, c)}};
      },
      .forward = [](const MaxPool2dAttrs& a, KernelContext& k) {
        dispatch_float(k.input(0).dtype(), [&]<class T>() {
          kernels::PoolGeometry g =
              kernels::pool_geometry(k.input(0).shape(), k.output(0).shape(), a.window, a.stride, a.pad, a.dilation);
          const T* x = k.input(0).data<T>().data();
          T* y = k.output(0).data<T>().data();
          kernels::parallel_chunks(g.planes, g.plane_grain(), [&](std::int64_t begin, std::int64_t end) {
            for (std::int64_t p = begin; p < end; ++p)
              kernels::max_pool_plane<T>(g, x + p * g.in_plane(), y + p * g.out_plane(), nullptr);
          });
        });
      },
      .grad = [](const MaxPool2dAttrs& a, GradContext& g) {
        // The same attributes: max_pool2d_grad recomputes the windows this node pooled.
        return std::vector{g.graph().add_node("max_pool2d_grad", {g.input(0), g.dy()}, write_attrs(a))[0]};
      },
  }));
}

}  // namespace dagrad::ops
