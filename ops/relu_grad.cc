// relu_grad: dx = dy where the forward output y > 0, else 0.
#include "ops/family.h"

namespace dagrad::ops {

Value relu_grad(Value y, Value dy) { return y.graph().add_node("relu_grad", {y, dy})[0]; }

void register_relu_grad(OpRegistry& registry) {
  registry.add(define_op(unary_grad_op<NoAttrs>(
      {
          .name = "relu_grad",
          .doc = "Backward of relu: dx = dy * (y > 0), from the forward output y.",
          .inputs = {"y", "dy"},
          .examples = {{.label = "nchw", .inputs = {{.shape = {2, 3, 4, 5}, .min_abs = 0.05}, {.shape = {2, 3, 4, 5}}}}},
          .in_place_input = 0,
          .activation_grad = Activation::relu,  // batch_norm_grad may read it through a prologue
      },
      // dy is a value already read, so the select vectorizes.
      [](auto y, auto dy) { return y > 0 ? dy : decltype(dy)(0); })));
}

}  // namespace dagrad::ops
