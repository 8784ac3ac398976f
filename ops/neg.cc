// neg: y = -x. Gradient: neg(dy).
#include "ops/family.h"

namespace dagrad::ops {

Value neg(Value x) { return x.graph().add_node("neg", {x})[0]; }

void register_neg(OpRegistry& registry) {
  registry.add(define_op(unary_op<NoAttrs>(
      {
          .name = "neg",
          .doc = "Negation, y = -x.",
          .inputs = {"x"},
          .examples = {{.label = "vector", .inputs = {{.shape = {7}}}},
                       {.label = "nchw", .inputs = {{.shape = {2, 3, 4, 5}, .low = -3, .high = 3}}}},
          .grad = [](const NoAttrs&, GradContext& g) { return std::vector{neg(g.dy())}; },
          .in_place_input = 0,
      },
      [](auto x) { return -x; })));
}

}  // namespace dagrad::ops
