// softmax_grad: the backward of softmax from its output, dx = y * (dy - sum(dy * y)) along `axis`.
#include "ops/family.h"

namespace dagrad::ops {

Value softmax_grad(Value y, Value dy, std::int64_t axis) {
  return y.graph().add_node("softmax_grad", {y, dy}, write_attrs(SoftmaxAxisAttrs{axis}))[0];
}

void register_softmax_grad(OpRegistry& registry) {
  registry.add(define_op(softmax_like_grad_op(
      {
          .name = "softmax_grad",
          .doc = "Backward of softmax over `axis` (default -1): dx = y * (dy - sum(dy * y)).",
          .inputs = {"y", "dy"},
          .examples = {{.label = "rows", .inputs = {{.shape = {3, 5}, .low = 0, .high = 1}, {.shape = {3, 5}}}},
                       {.label = "axis1_rank3", .attrs = {{"axis", std::int64_t{1}}},
                        .inputs = {{.shape = {2, 4, 3}, .low = 0, .high = 1}, {.shape = {2, 4, 3}}}}},
      },
      [](auto y, auto dy) { return static_cast<double>(dy) * y; },
      [](auto y, auto dy, double dot) { return y * (dy - dot); })));
}

}  // namespace dagrad::ops
