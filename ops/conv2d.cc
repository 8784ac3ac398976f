// conv2d: y[n,f] = sum_c x[n,c] (*) w[f,c] + bias[f], a cross-correlation as in PyTorch, on NCHW
// tensors with stride, zero padding (even or per side), dilation and groups (filter f reads only the
// channels of its group; groups == C is a depthwise convolution). The gradient is again a pair of
// convolutions (conv2d_grad_input, conv2d_grad_filter) plus a reduction of dy for the bias.
#include "graph/op.h"
#include "ops/kernels/conv.h"
#include "ops/kernels/elementwise.h"
#include "ops/ops.h"

namespace dagrad::ops {
namespace {
using Conv2dAttrs = kernels::Conv2dParams;

// The forward kernel, with an optional epilogue applied to each image while it is in cache. A
// residual sum (and the activation after it) follows in one sweep over the output: y = relu(y + r)
// in T, the separate add's and relu's arithmetic.
void forward(const Conv2dAttrs& a, KernelContext& k, const ChannelEpilogue* epilogue) {
  kernels::ConvGeometry g = kernels::conv_geometry(k.input(0).shape(), k.input(1).shape(), a.spec());
  if (epilogue && epilogue->residual &&
      (epilogue->residual->shape() != k.output(0).shape() || epilogue->residual->dtype() != k.input(0).dtype()))
    fail("op 'conv2d' node '", k.node().name, "': the residual added to y is ", to_string(epilogue->residual->shape()),
         ", y is ", to_string(k.output(0).shape()));
  dispatch_float(k.input(0).dtype(), [&]<class T>() {
    const T* bias = k.num_inputs() == 3 ? k.input(2).data<T>().data() : nullptr;
    T* y = k.output(0).data<T>().data();
    if (!epilogue || !epilogue->residual) {
      kernels::conv_forward<T>(g, k.input(0).data<T>().data(), k.input(1).data<T>().data(), bias, y, epilogue);
      return;
    }
    const ChannelEpilogue affine{.scale = epilogue->scale, .shift = epilogue->shift};
    kernels::conv_forward<T>(g, k.input(0).data<T>().data(), k.input(1).data<T>().data(), bias, y,
                             affine.scale ? &affine : nullptr);
    const T* r = epilogue->residual->data<T>().data();
    if (epilogue->activation == Activation::relu)
      kernels::map_elementwise(k.output(0).numel(), y, [](T v, T s) { v = v + s; return v > T(0) ? v : T(0); }, y, r);
    else
      kernels::map_elementwise(k.output(0).numel(), y, [](T v, T s) { return T(v + s); }, y, r);
  });
}
}  // namespace

Value conv2d(Value x, Value w, Value bias, const ConvOptions& options) {
  std::vector<Value> inputs = {x, w};
  if (bias) inputs.push_back(bias);
  return x.graph().add_node("conv2d", inputs, write_attrs(kernels::conv2d_params(options)))[0];
}

Value conv2d(Value x, Value w, Value bias, Int2 stride, Int2 pad) {
  return conv2d(x, w, bias, ConvOptions{.stride = {stride[0], stride[1]}, .pad = {pad[0], pad[1]}});
}

void register_conv2d(OpRegistry& registry) {
  using Ints = std::vector<std::int64_t>;
  registry.add(define_op<Conv2dAttrs>({
      .name = "conv2d",
      .doc = "2-D cross-correlation of x [N,C,H,W] with filters w [F,C/groups,KH,KW] plus an optional bias [F]; "
             "output [N,F,(H+pad_top+pad_bottom-dilation*(KH-1)-1)/stride+1,...]. pad: 2 values or 4 "
             "[top,left,bottom,right]; groups == C: depthwise.",
      .inputs = {"x", "w", "bias?"},
      .examples = {{.label = "3x3_pad1_bias", .attrs = {{"pad", Ints{1, 1}}},
                    .inputs = {{.shape = {2, 3, 5, 5}}, {.shape = {4, 3, 3, 3}}, {.shape = {4}}}},
                   {.label = "stride2", .attrs = {{"stride", Ints{2, 2}}},
                    .inputs = {{.shape = {2, 2, 6, 5}}, {.shape = {3, 2, 2, 3}}}},
                   {.label = "1x1", .inputs = {{.shape = {2, 3, 4, 4}}, {.shape = {5, 3, 1, 1}}, {.shape = {5}}}},
                   {.label = "single_3x3", .inputs = {{.shape = {1, 1, 4, 4}}, {.shape = {1, 1, 3, 3}}}},
                   {.label = "multi_channel_pad1_bias", .attrs = {{"pad", Ints{1, 1}}},
                    .inputs = {{.shape = {2, 3, 5, 5}}, {.shape = {4, 3, 3, 3}}, {.shape = {4}}}},
                   {.label = "stride2_pad1_bias", .attrs = {{"stride", Ints{2, 2}}, {"pad", Ints{1, 1}}},
                    .inputs = {{.shape = {2, 3, 7, 6}}, {.shape = {4, 3, 3, 3}}, {.shape = {4}}}},
                   {.label = "stride2_unread_edge", .attrs = {{"stride", Ints{2, 2}}}, .inputs = {{.shape = {2, 2, 7, 6}}, {.shape = {3, 2, 2, 2}}}},
                   {.label = "pointwise_1x1_bias", .inputs = {{.shape = {2, 3, 4, 5}}, {.shape = {5, 3, 1, 1}}, {.shape = {5}}}},
                   {.label = "pointwise_1x1_stride2", .attrs = {{"stride", Ints{2, 2}}}, .inputs = {{.shape = {2, 3, 5, 5}}, {.shape = {2, 3, 1, 1}}}},
                   {.label = "nonsquare", .attrs = {{"stride", Ints{2, 1}}, {"pad", Ints{0, 1}}},
                    .inputs = {{.shape = {2, 2, 6, 7}}, {.shape = {3, 2, 2, 3}}, {.shape = {3}}}},
                   {.label = "kernel_fills_padded_input", .attrs = {{"pad", Ints{1, 1}}}, .inputs = {{.shape = {1, 2, 3, 3}}, {.shape = {2, 2, 5, 5}}}},
                   {.label = "many_images", .inputs = {{.shape = {9, 2, 4, 4}}, {.shape = {3, 2, 3, 3}}, {.shape = {3}}}},
                   {.label = "groups2_bias", .attrs = {{"groups", std::int64_t{2}}, {"pad", Ints{1, 1}}},
                    .inputs = {{.shape = {2, 4, 5, 5}}, {.shape = {6, 2, 3, 3}}, {.shape = {6}}}},
                   {.label = "depthwise_3x3", .attrs = {{"groups", std::int64_t{3}}, {"pad", Ints{1, 1}}},
                    .inputs = {{.shape = {2, 3, 6, 5}}, {.shape = {3, 1, 3, 3}}, {.shape = {3}}}},
                   {.label = "depthwise_multiplier2_stride2",
                    .attrs = {{"groups", std::int64_t{3}}, {"pad", Ints{1, 1}}, {"stride", Ints{2, 2}}},
                    .inputs = {{.shape = {2, 3, 7, 6}}, {.shape = {6, 1, 3, 3}}}},
                   {.label = "depthwise_2x2_dilation2", .attrs = {{"groups", std::int64_t{2}}, {"dilation", Ints{2, 2}}},
                    .inputs = {{.shape = {1, 2, 6, 7}}, {.shape = {2, 1, 2, 2}}}},
                   {.label = "depthwise_3x3_dilation2_uneven_pad",
                    .attrs = {{"groups", std::int64_t{2}}, {"dilation", Ints{2, 2}}, {"pad", Ints{2, 1, 1, 2}}},
                    .inputs = {{.shape = {2, 2, 6, 7}}, {.shape = {4, 1, 3, 3}}, {.shape = {4}}}},
                   {.label = "dilation2_pad2", .attrs = {{"dilation", Ints{2, 2}}, {"pad", Ints{2, 2}}},
                    .inputs = {{.shape = {2, 2, 5, 6}}, {.shape = {3, 2, 3, 3}}, {.shape = {3}}}},
                   {.label = "dilation_2x1_stride2", .attrs = {{"dilation", Ints{2, 1}}, {"stride", Ints{2, 2}}},
                    .inputs = {{.shape = {2, 2, 7, 6}}, {.shape = {3, 2, 2, 3}}}},
                   {.label = "asymmetric_pad", .attrs = {{"pad", Ints{0, 1, 2, 0}}},
                    .inputs = {{.shape = {2, 2, 4, 5}}, {.shape = {3, 2, 3, 3}}, {.shape = {3}}}},
                   {.label = "asymmetric_pad_stride2_groups2",
                    .attrs = {{"pad", Ints{1, 0, 0, 1}}, {"stride", Ints{2, 2}}, {"groups", std::int64_t{2}}},
                    .inputs = {{.shape = {2, 4, 6, 5}}, {.shape = {4, 2, 3, 3}}}},
                   {.label = "grouped_pointwise", .attrs = {{"groups", std::int64_t{2}}},
                    .inputs = {{.shape = {2, 4, 3, 3}}, {.shape = {6, 2, 1, 1}}, {.shape = {6}}}}},
      .infer = [](const Conv2dAttrs& a, InferContext& c) {
        c.expect_float(0);
        c.expect_same_dtype(0, 1);
        a.check_lengths(c);
        kernels::ConvGeometry g = kernels::conv_geometry(c, c.shape(0), c.shape(1), a.spec());
        if (c.num_inputs() == 3) {
          c.expect_same_dtype(0, 2);
          if (c.shape(2) != Shape{g.f})
            c.fail("bias must have shape [", g.f, "] (one value per filter of ", to_string(c.shape(1)), "), got ",
                   to_string(c.shape(2)));
        }
        return std::vector{TensorType{c.dtype(0), kernels::conv_output_shape(g, 2)}};
      },
      .forward = [](const Conv2dAttrs& a, KernelContext& k) { forward(a, k, nullptr); },
      .grad = [](const Conv2dAttrs& a, GradContext& g) {
        std::vector<Value> grads(g.num_inputs());
        const ConvOptions options = kernels::conv_options(a);
        if (g.needs(0)) grads[0] = conv2d_grad_input(g.dy(), g.input(1), g.shape(0), options);
        if (g.needs(1)) grads[1] = conv2d_grad_filter(g.input(0), g.dy(), g.shape(1), options);
        if (g.num_inputs() == 3 && g.needs(2)) grads[2] = batch_sum(g.dy(), {2, 3});
        return grads;
      },
      // Every output element is a dot product over C/groups * KH * KW elements of the filter.
      .flops = [](const Conv2dAttrs&, const FlopContext& c) {
        return c.times_dims(c.product({2, element_count(c.output(0))}), c.input(1), 1);
      },
      .forward_with_epilogue = [](const Conv2dAttrs& a, KernelContext& k, const ChannelEpilogue& e) { forward(a, k, &e); },
      .epilogue_residual = true,
  }));
}

}  // namespace dagrad::ops
