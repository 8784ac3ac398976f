// elu_grad: dx = dy where the forward input x > 0, dy * alpha * exp(x) elsewhere.
#include "ops/elu.h"
#include "ops/family.h"

namespace dagrad::ops {

Value elu_grad(Value x, Value dy, double alpha) {
  return x.graph().add_node("elu_grad", {x, dy}, write_attrs(EluAttrs{alpha}))[0];
}

void register_elu_grad(OpRegistry& registry) {
  registry.add(define_op(unary_grad_op<EluAttrs>(
      {
          .name = "elu_grad",
          .doc = "Backward of elu: dx = dy * (x > 0 ? 1 : alpha * exp(x)), from the forward input x.",
          .inputs = {"x", "dy"},
          .examples = {{.label = "nchw", .attrs = {{"alpha", 0.5}},
                        .inputs = {{.shape = {2, 3, 4, 5}, .low = -3, .high = 3, .min_abs = 0.05}, {.shape = {2, 3, 4, 5}}}}},
          .in_place_input = 0,
      },
      [](const EluAttrs& a, auto x, auto dy) {
        using T = decltype(x);
        return x > 0 ? dy : dy * static_cast<T>(a.alpha) * std::exp(x);
      })));
}

}  // namespace dagrad::ops
