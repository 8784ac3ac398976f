// tanh_grad: dx = dy * (1 - y^2), from the forward output y.
#include "ops/family.h"

namespace dagrad::ops {

Value tanh_grad(Value y, Value dy) { return y.graph().add_node("tanh_grad", {y, dy})[0]; }

void register_tanh_grad(OpRegistry& registry) {
  registry.add(define_op(unary_grad_op<NoAttrs>(
      {
          .name = "tanh_grad",
          .doc = "Backward of tanh: dx = dy * (1 - y^2), from the forward output y.",
          .inputs = {"y", "dy"},
          .examples = {{.label = "nchw", .inputs = {{.shape = {2, 3, 4, 5}}, {.shape = {2, 3, 4, 5}}}}},
      },
      [](auto y, auto dy) { return dy * (decltype(y)(1) - y * y); })));
}

}  // namespace dagrad::ops
