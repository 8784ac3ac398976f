// conv1d: y[n,f] = sum_c x[n,c] (*) w[f,c] + bias[f] on [N,C,L] tensors, with stride, zero padding
// (pad_end: a different right side), dilation and groups, run by the 2-D kernels as an H = 1
// image. The gradient reshapes to 4-D, uses the conv2d backward ops and reshapes back.
#include <array>

#include "graph/op.h"
#include "ops/kernels/conv.h"
#include "ops/ops.h"

namespace dagrad::ops {
namespace {
// Integers, as files written before dilation and groups store stride and pad.
struct Conv1dAttrs {
  std::int64_t stride = 1;
  std::int64_t pad = 0;
  std::int64_t pad_end = -1;  // the right side's padding; -1: the same as pad
  std::int64_t dilation = 1;
  std::int64_t groups = 1;
  template <class V> void fields(V& v) {
    v("stride", stride);
    v("pad", pad);
    v("pad_end", pad_end);
    v("dilation", dilation);
    v("groups", groups);
  }
  std::array<std::int64_t, 2> pads() const { return {pad, pad_end == -1 ? pad : pad_end}; }
};

kernels::ConvGeometry geometry(const Conv1dAttrs& a, const Shape& x, const Shape& w, const InferContext* c) {
  const std::array<std::int64_t, 2> pads = a.pads();
  const kernels::ConvSpec spec{.stride = std::span(&a.stride, 1), .pad = pads, .dilation = std::span(&a.dilation, 1), .groups = a.groups};
  return c ? kernels::conv_geometry(*c, x, w, spec) : kernels::conv_geometry(x, w, spec);
}

// The same convolution as 2-D options on [N,C,1,L].
ConvOptions as_image_options(const Conv1dAttrs& a) {
  const std::array<std::int64_t, 2> pads = a.pads();
  return {.stride = {1, a.stride}, .pad = {0, pads[0], 0, pads[1]}, .dilation = {1, a.dilation}, .groups = a.groups};
}

// [N,C,L] -> [N,C,1,L] (also [F,C,K] -> [F,C,1,K]).
Shape as_image(const Shape& s) { return {s[0], s[1], 1, s[2]}; }
}  // namespace

Value conv1d(Value x, Value w, Value bias, const ConvOptions& options) {
  Conv1dAttrs a;
  if (!options.stride.empty()) a.stride = options.stride[0];
  if (!options.dilation.empty()) a.dilation = options.dilation[0];
  if (!options.pad.empty()) a.pad = options.pad[0];
  if (options.pad.size() >= 2) a.pad_end = options.pad[1];
  if (options.stride.size() > 1 || options.dilation.size() > 1 || options.pad.size() > 2)
    fail("conv1d of '", x.name(), "': stride and dilation take 1 value and pad 1 or 2 ([left,right]), got stride ",
         options.stride.size(), ", dilation ", options.dilation.size(), ", pad ", options.pad.size());
  a.groups = options.groups;
  std::vector<Value> inputs = {x, w};
  if (bias) inputs.push_back(bias);
  return x.graph().add_node("conv1d", inputs, write_attrs(a))[0];
}

Value conv1d(Value x, Value w, Value bias, std::int64_t stride, std::int64_t pad) {
  return conv1d(x, w, bias, ConvOptions{.stride = {stride}, .pad = {pad}});
}

void register_conv1d(OpRegistry& registry) {
  registry.add(define_op<Conv1dAttrs>({
      .name = "conv1d",
      .doc = "1-D cross-correlation of x [N,C,L] with filters w [F,C/groups,K] plus an optional bias [F]; "
             "output [N,F,(L+pad+pad_end-dilation*(K-1)-1)/stride+1] (pad_end -1: the same as pad).",
      .inputs = {"x", "w", "bias?"},
      .examples = {{.label = "pad1_bias", .attrs = {{"pad", std::int64_t{1}}},
                    .inputs = {{.shape = {2, 3, 7}}, {.shape = {4, 3, 3}}, {.shape = {4}}}},
                   {.label = "stride2", .attrs = {{"stride", std::int64_t{2}}},
                    .inputs = {{.shape = {2, 2, 8}}, {.shape = {3, 2, 3}}}},
                   {.label = "single_filter", .inputs = {{.shape = {1, 1, 5}}, {.shape = {1, 1, 2}}}},
                   {.label = "stride2_pad2", .attrs = {{"stride", std::int64_t{2}}, {"pad", std::int64_t{2}}},
                    .inputs = {{.shape = {2, 2, 8}}, {.shape = {3, 2, 3}}}},
                   {.label = "pointwise_k1_bias", .inputs = {{.shape = {2, 3, 6}}, {.shape = {2, 3, 1}}, {.shape = {2}}}},
                   {.label = "groups2_dilation2", .attrs = {{"groups", std::int64_t{2}}, {"dilation", std::int64_t{2}}, {"pad", std::int64_t{1}}},
                    .inputs = {{.shape = {2, 4, 9}}, {.shape = {6, 2, 3}}, {.shape = {6}}}},
                   {.label = "depthwise_uneven_pad_stride2",
                    .attrs = {{"groups", std::int64_t{3}}, {"pad", std::int64_t{2}}, {"pad_end", std::int64_t{0}}, {"stride", std::int64_t{2}}},
                    .inputs = {{.shape = {2, 3, 8}}, {.shape = {3, 1, 3}}}}},
      .infer = [](const Conv1dAttrs& a, InferContext& c) {
        c.expect_float(0);
        c.expect_same_dtype(0, 1);
        if (a.pad_end < -1) c.fail("pad_end must be non-negative (or -1: the same as pad), got ", a.pad_end);
        kernels::ConvGeometry g = geometry(a, c.shape(0), c.shape(1), &c);
        if (c.num_inputs() == 3) {
          c.expect_same_dtype(0, 2);
          if (c.shape(2) != Shape{g.f})
            c.fail("bias must have shape [", g.f, "] (one value per filter of ", to_string(c.shape(1)), "), got ",
                   to_string(c.shape(2)));
        }
        return std::vector{TensorType{c.dtype(0), kernels::conv_output_shape(g, 1)}};
      },
      .forward = [](const Conv1dAttrs& a, KernelContext& k) {
        kernels::ConvGeometry g = geometry(a, k.input(0).shape(), k.input(1).shape(), nullptr);
        dispatch_float(k.input(0).dtype(), [&]<class T>() {
          const T* bias = k.num_inputs() == 3 ? k.input(2).data<T>().data() : nullptr;
          kernels::conv_forward<T>(g, k.input(0).data<T>().data(), k.input(1).data<T>().data(), bias,
                                   k.output(0).data<T>().data());
        });
      },
      .grad = [](const Conv1dAttrs& a, GradContext& g) {
        std::vector<Value> grads(g.num_inputs());
        const ConvOptions options = as_image_options(a);
        Value dy = reshape(g.dy(), as_image(g.dy().shape()));
        if (g.needs(0))
          grads[0] = reshape(conv2d_grad_input(dy, reshape(g.input(1), as_image(g.shape(1))), as_image(g.shape(0)),
                                               options),
                             g.shape(0));
        if (g.needs(1))
          grads[1] = reshape(conv2d_grad_filter(reshape(g.input(0), as_image(g.shape(0))), dy, as_image(g.shape(1)),
                                                options),
                             g.shape(1));
        if (g.num_inputs() == 3 && g.needs(2)) grads[2] = batch_sum(g.dy(), {2});
        return grads;
      },
      // Every output element is a dot product over C * kernel elements of the filter.
      .flops = [](const Conv1dAttrs&, const FlopContext& c) {
        return c.times_dims(c.product({2, element_count(c.output(0))}), c.input(1), 1);
      },
  }));
}

}  // namespace dagrad::ops
