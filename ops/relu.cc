// relu: y = max(x, 0). Gradient: relu_grad(y, dy), which reads the forward output.
#include "ops/family.h"

namespace dagrad::ops {

Value relu(Value x) { return x.graph().add_node("relu", {x})[0]; }

void register_relu(OpRegistry& registry) {
  registry.add(define_op(unary_op<NoAttrs>(
      {
          .name = "relu",
          .doc = "Rectified linear unit, y = max(x, 0).",
          .inputs = {"x"},
          .examples = {{.label = "vector", .inputs = {{.shape = {7}, .min_abs = 0.05}}},
                       {.label = "nchw", .inputs = {{.shape = {2, 3, 4, 5}, .min_abs = 0.05}}}},
          .grad = grad_from_output(relu_grad),
          .in_place_input = 0,
          .activation = Activation::relu,  // a convolution may apply it as its epilogue
      },
      [](auto x) { return x > 0 ? x : decltype(x)(0); })));
}

}  // namespace dagrad::ops
