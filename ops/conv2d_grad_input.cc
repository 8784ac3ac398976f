// conv2d_grad_input: the gradient of conv2d with respect to x, dx = the transposed convolution of
// dy by w. x_shape is an attribute because a strided convolution may leave trailing rows unread.
#include "graph/op.h"
#include "ops/kernels/conv.h"
#include "ops/ops.h"

namespace dagrad::ops {
namespace {
struct Conv2dGradInputAttrs {
  std::vector<std::int64_t> x_shape;
  Int2 stride{1, 1};
  Int2 pad{0, 0};
  template <class V> void fields(V& v) {
    v.required("x_shape", x_shape);
    v("stride", stride);
    v("pad", pad);
  }
};
}  // namespace

Value conv2d_grad_input(Value dy, Value w, Shape x_shape, Int2 stride, Int2 pad) {
  return dy.graph().add_node("conv2d_grad_input", {dy, w},
                             write_attrs(Conv2dGradInputAttrs{std::move(x_shape), stride, pad}))[0];
}

void register_conv2d_grad_input(OpRegistry& registry) {
  using Ints = std::vector<std::int64_t>;
  registry.add(define_op<Conv2dGradInputAttrs>({
      .name = "conv2d_grad_input",
      .doc = "Backward of conv2d for x: dx [x_shape] from dy [N,F,OH,OW] and the filter w [F,C,KH,KW].",
      .inputs = {"dy", "w"},
      .outputs = {"dx"},
      .examples = {{.label = "stride2_pad1",
                    .attrs = {{"x_shape", Ints{2, 3, 6, 5}}, {"stride", Ints{2, 2}}, {"pad", Ints{1, 1}}},
                    .inputs = {{.shape = {2, 4, 3, 3}}, {.shape = {4, 3, 3, 3}}}}},
      .infer = [](const Conv2dGradInputAttrs& a, InferContext& c) {
        c.expect_float(0);
        c.expect_same_dtype(0, 1);
        kernels::ConvGeometry g = kernels::conv_geometry(c, a.x_shape, c.shape(1), a.stride, a.pad);
        Shape dy_shape = kernels::conv_output_shape(g, 2);
        if (c.shape(0) != dy_shape)
          c.fail("dy must have the conv2d output shape ", to_string(dy_shape), " for x ", to_string(a.x_shape),
                 " and filter ", to_string(c.shape(1)), ", got ", to_string(c.shape(0)));
        return std::vector{TensorType{c.dtype(0), a.x_shape}};
      },
      .forward = [](const Conv2dGradInputAttrs& a, KernelContext& k) {
        kernels::ConvGeometry g = kernels::conv_geometry(a.x_shape, k.input(1).shape(), a.stride, a.pad);
        dispatch_float(k.input(0).dtype(), [&]<class T>() {
          kernels::conv_backward_input<T>(g, k.input(0).data<T>().data(), k.input(1).data<T>().data(),
                                          k.output(0).data<T>().data());
        });
      },
  }));
}

}  // namespace dagrad::ops
