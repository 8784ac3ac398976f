// conv2d_grad_filter: the gradient of conv2d with respect to its filter, dw = sum over images of
// dy_n correlated with x_n, summed in a fixed image order (bitwise equal for any thread count).
#include "ops/kernels/conv_grad.h"

namespace dagrad::ops {

Value conv2d_grad_filter(Value x, Value dy, Shape w_shape, const ConvOptions& options) {
  return kernels::conv2d_grad_node<false>(x, dy, std::move(w_shape), options);
}

Value conv2d_grad_filter(Value x, Value dy, Shape w_shape, Int2 stride, Int2 pad) {
  return conv2d_grad_filter(x, dy, std::move(w_shape), {.stride = {stride[0], stride[1]}, .pad = {pad[0], pad[1]}});
}

void register_conv2d_grad_filter(OpRegistry& registry) {
  registry.add(define_op(kernels::conv2d_grad_op<false>({
      .doc = "Backward of conv2d for the filter: dw [w_shape] from x [N,C,H,W] and dy [N,F,OH,OW].",
      .examples = {{.label = "stride1", .attrs = {{"w_shape", Ints{4, 3, 3, 3}}}, .inputs = {{.shape = {2, 3, 5, 5}}, {.shape = {2, 4, 3, 3}}}},
                   {.label = "stride2_pad1",
                    .attrs = {{"w_shape", Ints{4, 3, 3, 3}}, {"stride", Ints{2, 2}}, {"pad", Ints{1, 1}}},
                    .inputs = {{.shape = {2, 3, 6, 5}}, {.shape = {2, 4, 3, 3}}}},
                   {.label = "pointwise_1x1", .attrs = {{"w_shape", Ints{5, 3, 1, 1}}}, .inputs = {{.shape = {2, 3, 4, 5}}, {.shape = {2, 5, 4, 5}}}},
                   {.label = "nonsquare", .attrs = {{"w_shape", Ints{3, 2, 2, 3}}, {"stride", Ints{2, 1}}, {"pad", Ints{0, 1}}},
                    .inputs = {{.shape = {2, 2, 6, 7}}, {.shape = {2, 3, 3, 7}}}},
                   {.label = "many_images", .attrs = {{"w_shape", Ints{3, 2, 3, 3}}}, .inputs = {{.shape = {11, 2, 4, 4}}, {.shape = {11, 3, 2, 2}}}},
                   {.label = "groups2_dilation2_pad1",
                    .attrs = {{"w_shape", Ints{6, 2, 3, 3}}, {"groups", std::int64_t{2}}, {"dilation", Ints{2, 2}}, {"pad", Ints{1, 1}}},
                    .inputs = {{.shape = {2, 4, 6, 6}}, {.shape = {2, 6, 4, 4}}}},
                   {.label = "depthwise_stride2_uneven_pad",
                    .attrs = {{"w_shape", Ints{3, 1, 3, 3}}, {"groups", std::int64_t{3}}, {"stride", Ints{2, 2}}, {"pad", Ints{1, 0, 0, 1}}},
                    .inputs = {{.shape = {2, 3, 7, 6}}, {.shape = {2, 3, 3, 3}}}},
                   {.label = "grouped_pointwise", .attrs = {{"w_shape", Ints{6, 2, 1, 1}}, {"groups", std::int64_t{2}}},
                    .inputs = {{.shape = {2, 4, 3, 3}}, {.shape = {2, 6, 3, 3}}}}},
  })));
}

}  // namespace dagrad::ops
