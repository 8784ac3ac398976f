// div: y = a / b with numpy broadcasting. Gradient: sum_to(dy / b, a.shape) and
// sum_to(-dy * y / b, b.shape), y / b standing for a / b^2 without squaring b (no early overflow).
#include "ops/family.h"

namespace dagrad::ops {

Value div(Value a, Value b) { return a.graph().add_node("div", {a, b})[0]; }

void register_div(OpRegistry& registry) {
  registry.add(define_op(broadcast_op<NoAttrs>(
      {
          .name = "div",
          .doc = "Elementwise quotient a / b with numpy broadcasting.",
          .inputs = {"a", "b"},
          // Denominators kept away from 0, where the quotient and its gradient blow up.
          .examples = {{.label = "same_shape", .inputs = {{.shape = {2, 3, 4}}, {.shape = {2, 3, 4}, .min_abs = 0.5}}},
                       {.label = "broadcast", .inputs = {{.shape = {4, 5}}, {.shape = {5}, .low = 0.5, .high = 2}}},
                       {.label = "broadcast_rank3", .inputs = {{.shape = {2, 3, 4}}, {.shape = {3, 1}, .min_abs = 0.5}}},
                       {.label = "both_broadcast", .inputs = {{.shape = {3, 1}}, {.shape = {1, 4}, .low = -2, .high = -0.5}}}},
          .in_place_input = 0,
      },
      [](auto a, auto b) { return a / b; },
      [](const NoAttrs&, GradContext& g, int i) {
        Value b = g.input(1);
        return i == 0 ? div(g.dy(), b) : neg(div(mul(g.dy(), g.output(0)), b));
      })));
}

}  // namespace dagrad::ops
