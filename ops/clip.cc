// clip: y = min(max(x, min), max), min <= max (ReLU6 is clip(0, 6)). Gradient: clip_grad(x, dy),
// which reads the forward input.
#include "ops/clip.h"
#include "ops/family.h"

namespace dagrad::ops {

Value clip(Value x, double min, double max) {
  return x.graph().add_node("clip", {x}, write_attrs(ClipAttrs{min, max}))[0];
}

void register_clip(OpRegistry& registry) {
  OpSpec<ClipAttrs> spec = unary_op<ClipAttrs>(
      {
          .name = "clip",
          .doc = "Clamps x to [min, max], y = min(max(x, min), max); ReLU6 is clip(0, 6).",
          .inputs = {"x"},
          // The input ranges keep one bound out of reach and the other at the kink 0 (.min_abs).
          .examples = {{.label = "relu6", .attrs = {{"min", 0.0}, {"max", 6.0}},
                        .inputs = {{.shape = {2, 3, 4, 5}, .low = -3, .high = 3, .min_abs = 0.05}}},
                       {.label = "upper", .attrs = {{"min", -6.0}, {"max", 0.0}},
                        .inputs = {{.shape = {7}, .low = -3, .high = 3, .min_abs = 0.05}}},
                       {.label = "inside", .attrs = {{"min", -2.0}, {"max", 2.0}}, .inputs = {{.shape = {3, 4}}}}},
          .grad = [](const ClipAttrs& a, GradContext& g) { return std::vector{clip_grad(g.input(0), g.dy(), a.min, a.max)}; },
          .in_place_input = 0,
      },
      [](const ClipAttrs& a, auto x) {
        using T = decltype(x);
        return std::min(std::max(x, static_cast<T>(a.min)), static_cast<T>(a.max));
      });
  // Also rejects NaN bounds.
  spec.infer = [infer = spec.infer](const ClipAttrs& a, InferContext& c) {
    if (!(a.min <= a.max)) c.fail("min ", a.min, " must not exceed max ", a.max);
    return infer(a, c);
  };
  registry.add(define_op(std::move(spec)));
}

}  // namespace dagrad::ops
