// add: y = a + b with numpy broadcasting (a residual sum, or a bias added to activations).
// Gradient: dy to each input, summed over the dims that input was broadcast along.
#include "ops/family.h"

namespace dagrad::ops {

Value add(Value a, Value b) { return a.graph().add_node("add", {a, b})[0]; }

void register_add(OpRegistry& registry) {
  registry.add(define_op(broadcast_op<NoAttrs>(
      {
          .name = "add",
          .doc = "Elementwise sum with numpy broadcasting.",
          .inputs = {"a", "b"},
          .examples = {{.label = "same_shape", .inputs = {{.shape = {2, 3, 4}}, {.shape = {2, 3, 4}}}},
                       {.label = "bias", .inputs = {{.shape = {4, 5}}, {.shape = {5}}}},
                       {.label = "both_broadcast", .inputs = {{.shape = {3, 1}}, {.shape = {1, 4}}}},
                       {.label = "channel_bias", .inputs = {{.shape = {2, 3, 2, 2}}, {.shape = {3, 1, 1}}}}},
          .in_place_input = 0,
          .residual_add = true,  // a training batch norm may add it in its epilogue
      },
      [](auto a, auto b) { return a + b; }, [](const NoAttrs&, GradContext& g, int) { return g.dy(); })));
}

}  // namespace dagrad::ops
