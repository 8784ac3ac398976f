// sub: y = a - b with numpy broadcasting. Gradient: sum_to(dy, a.shape), sum_to(-dy, b.shape).
#include "ops/family.h"

namespace dagrad::ops {

Value sub(Value a, Value b) { return a.graph().add_node("sub", {a, b})[0]; }

void register_sub(OpRegistry& registry) {
  registry.add(define_op(broadcast_op<NoAttrs>(
      {
          .name = "sub",
          .doc = "Elementwise difference a - b with numpy broadcasting.",
          .inputs = {"a", "b"},
          .examples = {{.label = "same_shape", .inputs = {{.shape = {2, 3, 4}}, {.shape = {2, 3, 4}}}},
                       {.label = "broadcast", .inputs = {{.shape = {4, 5}}, {.shape = {5}}}},
                       {.label = "broadcast_rank3", .inputs = {{.shape = {2, 3, 4}}, {.shape = {3, 1}}}},
                       {.label = "both_broadcast", .inputs = {{.shape = {3, 1}}, {.shape = {1, 4}}}}},
          .in_place_input = 0,
      },
      [](auto a, auto b) { return a - b; },
      [](const NoAttrs&, GradContext& g, int i) { return i == 0 ? g.dy() : neg(g.dy()); })));
}

}  // namespace dagrad::ops
