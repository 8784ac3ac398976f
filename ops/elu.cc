// elu: y = x for x > 0, alpha * (exp(x) - 1) otherwise. Gradient: elu_grad(x, dy), which reads the
// forward input (the output would do only for alpha > 0).
#include "ops/elu.h"
#include "ops/family.h"

namespace dagrad::ops {

Value elu(Value x, double alpha) { return x.graph().add_node("elu", {x}, write_attrs(EluAttrs{alpha}))[0]; }

void register_elu(OpRegistry& registry) {
  registry.add(define_op(unary_op<EluAttrs>(
      {
          .name = "elu",
          .doc = "Exponential linear unit, y = x > 0 ? x : alpha * (exp(x) - 1).",
          .inputs = {"x"},
          .examples = {{.label = "default_alpha", .inputs = {{.shape = {2, 3, 4, 5}, .low = -3, .high = 3, .min_abs = 0.05}}},
                       {.label = "alpha_0_5", .attrs = {{"alpha", 0.5}}, .inputs = {{.shape = {7}, .low = -3, .high = 3, .min_abs = 0.05}}}},
          .grad = [](const EluAttrs& a, GradContext& g) { return std::vector{elu_grad(g.input(0), g.dy(), a.alpha)}; },
          .in_place_input = 0,
      },
      // expm1: no cancellation in exp(x) - 1 for small |x|.
      [](const EluAttrs& a, auto x) { return x > 0 ? x : static_cast<decltype(x)>(a.alpha) * std::expm1(x); })));
}

}  // namespace dagrad::ops
