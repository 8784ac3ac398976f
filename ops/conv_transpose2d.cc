// conv_transpose2d: the adjoint of conv2d in its input, plus a bias: a learned upsampling (decoders,
// segmentation heads). PyTorch's definition and weight layout: x [N,C,H,W], w [C,F/groups,KH,KW],
// y [N,F,(H-1)*stride - pad_begin - pad_end + dilation*(KH-1) + output_padding + 1, ...]. The
// forward pass is conv2d's input-gradient kernel; the gradients are conv2d (for x) and conv2d's
// filter gradient with x and dy in swapped roles (for w).
#include <algorithm>
#include <array>
#include <utility>

#include "graph/op.h"
#include "ops/kernels/conv.h"
#include "ops/kernels/parallel.h"
#include "ops/ops.h"

namespace dagrad::ops {
namespace {

struct ConvTranspose2dAttrs : kernels::Conv2dParams {
  std::vector<std::int64_t> output_padding{0, 0};  // extra rows/columns at the bottom/right of y
  template <class V> void fields(V& v) {
    kernels::Conv2dParams::fields(v);
    v("output_padding", output_padding);
  }
};

// y's shape, checked: the convolution whose input gradient this is maps y back onto x.
Shape output_shape(const ConvTranspose2dAttrs& a, const InferContext& c, const Shape& x, const Shape& w) {
  a.check_lengths(c);
  if (x.size() != 4) c.fail("x must have rank 4 [N,C,H,W], got ", to_string(x));
  if (w.size() != 4) c.fail("filter must have rank 4 [C,F/groups,KH,KW], got ", to_string(w));
  if (x[1] != w[0]) c.fail("x ", to_string(x), " has ", x[1], " channels but the filter ", to_string(w), " takes ", w[0]);
  if (a.output_padding.size() != 2) c.fail("output_padding must have 2 values, got ", a.output_padding.size());
  if (a.pad.size() != 2 && a.pad.size() != 4) c.fail("pad must have 2 values or 4 [top,left,bottom,right], got ", a.pad.size());
  if (a.groups < 1) c.fail("groups must be at least 1, got ", a.groups);
  Shape y = {x[0], w[1] * a.groups, 0, 0};
  for (int i = 0; i < 2; ++i) {
    const std::int64_t stride = a.stride[i], dilation = a.dilation[i], op = a.output_padding[i];
    const std::int64_t begin = a.pad[i], end = a.pad[a.pad.size() == 2 ? i : 2 + i];
    if (stride < 1 || dilation < 1) c.fail("stride and dilation must be positive, got stride ", stride, " and dilation ", dilation);
    if (op < 0 || (op >= stride && op >= dilation))
      c.fail("output_padding ", op, " must be non-negative and smaller than the stride ", stride, " or the dilation ", dilation);
    if (begin < 0 || end < 0) c.fail("pad must be non-negative, got ", begin, " and ", end);
    const std::int64_t extent = (x[2 + i] - 1) * stride - begin - end + dilation * (w[2 + i] - 1) + op + 1;
    if (x[2 + i] < 1 || extent < 1)
      c.fail(i == 0 ? "height" : "width", ": the output extent ", extent, " is not positive (input ", x[2 + i], ", stride ", stride,
             ", pad ", begin, "+", end, ", kernel ", w[2 + i], ", dilation ", dilation, ")");
    y[2 + i] = extent;
  }
  // The convolution this is the adjoint of, of y by w (validates groups and the rest). Its output
  // has at least x's extent; an output_padding of a stride or more adds rows no x row reaches.
  kernels::conv_geometry(c, y, w, a.spec());
  return y;
}

// The adjoint geometry with x's extent as its output (see output_shape).
kernels::ConvGeometry adjoint_geometry(const ConvTranspose2dAttrs& a, const Shape& x, const Shape& w, const Shape& y) {
  kernels::ConvGeometry g = kernels::conv_geometry(y, w, a.spec());
  g.oh = x[2];
  g.ow = x[3];
  return g;
}

// The gradients are convolutions of dy whose output must have x's extent exactly. output_padding
// op adds floor(op / stride) * stride rows the forward never writes to: the end pad shrinks by
// that much, or, where the pad is smaller, it becomes 0 and dy loses the rows past the last one any
// x row reaches (Hout - (op - pad_end)). Returns the options and the extent dy keeps.
std::pair<ConvOptions, std::array<std::int64_t, 2>> gradient_options(const ConvTranspose2dAttrs& a, const Shape& y) {
  ConvOptions o = kernels::conv_options(a);
  o.pad = {a.pad[0], a.pad[1], a.pad[a.pad.size() == 2 ? 0 : 2], a.pad[a.pad.size() == 2 ? 1 : 3]};
  std::array<std::int64_t, 2> kept = {y[2], y[3]};
  for (int i = 0; i < 2; ++i) {
    const std::int64_t op = a.output_padding[i], unreached = op / a.stride[i] * a.stride[i];
    std::int64_t& end = o.pad[2 + i];
    if (end >= unreached) {
      end -= unreached;
    } else {
      kept[i] = y[2 + i] - (op - end);
      end = 0;
    }
  }
  return {o, kept};
}

}  // namespace

Value conv_transpose2d(Value x, Value w, Value bias, const ConvOptions& options, Int2 output_padding) {
  ConvTranspose2dAttrs a;
  static_cast<kernels::Conv2dParams&>(a) = kernels::conv2d_params(options);
  a.output_padding = {output_padding[0], output_padding[1]};
  std::vector<Value> inputs = {x, w};
  if (bias) inputs.push_back(bias);
  return x.graph().add_node("conv_transpose2d", inputs, write_attrs(a))[0];
}

void register_conv_transpose2d(OpRegistry& registry) {
  registry.add(define_op<ConvTranspose2dAttrs>({
      .name = "conv_transpose2d",
      .doc = "Transposed 2-D convolution (the adjoint of conv2d in x) of x [N,C,H,W] by w [C,F/groups,KH,KW] plus an "
             "optional bias [F]; output [N,F,(H-1)*stride-pad_top-pad_bottom+dilation*(KH-1)+output_padding+1,...].",
      .inputs = {"x", "w", "bias?"},
      .examples = {{.label = "stride2_pad1_bias", .attrs = {{"stride", Ints{2, 2}}, {"pad", Ints{1, 1}}},
                    .inputs = {{.shape = {2, 3, 3, 4}}, {.shape = {3, 2, 3, 3}}, {.shape = {2}}}},
                   {.label = "stride2_output_padding1", .attrs = {{"stride", Ints{2, 2}}, {"pad", Ints{1, 1}}, {"output_padding", Ints{1, 1}}},
                    .inputs = {{.shape = {1, 2, 3, 3}}, {.shape = {2, 3, 3, 3}}}},
                   {.label = "stride1", .inputs = {{.shape = {2, 2, 3, 3}}, {.shape = {2, 2, 2, 2}}, {.shape = {2}}}},
                   {.label = "groups2_dilation2_uneven_pad",
                    .attrs = {{"groups", std::int64_t{2}}, {"dilation", Ints{2, 2}}, {"pad", Ints{1, 0, 0, 1}}},
                    .inputs = {{.shape = {2, 4, 3, 3}}, {.shape = {4, 1, 3, 3}}}},
                   {.label = "output_padding_past_stride_dilation2",
                    .attrs = {{"dilation", Ints{2, 2}}, {"output_padding", Ints{1, 0}}},
                    .inputs = {{.shape = {1, 2, 3, 3}}, {.shape = {2, 2, 3, 3}}, {.shape = {2}}}},
                   {.label = "output_padding_past_pad_end",
                    .attrs = {{"stride", Ints{2, 2}}, {"dilation", Ints{3, 3}}, {"output_padding", Ints{2, 2}}, {"pad", Ints{1, 0, 1, 0}}},
                    .inputs = {{.shape = {2, 2, 3, 3}}, {.shape = {2, 1, 2, 2}}}},
                   {.label = "upsample_2x_kernel2", .attrs = {{"stride", Ints{2, 2}}},
                    .inputs = {{.shape = {2, 3, 3, 2}}, {.shape = {3, 4, 2, 2}}, {.shape = {4}}}}},
      .infer = [](const ConvTranspose2dAttrs& a, InferContext& c) {
        c.expect_float(0);
        c.expect_same_dtype(0, 1);
        Shape y = output_shape(a, c, c.shape(0), c.shape(1));
        if (c.num_inputs() == 3) {
          c.expect_same_dtype(0, 2);
          if (c.shape(2) != Shape{y[1]}) c.fail("bias must have shape [", y[1], "] (one value per output channel), got ", to_string(c.shape(2)));
        }
        return std::vector{TensorType{c.dtype(0), y}};
      },
      .forward = [](const ConvTranspose2dAttrs& a, KernelContext& k) {
        const Shape& y_shape = k.output(0).shape();
        const kernels::ConvGeometry g = adjoint_geometry(a, k.input(0).shape(), k.input(1).shape(), y_shape);
        dispatch_float(k.input(0).dtype(), [&]<class T>() {
          T* y = k.output(0).data<T>().data();
          kernels::conv_backward_input<T>(g, k.input(0).data<T>().data(), k.input(1).data<T>().data(), y);
          if (k.num_inputs() < 3) return;
          const T* bias = k.input(2).data<T>().data();
          const std::int64_t plane = y_shape[2] * y_shape[3], channels = y_shape[1];
          const std::int64_t grain = std::max<std::int64_t>(1, kernels::kElementwiseGrain / std::max<std::int64_t>(1, plane));
          kernels::parallel_chunks(y_shape[0] * channels, grain, [&](std::int64_t begin, std::int64_t end) {
            for (std::int64_t i = begin; i < end; ++i) {
              T* row = y + i * plane;
              for (std::int64_t p = 0; p < plane; ++p) row[p] += bias[i % channels];
            }
          });
        });
      },
      .grad = [](const ConvTranspose2dAttrs& a, GradContext& g) {
        std::vector<Value> grads(g.num_inputs());
        const Shape y = g.dy().shape();
        const auto [options, kept] = gradient_options(a, y);
        Value dy = g.dy();
        if (kept[0] != y[2] || kept[1] != y[3]) dy = slice(dy, {0, 0}, {kept[0], kept[1]}, {2, 3});
        if (g.needs(0)) grads[0] = conv2d(dy, g.input(1), {}, options);
        if (g.needs(1)) grads[1] = conv2d_grad_filter(dy, g.input(0), g.shape(1), options);
        if (g.num_inputs() == 3 && g.needs(2)) grads[2] = batch_sum(g.dy(), {2, 3});
        return grads;
      },
      // The multiply-adds of the convolution it is the adjoint of: 2 per element of x and filter tap.
      .flops = [](const ConvTranspose2dAttrs&, const FlopContext& c) {
        return c.times_dims(c.product({2, element_count(c.input(0))}), c.input(1), 1);
      },
  }));
}

}  // namespace dagrad::ops
