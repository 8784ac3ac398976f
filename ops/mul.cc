// mul: y = a * b with numpy broadcasting. Gradient: sum_to(dy * b, a.shape), sum_to(dy * a, b.shape).
#include "ops/family.h"

namespace dagrad::ops {

Value mul(Value a, Value b) { return a.graph().add_node("mul", {a, b})[0]; }

void register_mul(OpRegistry& registry) {
  registry.add(define_op(broadcast_op<NoAttrs>(
      {
          .name = "mul",
          .doc = "Elementwise product with numpy broadcasting.",
          .inputs = {"a", "b"},
          .examples = {{.label = "same_shape", .inputs = {{.shape = {2, 3, 4}}, {.shape = {2, 3, 4}}}},
                       {.label = "broadcast", .inputs = {{.shape = {4, 5}}, {.shape = {5}}}},
                       {.label = "both_broadcast", .inputs = {{.shape = {2, 1, 3}}, {.shape = {4, 1}}}}},
          .in_place_input = 0,
      },
      [](auto a, auto b) { return a * b; },
      [](const NoAttrs&, GradContext& g, int i) { return mul(g.dy(), g.input(1 - i)); })));
}

}  // namespace dagrad::ops
