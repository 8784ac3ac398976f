// exp: y = e^x. Gradient: dy * y, from the forward output.
#include "ops/family.h"

namespace dagrad::ops {

Value exp(Value x) { return x.graph().add_node("exp", {x})[0]; }

void register_exp(OpRegistry& registry) {
  registry.add(define_op(unary_op<NoAttrs>(
      {
          .name = "exp",
          .doc = "Exponential, y = exp(x).",
          .inputs = {"x"},
          .examples = {{.label = "vector", .inputs = {{.shape = {7}, .low = -3, .high = 3}}},
                       {.label = "nchw", .inputs = {{.shape = {2, 3, 4, 5}}}}},
          .grad = [](const NoAttrs&, GradContext& g) { return std::vector{mul(g.dy(), g.output(0))}; },
          .in_place_input = 0,
      },
      [](auto x) { return std::exp(x); })));
}

}  // namespace dagrad::ops
