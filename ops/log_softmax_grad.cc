// log_softmax_grad: the backward of log_softmax from its output, dx = dy - exp(y) * sum(dy) along `axis`.
#include "ops/family.h"

namespace dagrad::ops {

Value log_softmax_grad(Value y, Value dy, std::int64_t axis) {
  return y.graph().add_node("log_softmax_grad", {y, dy}, write_attrs(SoftmaxAxisAttrs{axis}))[0];
}

void register_log_softmax_grad(OpRegistry& registry) {
  registry.add(define_op(softmax_like_grad_op(
      {
          .name = "log_softmax_grad",
          .doc = "Backward of log_softmax over `axis` (default -1): dx = dy - exp(y) * sum(dy).",
          .inputs = {"y", "dy"},
          .examples = {{.label = "rows", .inputs = {{.shape = {3, 5}, .low = -3, .high = -0.1}, {.shape = {3, 5}}}},
                       {.label = "axis0_rank3", .attrs = {{"axis", std::int64_t{0}}},
                        .inputs = {{.shape = {3, 2, 4}, .low = -3, .high = -0.1}, {.shape = {3, 2, 4}}}}},
      },
      [](auto, auto dy) { return static_cast<double>(dy); },
      [](auto y, auto dy, double total) { return dy - std::exp(static_cast<double>(y)) * total; })));
}

}  // namespace dagrad::ops
