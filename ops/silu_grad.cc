// silu_grad: dx = dy * s * (1 + x * (1 - s)) with s = sigmoid(x), from the forward input x.
#include "ops/family.h"
#include "ops/silu.h"

namespace dagrad::ops {

Value silu_grad(Value x, Value dy) { return x.graph().add_node("silu_grad", {x, dy})[0]; }

void register_silu_grad(OpRegistry& registry) {
  registry.add(define_op(unary_grad_op<NoAttrs>(
      {
          .name = "silu_grad",
          .doc = "Backward of silu: dx = dy * s * (1 + x * (1 - s)), s = sigmoid(x), from the forward input x.",
          .inputs = {"x", "dy"},
          .examples = {{.label = "nchw", .inputs = {{.shape = {2, 3, 4, 5}, .low = -4, .high = 4}, {.shape = {2, 3, 4, 5}}}}},
          .in_place_input = 0,
      },
      [](auto x, auto dy) {
        using T = decltype(x);
        const T s = stable_sigmoid(x);
        return dy * s * (T(1) + x * (T(1) - s));
      })));
}

}  // namespace dagrad::ops
