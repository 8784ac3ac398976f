// softmax over the last axis: y = exp(x - max) / sum(exp(x - max)), stable for large logits.
// Gradient: softmax_grad(y, dy), which reads the forward output.
#include "ops/family.h"

namespace dagrad::ops {

Value softmax(Value x) { return x.graph().add_node("softmax", {x})[0]; }

void register_softmax(OpRegistry& registry) {
  registry.add(define_op(softmax_like_op<NoAttrs>(
      {
          .name = "softmax",
          .doc = "Softmax over the last axis.",
          .inputs = {"x"},
          .examples = {{.label = "rows", .inputs = {{.shape = {3, 5}, .low = -3, .high = 3}}},
                       {.label = "rank3", .inputs = {{.shape = {2, 2, 4}, .low = -3, .high = 3}}},
                       {.label = "vector", .inputs = {{.shape = {6}}}}},
          .grad = grad_from_output(softmax_grad),
      },
      [](double total) { return total; }, [](double shifted, double total) { return std::exp(shifted) / total; })));
}

}  // namespace dagrad::ops
