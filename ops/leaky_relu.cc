// leaky_relu: y = x for x > 0, alpha * x otherwise. Gradient: leaky_relu_grad(x, dy), which reads
// the forward input (so any alpha works, even one that flips the sign).
#include "ops/family.h"
#include "ops/leaky_relu.h"

namespace dagrad::ops {

Value leaky_relu(Value x, double alpha) {
  return x.graph().add_node("leaky_relu", {x}, write_attrs(LeakyReluAttrs{alpha}))[0];
}

void register_leaky_relu(OpRegistry& registry) {
  registry.add(define_op(unary_op<LeakyReluAttrs>(
      {
          .name = "leaky_relu",
          .doc = "Leaky rectified linear unit, y = x > 0 ? x : alpha * x.",
          .inputs = {"x"},
          .examples = {{.label = "default_alpha", .inputs = {{.shape = {2, 3, 4, 5}, .min_abs = 0.05}}},
                       {.label = "alpha_0_2", .attrs = {{"alpha", 0.2}}, .inputs = {{.shape = {7}, .min_abs = 0.05}}}},
          .grad = [](const LeakyReluAttrs& a, GradContext& g) { return std::vector{leaky_relu_grad(g.input(0), g.dy(), a.alpha)}; },
          .in_place_input = 0,
      },
      [](const LeakyReluAttrs& a, auto x) {
        const auto scaled = static_cast<decltype(x)>(a.alpha) * x;  // computed either way: the loop vectorizes
        return x > 0 ? x : scaled;
      })));
}

}  // namespace dagrad::ops
