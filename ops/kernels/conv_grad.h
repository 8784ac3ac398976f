#pragma once
// The two backward ops of conv2d share everything but which input is which and the kernel:
// conv2d_grad_input (dy, w) -> dx [x_shape] and conv2d_grad_filter (x, dy) -> dw [w_shape].
// The result's shape is an attribute because the other input cannot tell it (a strided
// convolution may leave trailing rows of x unread).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "graph/op.h"
#include "ops/kernels/conv.h"
#include "ops/ops.h"

namespace dagrad::kernels {

template <bool ForInput> inline constexpr const char* kConv2dGradName = ForInput ? "conv2d_grad_input" : "conv2d_grad_filter";

template <bool ForInput> struct Conv2dGradAttrs : Conv2dParams {
  std::vector<std::int64_t> shape;  // x_shape (ForInput) or w_shape
  template <class V> void fields(V& v) {
    v.required(ForInput ? "x_shape" : "w_shape", shape);
    Conv2dParams::fields(v);
  }
};

// The node of conv2d_grad_input(dy, w) or conv2d_grad_filter(x, dy), the DSL functions.
template <bool ForInput> Value conv2d_grad_node(Value a, Value b, Shape shape, const ops::ConvOptions& options) {
  Conv2dGradAttrs<ForInput> attrs;
  static_cast<Conv2dParams&>(attrs) = conv2d_params(options);
  attrs.shape = std::move(shape);
  return a.graph().add_node(kConv2dGradName<ForInput>, {a, b}, write_attrs(attrs))[0];
}

// Fills the name, inputs and outputs, the shape rule (dy must be conv2d's output shape for x and w) and
// the kernel.
template <bool ForInput> OpSpec<Conv2dGradAttrs<ForInput>> conv2d_grad_op(OpSpec<Conv2dGradAttrs<ForInput>> spec) {
  using A = Conv2dGradAttrs<ForInput>;
  spec.name = kConv2dGradName<ForInput>;
  spec.inputs = ForInput ? std::vector<std::string>{"dy", "w"} : std::vector<std::string>{"x", "dy"};
  spec.outputs = {ForInput ? "dx" : "dw"};
  constexpr int dy = ForInput ? 0 : 1, other = 1 - dy;  // other: w for dx, x for dw
  auto x_and_w = [](const A& a, const Shape& given) { return ForInput ? std::pair{a.shape, given} : std::pair{given, a.shape}; };
  // The products of the forward convolution: 2 per element of dy and filter tap (C*KH*KW).
  spec.flops = [](const A&, const FlopContext& c) {
    return c.times_dims(c.product({2, element_count(c.input(dy))}), ForInput ? c.input(1) : c.output(0), 1);
  };
  spec.infer = [x_and_w](const A& a, InferContext& c) {
    c.expect_float(0);
    c.expect_same_dtype(0, 1);
    a.check_lengths(c);
    auto [x, w] = x_and_w(a, c.shape(other));
    Shape dy_shape = conv_output_shape(conv_geometry(c, x, w, a.spec()), 2);
    if (c.shape(dy) != dy_shape)
      c.fail("dy must have the conv2d output shape ", to_string(dy_shape), " for x ", to_string(x), " and filter ",
             to_string(w), ", got ", to_string(c.shape(dy)));
    return std::vector{TensorType{c.dtype(0), a.shape}};
  };
  spec.forward = [x_and_w](const A& a, KernelContext& k) {
    auto [x, w] = x_and_w(a, k.input(other).shape());
    ConvGeometry g = conv_geometry(x, w, a.spec());
    dispatch_float(k.input(0).dtype(), [&]<class T>() {
      const T* in0 = k.input(0).data<T>().data();
      const T* in1 = k.input(1).data<T>().data();
      T* out = k.output(0).data<T>().data();
      if constexpr (ForInput)
        conv_backward_input<T>(g, in0, in1, out);
      else
        conv_backward_filter<T>(g, in0, in1, out);
    });
  };
  // The filter gradient sums over the batch in the canonical order (conv_backward_filter).
  if constexpr (!ForInput)
    spec.batch_reduction = [](const A&, const BatchContext&) { return BatchReduction::canonical; };
  return spec;
}

}  // namespace dagrad::kernels

namespace dagrad::ops {
using Ints = std::vector<std::int64_t>;  // list attributes in the ops' examples
}  // namespace dagrad::ops
