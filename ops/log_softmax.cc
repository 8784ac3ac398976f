// log_softmax over the last axis: y = x - max - log(sum(exp(x - max))), stable for large logits.
// Gradient: log_softmax_grad(y, dy), which reads the forward output.
#include "ops/family.h"

namespace dagrad::ops {

Value log_softmax(Value x) { return x.graph().add_node("log_softmax", {x})[0]; }

void register_log_softmax(OpRegistry& registry) {
  registry.add(define_op(softmax_like_op<NoAttrs>(
      {
          .name = "log_softmax",
          .doc = "Log of the softmax over the last axis, computed without overflow.",
          .inputs = {"x"},
          .examples = {{.label = "rows", .inputs = {{.shape = {3, 5}, .low = -3, .high = 3}}},
                       {.label = "rank3", .inputs = {{.shape = {2, 3, 4}, .low = -3, .high = 3}}}},
          .grad = grad_from_output(log_softmax_grad),
      },
      [](double total) { return std::log(total); }, [](double shifted, double log_total) { return shifted - log_total; })));
}

}  // namespace dagrad::ops
