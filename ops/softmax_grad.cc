// softmax_grad: the backward of softmax from its output, dx = y * (dy - sum(dy * y)) per row.
#include "ops/family.h"

namespace dagrad::ops {

Value softmax_grad(Value y, Value dy) { return y.graph().add_node("softmax_grad", {y, dy})[0]; }

void register_softmax_grad(OpRegistry& registry) {
  registry.add(define_op(softmax_like_grad_op<NoAttrs>(
      {
          .name = "softmax_grad",
          .doc = "Backward of softmax over the last axis: dx = y * (dy - sum(dy * y)).",
          .inputs = {"y", "dy"},
          .examples = {{.label = "rows", .inputs = {{.shape = {3, 5}, .low = 0, .high = 1}, {.shape = {3, 5}}}}},
      },
      [](auto y, auto dy) { return static_cast<double>(dy) * y; },
      [](auto y, auto dy, double dot) { return y * (dy - dot); })));
}

}  // namespace dagrad::ops
