// tanh: y = tanh(x). Gradient: tanh_grad(y, dy), which reads the forward output.
#include "ops/family.h"

namespace dagrad::ops {

Value tanh(Value x) { return x.graph().add_node("tanh", {x})[0]; }

void register_tanh(OpRegistry& registry) {
  registry.add(define_op(unary_op<NoAttrs>(
      {
          .name = "tanh",
          .doc = "Hyperbolic tangent, y = tanh(x).",
          .inputs = {"x"},
          .examples = {{.label = "vector", .inputs = {{.shape = {7}, .low = -3, .high = 3}}},
                       {.label = "nchw", .inputs = {{.shape = {2, 3, 4, 5}, .low = -2, .high = 2}}}},
          .grad = grad_from_output(tanh_grad),
      },
      [](auto x) { return std::tanh(x); })));
}

}  // namespace dagrad::ops
