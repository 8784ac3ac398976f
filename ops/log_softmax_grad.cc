// log_softmax_grad: the backward of log_softmax from its output, dx = dy - exp(y) * sum(dy) per row.
#include "ops/family.h"

namespace dagrad::ops {

Value log_softmax_grad(Value y, Value dy) { return y.graph().add_node("log_softmax_grad", {y, dy})[0]; }

void register_log_softmax_grad(OpRegistry& registry) {
  registry.add(define_op(softmax_like_grad_op<NoAttrs>(
      {
          .name = "log_softmax_grad",
          .doc = "Backward of log_softmax over the last axis: dx = dy - exp(y) * sum(dy).",
          .inputs = {"y", "dy"},
          .examples = {{.label = "rows", .inputs = {{.shape = {3, 5}, .low = -3, .high = -0.1}, {.shape = {3, 5}}}}},
      },
      [](auto, auto dy) { return static_cast<double>(dy); },
      [](auto y, auto dy, double total) { return dy - std::exp(static_cast<double>(y)) * total; })));
}

}  // namespace dagrad::ops
