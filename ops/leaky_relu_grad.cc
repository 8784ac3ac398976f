// leaky_relu_grad: dx = dy where the forward input x > 0, alpha * dy elsewhere.
#include "ops/family.h"
#include "ops/leaky_relu.h"

namespace dagrad::ops {

Value leaky_relu_grad(Value x, Value dy, double alpha) {
  return x.graph().add_node("leaky_relu_grad", {x, dy}, write_attrs(LeakyReluAttrs{alpha}))[0];
}

void register_leaky_relu_grad(OpRegistry& registry) {
  registry.add(define_op(unary_grad_op<LeakyReluAttrs>(
      {
          .name = "leaky_relu_grad",
          .doc = "Backward of leaky_relu: dx = dy * (x > 0 ? 1 : alpha), from the forward input x.",
          .inputs = {"x", "dy"},
          .examples = {{.label = "nchw", .attrs = {{"alpha", 0.2}},
                        .inputs = {{.shape = {2, 3, 4, 5}, .min_abs = 0.05}, {.shape = {2, 3, 4, 5}}}}},
          .in_place_input = 0,
      },
      [](const LeakyReluAttrs& a, auto x, auto dy) {
        // Both sides computed, then selected: a branch-free loop that vectorizes.
        const auto scaled = static_cast<decltype(dy)>(a.alpha) * dy;
        return x > 0 ? dy : scaled;
      })));
}

}  // namespace dagrad::ops
