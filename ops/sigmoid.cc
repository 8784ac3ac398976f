// sigmoid: y = 1 / (1 + exp(-x)). Gradient: sigmoid_grad(y, dy), which reads the forward output.
#include "ops/family.h"
#include "ops/kernels/stable_sigmoid.h"

namespace dagrad::ops {

Value sigmoid(Value x) { return x.graph().add_node("sigmoid", {x})[0]; }

void register_sigmoid(OpRegistry& registry) {
  registry.add(define_op(unary_op<NoAttrs>(
      {
          .name = "sigmoid",
          .doc = "Logistic function, y = 1 / (1 + exp(-x)).",
          .inputs = {"x"},
          .examples = {{.label = "vector", .inputs = {{.shape = {7}, .low = -4, .high = 4}}},
                       {.label = "nchw", .inputs = {{.shape = {2, 3, 4, 5}, .low = -3, .high = 3}}},
                       {.label = "saturated", .inputs = {{.shape = {6}, .low = -60, .high = 60}}}},
          .grad = grad_from_output(sigmoid_grad),
      },
      [](auto x) { return kernels::stable_sigmoid(x); })));
}

}  // namespace dagrad::ops
