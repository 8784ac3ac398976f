// hardswish_grad: dx = 0 for x < -3, dy * (x / 3 + 1/2) for -3 <= x <= 3, dy above (PyTorch's
// choice at the kinks).
#include "ops/family.h"
#include "ops/hardswish.h"

namespace dagrad::ops {

Value hardswish_grad(Value x, Value dy) { return x.graph().add_node("hardswish_grad", {x, dy})[0]; }

void register_hardswish_grad(OpRegistry& registry) {
  registry.add(define_op(unary_grad_op<NoAttrs>(
      {
          .name = "hardswish_grad",
          .doc = "Backward of hardswish: dx = dy * (x < -3 ? 0 : x <= 3 ? x / 3 + 0.5 : 1), from the forward input x.",
          .inputs = {"x", "dy"},
          .examples = {{.label = "nchw", .inputs = {{.shape = {2, 3, 4, 5}, .low = -5, .high = 5}, {.shape = {2, 3, 4, 5}}}}},
          .in_place_input = 0,
      },
      [](auto x, auto dy) {
        using T = decltype(x);
        if (x < T(-3)) return T(0);
        return x <= T(3) ? dy * (x / T(3) + T(0.5)) : dy;
      })));
}

}  // namespace dagrad::ops
