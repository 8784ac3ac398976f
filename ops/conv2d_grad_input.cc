// conv2d_grad_input: the gradient of conv2d with respect to x, dx = the transposed convolution of
// dy by w. x_shape is an attribute because a strided convolution may leave trailing rows unread.
#include "ops/kernels/conv_grad.h"

namespace dagrad::ops {

Value conv2d_grad_input(Value dy, Value w, Shape x_shape, const ConvOptions& options) {
  return kernels::conv2d_grad_node<true>(dy, w, std::move(x_shape), options);
}

Value conv2d_grad_input(Value dy, Value w, Shape x_shape, Int2 stride, Int2 pad) {
  return conv2d_grad_input(dy, w, std::move(x_shape), {.stride = {stride[0], stride[1]}, .pad = {pad[0], pad[1]}});
}

void register_conv2d_grad_input(OpRegistry& registry) {
  registry.add(define_op(kernels::conv2d_grad_op<true>({
      .doc = "Backward of conv2d for x: dx [x_shape] from dy [N,F,OH,OW] and the filter w [F,C,KH,KW].",
      .examples = {{.label = "stride2_pad1",
                    .attrs = {{"x_shape", Ints{2, 3, 6, 5}}, {"stride", Ints{2, 2}}, {"pad", Ints{1, 1}}},
                    .inputs = {{.shape = {2, 4, 3, 3}}, {.shape = {4, 3, 3, 3}}}},
                   {.label = "stride1", .attrs = {{"x_shape", Ints{2, 3, 5, 5}}}, .inputs = {{.shape = {2, 4, 3, 3}}, {.shape = {4, 3, 3, 3}}}},
                   {.label = "stride2_unread_edge", .attrs = {{"x_shape", Ints{2, 2, 7, 6}}, {"stride", Ints{2, 2}}},
                    .inputs = {{.shape = {2, 3, 3, 3}}, {.shape = {3, 2, 2, 2}}}},
                   {.label = "pointwise_1x1", .attrs = {{"x_shape", Ints{2, 3, 4, 5}}}, .inputs = {{.shape = {2, 5, 4, 5}}, {.shape = {5, 3, 1, 1}}}},
                   {.label = "nonsquare", .attrs = {{"x_shape", Ints{2, 2, 6, 7}}, {"stride", Ints{2, 1}}, {"pad", Ints{0, 1}}},
                    .inputs = {{.shape = {2, 3, 3, 7}}, {.shape = {3, 2, 2, 3}}}},
                   {.label = "groups2_dilation2_pad1",
                    .attrs = {{"x_shape", Ints{2, 4, 6, 6}}, {"groups", std::int64_t{2}}, {"dilation", Ints{2, 2}}, {"pad", Ints{1, 1}}},
                    .inputs = {{.shape = {2, 6, 4, 4}}, {.shape = {6, 2, 3, 3}}}},
                   {.label = "depthwise_stride2_uneven_pad",
                    .attrs = {{"x_shape", Ints{2, 3, 7, 6}}, {"groups", std::int64_t{3}}, {"stride", Ints{2, 2}}, {"pad", Ints{1, 0, 0, 1}}},
                    .inputs = {{.shape = {2, 3, 3, 3}}, {.shape = {3, 1, 3, 3}}}},
                   {.label = "grouped_pointwise", .attrs = {{"x_shape", Ints{2, 4, 3, 3}}, {"groups", std::int64_t{2}}},
                    .inputs = {{.shape = {2, 6, 3, 3}}, {.shape = {6, 2, 1, 1}}}}},
  })));
}

}  // namespace dagrad::ops
