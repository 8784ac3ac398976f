// log_softmax over one axis (attribute `axis`, default -1: the last):
// y = x - max - log(sum(exp(x - max))), stable for large logits.
// Gradient: log_softmax_grad(y, dy, axis), which reads the forward output.
#include "ops/family.h"

namespace dagrad::ops {

Value log_softmax(Value x, std::int64_t axis) {
  return x.graph().add_node("log_softmax", {x}, write_attrs(SoftmaxAxisAttrs{axis}))[0];
}

void register_log_softmax(OpRegistry& registry) {
  registry.add(define_op(softmax_like_op(
      {
          .name = "log_softmax",
          .doc = "Log of the softmax over `axis` (default -1, the last), computed without overflow.",
          .inputs = {"x"},
          .examples = {{.label = "rows", .inputs = {{.shape = {3, 5}, .low = -3, .high = 3}}},
                       {.label = "rank3", .inputs = {{.shape = {2, 3, 4}, .low = -3, .high = 3}}},
                       {.label = "axis0", .attrs = {{"axis", std::int64_t{0}}}, .inputs = {{.shape = {4, 3}, .low = -3, .high = 3}}},
                       {.label = "channels_nchw", .attrs = {{"axis", std::int64_t{1}}}, .inputs = {{.shape = {2, 3, 2, 2}, .low = -3, .high = 3}}},
                       {.label = "negative_axis", .attrs = {{"axis", std::int64_t{-3}}}, .inputs = {{.shape = {3, 2, 2}, .low = -3, .high = 3}}}},
          .grad = grad_from_output_on_axis(log_softmax_grad),
      },
      [](double total) { return std::log(total); }, [](double shifted, double log_total) { return shifted - log_total; })));
}

}  // namespace dagrad::ops
