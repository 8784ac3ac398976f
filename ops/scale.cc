// scale: y = x * factor for a constant factor (means, averages). Gradient: scale(dy, factor).
#include "ops/family.h"

namespace dagrad::ops {
namespace {
struct ScaleAttrs {
  double factor = 1.0;
  template <class V> void fields(V& v) { v.required("factor", factor); }
};
}  // namespace

Value scale(Value x, double factor) { return x.graph().add_node("scale", {x}, write_attrs(ScaleAttrs{factor}))[0]; }

void register_scale(OpRegistry& registry) {
  registry.add(define_op(unary_op<ScaleAttrs>(
      {
          .name = "scale",
          .doc = "Multiplies x by a constant factor.",
          .inputs = {"x"},
          .examples = {{.label = "half", .attrs = {{"factor", 0.5}}, .inputs = {{.shape = {3, 4}}}},
                       {.label = "negative", .attrs = {{"factor", -3.0}}, .inputs = {{.shape = {2, 3, 2}}}}},
          .grad = [](const ScaleAttrs& a, GradContext& g) { return std::vector{scale(g.dy(), a.factor)}; },
          .in_place_input = 0,
      },
      [](const ScaleAttrs& a, auto x) { return x * static_cast<decltype(x)>(a.factor); })));
}

}  // namespace dagrad::ops
