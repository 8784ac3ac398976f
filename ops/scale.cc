// scale: y = x * factor for a constant factor (means, averages). Gradient: scale(dy, factor).
#include "graph/op.h"
#include "ops/kernels/parallel.h"
#include "ops/ops.h"

namespace dagrad::ops {
namespace {
struct ScaleAttrs {
  double factor = 1.0;
  template <class V> void fields(V& v) { v.required("factor", factor); }
};
}  // namespace

Value scale(Value x, double factor) { return x.graph().add_node("scale", {x}, write_attrs(ScaleAttrs{factor}))[0]; }

void register_scale(OpRegistry& registry) {
  registry.add(define_op<ScaleAttrs>({
      .name = "scale",
      .doc = "Multiplies x by a constant factor.",
      .inputs = {"x"},
      .examples = {{.label = "half", .attrs = {{"factor", 0.5}}, .inputs = {{.shape = {3, 4}}}}},
      .infer = [](const ScaleAttrs&, InferContext& c) {
        c.expect_float(0);
        return std::vector{c.input(0)};
      },
      .forward = [](const ScaleAttrs& a, KernelContext& k) {
        dispatch_float(k.input(0).dtype(), [&]<class T>() {
          const T* x = k.input(0).data<T>().data();
          T* y = k.output(0).data<T>().data();
          const T factor = static_cast<T>(a.factor);
          kernels::parallel_chunks(k.input(0).numel(), kernels::kElementwiseGrain, [&](std::int64_t s, std::int64_t e) {
            for (std::int64_t i = s; i < e; ++i) y[i] = x[i] * factor;
          });
        });
      },
      .grad = [](const ScaleAttrs& a, GradContext& g) { return std::vector{scale(g.dy(), a.factor)}; },
  }));
}

}  // namespace dagrad::ops
