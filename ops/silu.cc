// silu (swish): y = x * sigmoid(x). Gradient: silu_grad(x, dy), which reads the forward input.
#include "ops/family.h"
#include "ops/silu.h"

namespace dagrad::ops {

Value silu(Value x) { return x.graph().add_node("silu", {x})[0]; }

void register_silu(OpRegistry& registry) {
  registry.add(define_op(unary_op<NoAttrs>(
      {
          .name = "silu",
          .doc = "Sigmoid linear unit (swish), y = x * sigmoid(x).",
          .inputs = {"x"},
          .examples = {{.label = "vector", .inputs = {{.shape = {7}, .low = -4, .high = 4}}},
                       {.label = "nchw", .inputs = {{.shape = {2, 3, 4, 5}, .low = -3, .high = 3}}},
                       {.label = "saturated", .inputs = {{.shape = {6}, .low = -40, .high = 40}}}},
          .grad = [](const NoAttrs&, GradContext& g) { return std::vector{silu_grad(g.input(0), g.dy())}; },
          .in_place_input = 0,
      },
      [](auto x) { return x * stable_sigmoid(x); })));
}

}  // namespace dagrad::ops
