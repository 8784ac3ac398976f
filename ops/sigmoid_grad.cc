// sigmoid_grad: dx = dy * y * (1 - y), from the forward output y.
#include "ops/family.h"

namespace dagrad::ops {

Value sigmoid_grad(Value y, Value dy) { return y.graph().add_node("sigmoid_grad", {y, dy})[0]; }

void register_sigmoid_grad(OpRegistry& registry) {
  registry.add(define_op(unary_grad_op<NoAttrs>(
      {
          .name = "sigmoid_grad",
          .doc = "Backward of sigmoid: dx = dy * y * (1 - y), from the forward output y.",
          .inputs = {"y", "dy"},
          .examples = {{.label = "nchw", .inputs = {{.shape = {2, 3, 4, 5}, .low = 0, .high = 1}, {.shape = {2, 3, 4, 5}}}}},
      },
      [](auto y, auto dy) { return dy * y * (decltype(y)(1) - y); })));
}

}  // namespace dagrad::ops
