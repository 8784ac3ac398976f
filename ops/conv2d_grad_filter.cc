// conv2d_grad_filter: the gradient of conv2d with respect to its filter, dw = sum over images of
// dy_n correlated with x_n, summed in a fixed image order (bitwise equal for any thread count).
#include "graph/op.h"
#include "ops/kernels/conv.h"
#include "ops/ops.h"

namespace dagrad::ops {
namespace {
struct Conv2dGradFilterAttrs {
  std::vector<std::int64_t> w_shape;
  Int2 stride{1, 1};
  Int2 pad{0, 0};
  template <class V> void fields(V& v) {
    v.required("w_shape", w_shape);
    v("stride", stride);
    v("pad", pad);
  }
};
}  // namespace

Value conv2d_grad_filter(Value x, Value dy, Shape w_shape, Int2 stride, Int2 pad) {
  return x.graph().add_node("conv2d_grad_filter", {x, dy},
                            write_attrs(Conv2dGradFilterAttrs{std::move(w_shape), stride, pad}))[0];
}

void register_conv2d_grad_filter(OpRegistry& registry) {
  using Ints = std::vector<std::int64_t>;
  registry.add(define_op<Conv2dGradFilterAttrs>({
      .name = "conv2d_grad_filter",
      .doc = "Backward of conv2d for the filter: dw [w_shape] from x [N,C,H,W] and dy [N,F,OH,OW].",
      .inputs = {"x", "dy"},
      .outputs = {"dw"},
      .examples = {{.label = "stride2_pad1",
                    .attrs = {{"w_shape", Ints{4, 3, 3, 3}}, {"stride", Ints{2, 2}}, {"pad", Ints{1, 1}}},
                    .inputs = {{.shape = {2, 3, 6, 5}}, {.shape = {2, 4, 3, 3}}}}},
      .infer = [](const Conv2dGradFilterAttrs& a, InferContext& c) {
        c.expect_float(0);
        c.expect_same_dtype(0, 1);
        kernels::ConvGeometry g = kernels::conv_geometry(c, c.shape(0), a.w_shape, a.stride, a.pad);
        Shape dy_shape = kernels::conv_output_shape(g, 2);
        if (c.shape(1) != dy_shape)
          c.fail("dy must have the conv2d output shape ", to_string(dy_shape), " for x ", to_string(c.shape(0)),
                 " and filter ", to_string(a.w_shape), ", got ", to_string(c.shape(1)));
        return std::vector{TensorType{c.dtype(0), a.w_shape}};
      },
      .forward = [](const Conv2dGradFilterAttrs& a, KernelContext& k) {
        kernels::ConvGeometry g = kernels::conv_geometry(k.input(0).shape(), a.w_shape, a.stride, a.pad);
        dispatch_float(k.input(0).dtype(), [&]<class T>() {
          kernels::conv_backward_filter<T>(g, k.input(0).data<T>().data(), k.input(1).data<T>().data(),
                                           k.output(0).data<T>().data());
        });
      },
  }));
}

}  // namespace dagrad::ops
