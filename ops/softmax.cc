// softmax over one axis (attribute `axis`, default -1: the last): y = exp(x - max) / sum(exp(x - max)),
// stable for large logits. Gradient: softmax_grad(y, dy, axis), which reads the forward output.
#include "ops/family.h"

namespace dagrad::ops {

Value softmax(Value x, std::int64_t axis) {
  return x.graph().add_node("softmax", {x}, write_attrs(SoftmaxAxisAttrs{axis}))[0];
}

void register_softmax(OpRegistry& registry) {
  registry.add(define_op(softmax_like_op(
      {
          .name = "softmax",
          .doc = "Softmax over `axis` (default -1, the last; negative axes count from the end).",
          .inputs = {"x"},
          .examples = {{.label = "rows", .inputs = {{.shape = {3, 5}, .low = -3, .high = 3}}},
                       {.label = "rank3", .inputs = {{.shape = {2, 2, 4}, .low = -3, .high = 3}}},
                       {.label = "vector", .inputs = {{.shape = {6}}}},
                       {.label = "axis0", .attrs = {{"axis", std::int64_t{0}}}, .inputs = {{.shape = {4, 3}, .low = -3, .high = 3}}},
                       {.label = "channels_nchw", .attrs = {{"axis", std::int64_t{1}}}, .inputs = {{.shape = {2, 3, 2, 2}, .low = -3, .high = 3}}},
                       {.label = "negative_axis", .attrs = {{"axis", std::int64_t{-2}}}, .inputs = {{.shape = {2, 4, 3}, .low = -3, .high = 3}}},
                       {.label = "last_explicit", .attrs = {{"axis", std::int64_t{2}}}, .inputs = {{.shape = {2, 3, 4}, .low = -3, .high = 3}}}},
          .grad = grad_from_output_on_axis(softmax_grad),
      },
      [](double total) { return total; }, [](double shifted, double total) { return std::exp(shifted) / total; })));
}

}  // namespace dagrad::ops
