// log: y = ln(x) (NaN for x < 0, -inf at 0, as std::log). Gradient: dy / x.
#include "ops/family.h"

namespace dagrad::ops {

Value log(Value x) { return x.graph().add_node("log", {x})[0]; }

void register_log(OpRegistry& registry) {
  registry.add(define_op(unary_op<NoAttrs>(
      {
          .name = "log",
          .doc = "Natural logarithm, y = log(x).",
          .inputs = {"x"},
          // Positive inputs away from 0, where log and its gradient blow up.
          .examples = {{.label = "vector", .inputs = {{.shape = {7}, .low = 0.1, .high = 5}}},
                       {.label = "nchw", .inputs = {{.shape = {2, 3, 4, 5}, .low = 0.5, .high = 2}}}},
          .grad = [](const NoAttrs&, GradContext& g) { return std::vector{div(g.dy(), g.input(0))}; },
          .in_place_input = 0,
      },
      [](auto x) { return std::log(x); })));
}

}  // namespace dagrad::ops
