// broadcast_to: repeats x along dims of size 1 (and new leading dims) to reach `shape`.
// Gradient: sum_to(dy, x.shape).
#include "graph/op.h"
#include "ops/kernels/broadcast.h"
#include "ops/kernels/parallel.h"
#include "ops/kernels/shape_attrs.h"
#include "ops/ops.h"

namespace dagrad::ops {
using kernels::TargetShapeAttrs;

Value broadcast_to(Value x, Shape shape) {
  return x.graph().add_node("broadcast_to", {x}, write_attrs(TargetShapeAttrs{std::move(shape)}))[0];
}

void register_broadcast_to(OpRegistry& registry) {
  registry.add(define_op<TargetShapeAttrs>({
      .name = "broadcast_to",
      .doc = "Broadcasts x to `shape` (numpy rules).",
      .inputs = {"x"},
      .examples = {{.label = "rows", .attrs = {{"shape", std::vector<std::int64_t>{4, 5}}}, .inputs = {{.shape = {5}}}},
                   {.label = "middle", .attrs = {{"shape", std::vector<std::int64_t>{2, 3, 4}}}, .inputs = {{.shape = {3, 1}}}},
                   {.label = "from_scalar", .attrs = {{"shape", std::vector<std::int64_t>{2, 3}}}, .inputs = {{.shape = {}}}}},
      .infer = [](const TargetShapeAttrs& a, InferContext& c) {
        c.expect_float(0);
        element_count(a.shape);
        if (!kernels::broadcasts_to(c.shape(0), a.shape))
          c.fail("input shape ", to_string(c.shape(0)), " does not broadcast to ", to_string(a.shape));
        return std::vector{TensorType{c.dtype(0), a.shape}};
      },
      .forward = [](const TargetShapeAttrs&, KernelContext& k) {
        dispatch_float(k.input(0).dtype(), [&]<class T>() {
          const T* x = k.input(0).data<T>().data();
          T* y = k.output(0).data<T>().data();
          kernels::parallel_chunks(k.output(0).numel(), kernels::kElementwiseGrain, [&](std::int64_t s, std::int64_t e) {
            kernels::BroadcastCursor from(k.input(0).shape(), k.output(0).shape(), s);
            for (std::int64_t i = s; i < e; ++i, from.next()) y[i] = x[from.offset()];
          });
        });
      },
      .grad = [](const TargetShapeAttrs&, GradContext& g) { return std::vector{sum_to(g.dy(), g.shape(0))}; },
  }));
}

}  // namespace dagrad::ops
