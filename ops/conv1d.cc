// conv1d: y[n,f] = sum_c x[n,c] (*) w[f,c] + bias[f] on [N,C,L] tensors, run by the 2-D kernels
// as an H = 1 image. The gradient reshapes to 4-D, uses the conv2d backward ops and reshapes back.
#include "graph/op.h"
#include "ops/kernels/conv.h"
#include "ops/ops.h"

namespace dagrad::ops {
namespace {
struct Conv1dAttrs {
  std::int64_t stride = 1;
  std::int64_t pad = 0;
  template <class V> void fields(V& v) {
    v("stride", stride);
    v("pad", pad);
  }
};

// [N,C,L] -> [N,C,1,L] (also [F,C,K] -> [F,C,1,K]).
Shape as_image(const Shape& s) { return {s[0], s[1], 1, s[2]}; }
}  // namespace

Value conv1d(Value x, Value w, Value bias, std::int64_t stride, std::int64_t pad) {
  std::vector<Value> inputs = {x, w};
  if (bias) inputs.push_back(bias);
  return x.graph().add_node("conv1d", inputs, write_attrs(Conv1dAttrs{stride, pad}))[0];
}

void register_conv1d(OpRegistry& registry) {
  registry.add(define_op<Conv1dAttrs>({
      .name = "conv1d",
      .doc = "1-D cross-correlation of x [N,C,L] with filters w [F,C,K] plus an optional bias [F]; "
             "output [N,F,(L+2*pad-K)/stride+1].",
      .inputs = {"x", "w", "bias?"},
      .examples = {{.label = "pad1_bias", .attrs = {{"pad", std::int64_t{1}}},
                    .inputs = {{.shape = {2, 3, 7}}, {.shape = {4, 3, 3}}, {.shape = {4}}}},
                   {.label = "stride2", .attrs = {{"stride", std::int64_t{2}}},
                    .inputs = {{.shape = {2, 2, 8}}, {.shape = {3, 2, 3}}}},
                   {.label = "single_filter", .inputs = {{.shape = {1, 1, 5}}, {.shape = {1, 1, 2}}}},
                   {.label = "stride2_pad2", .attrs = {{"stride", std::int64_t{2}}, {"pad", std::int64_t{2}}},
                    .inputs = {{.shape = {2, 2, 8}}, {.shape = {3, 2, 3}}}},
                   {.label = "pointwise_k1_bias", .inputs = {{.shape = {2, 3, 6}}, {.shape = {2, 3, 1}}, {.shape = {2}}}}},
      .infer = [](const Conv1dAttrs& a, InferContext& c) {
        c.expect_float(0);
        c.expect_same_dtype(0, 1);
        kernels::ConvGeometry g = kernels::conv_geometry(c, c.shape(0), c.shape(1), std::span(&a.stride, 1),
                                                         std::span(&a.pad, 1));
        if (c.num_inputs() == 3) {
          c.expect_same_dtype(0, 2);
          if (c.shape(2) != Shape{g.f})
            c.fail("bias must have shape [", g.f, "] (one value per filter of ", to_string(c.shape(1)), "), got ",
                   to_string(c.shape(2)));
        }
        return std::vector{TensorType{c.dtype(0), kernels::conv_output_shape(g, 1)}};
      },
      .forward = [](const Conv1dAttrs& a, KernelContext& k) {
        kernels::ConvGeometry g = kernels::conv_geometry(k.input(0).shape(), k.input(1).shape(),
                                                         std::span(&a.stride, 1), std::span(&a.pad, 1));
        dispatch_float(k.input(0).dtype(), [&]<class T>() {
          const T* bias = k.num_inputs() == 3 ? k.input(2).data<T>().data() : nullptr;
          kernels::conv_forward<T>(g, k.input(0).data<T>().data(), k.input(1).data<T>().data(), bias,
                                   k.output(0).data<T>().data());
        });
      },
      .grad = [](const Conv1dAttrs& a, GradContext& g) {
        std::vector<Value> grads(g.num_inputs());
        const Int2 stride{1, a.stride}, pad{0, a.pad};
        Value dy = reshape(g.dy(), as_image(g.dy().shape()));
        if (g.needs(0))
          grads[0] = reshape(conv2d_grad_input(dy, reshape(g.input(1), as_image(g.shape(1))), as_image(g.shape(0)),
                                               stride, pad),
                             g.shape(0));
        if (g.needs(1))
          grads[1] = reshape(conv2d_grad_filter(reshape(g.input(0), as_image(g.shape(0))), dy, as_image(g.shape(1)),
                                                stride, pad),
                             g.shape(1));
        if (g.num_inputs() == 3 && g.needs(2)) grads[2] = reduce_sum(g.dy(), {0, 2});
        return grads;
      },
      // Every output element is a dot product over C * kernel elements of the filter.
      .flops = [](const Conv1dAttrs&, const FlopContext& c) {
        return c.times_dims(c.product({2, element_count(c.output(0))}), c.input(1), 1);
      },
  }));
}

}  // namespace dagrad::ops
