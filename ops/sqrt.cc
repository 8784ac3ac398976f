// sqrt: y = sqrt(x) (NaN for x < 0). Gradient: dy / (2 y), from the forward output.
#include "ops/family.h"

namespace dagrad::ops {

Value sqrt(Value x) { return x.graph().add_node("sqrt", {x})[0]; }

void register_sqrt(OpRegistry& registry) {
  registry.add(define_op(unary_op<NoAttrs>(
      {
          .name = "sqrt",
          .doc = "Square root, y = sqrt(x).",
          .inputs = {"x"},
          // Positive inputs away from 0, where the gradient blows up.
          .examples = {{.label = "vector", .inputs = {{.shape = {7}, .low = 0.1, .high = 4}}},
                       {.label = "nchw", .inputs = {{.shape = {2, 3, 4, 5}, .low = 0.5, .high = 2}}}},
          .grad = [](const NoAttrs&, GradContext& g) { return std::vector{div(g.dy(), scale(g.output(0), 2.0))}; },
          .in_place_input = 0,
      },
      [](auto x) { return std::sqrt(x); })));
}

}  // namespace dagrad::ops
