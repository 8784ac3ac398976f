// hardswish: y = x * relu6(x + 3) / 6 (MobileNetV3; PyTorch's formula). Gradient:
// hardswish_grad(x, dy), which reads the forward input.
#include "ops/family.h"
#include "ops/hardswish.h"

namespace dagrad::ops {

Value hardswish(Value x) { return x.graph().add_node("hardswish", {x})[0]; }

void register_hardswish(OpRegistry& registry) {
  registry.add(define_op(unary_op<NoAttrs>(
      {
          .name = "hardswish",
          .doc = "Hard swish, y = x * min(max(x + 3, 0), 6) / 6.",
          .inputs = {"x"},
          // One example per piece, each away from the kinks at -3 and 3.
          .examples = {{.label = "middle", .inputs = {{.shape = {2, 3, 4, 5}, .low = -2.9, .high = 2.9}}},
                       {.label = "below", .inputs = {{.shape = {7}, .low = -6, .high = -3.1}}},
                       {.label = "above", .inputs = {{.shape = {7}, .low = 3.1, .high = 6}}}},
          .grad = [](const NoAttrs&, GradContext& g) { return std::vector{hardswish_grad(g.input(0), g.dy())}; },
          .in_place_input = 0,
      },
      [](auto x) {
        using T = decltype(x);
        return x * std::min(std::max(x + T(3), T(0)), T(6)) / T(6);
      })));
}

}  // namespace dagrad::ops
