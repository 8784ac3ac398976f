// sum_to: sums x over the dims along which `shape` was broadcast to x's shape (the adjoint of
// broadcast_to). Gradient: broadcast_to(dy, x.shape).
#include "graph/op.h"
#include "ops/kernels/broadcast.h"
#include "ops/kernels/shape_attrs.h"
#include "ops/ops.h"

namespace dagrad::ops {
using kernels::TargetShapeAttrs;

Value sum_to(Value x, Shape shape) {
  return x.graph().add_node("sum_to", {x}, write_attrs(TargetShapeAttrs{std::move(shape)}))[0];
}

void register_sum_to(OpRegistry& registry) {
  registry.add(define_op<TargetShapeAttrs>({
      .name = "sum_to",
      .doc = "Sums x down to `shape`, which must broadcast to x's shape.",
      .inputs = {"x"},
      .examples = {{.label = "bias", .attrs = {{"shape", std::vector<std::int64_t>{5}}}, .inputs = {{.shape = {4, 5}}}},
                   {.label = "keep_ones", .attrs = {{"shape", std::vector<std::int64_t>{3, 1}}}, .inputs = {{.shape = {2, 3, 4}}}},
                   {.label = "scalar", .attrs = {{"shape", std::vector<std::int64_t>{}}}, .inputs = {{.shape = {2, 3}}}},
                   {.label = "identity", .attrs = {{"shape", std::vector<std::int64_t>{2, 3}}}, .inputs = {{.shape = {2, 3}}}}},
      .infer = [](const TargetShapeAttrs& a, InferContext& c) {
        c.expect_float(0);
        element_count(a.shape);
        if (!kernels::broadcasts_to(a.shape, c.shape(0)) || a.shape.size() > c.shape(0).size())
          c.fail("shape ", to_string(a.shape), " does not broadcast to the input shape ", to_string(c.shape(0)));
        return std::vector{TensorType{c.dtype(0), a.shape}};
      },
      .forward = [](const TargetShapeAttrs&, KernelContext& k) {
        dispatch_float(k.input(0).dtype(), [&]<class T>() {
          const Tensor& tx = k.input(0);
          Tensor& ty = k.output(0);
          const T* x = tx.data<T>().data();
          T* y = ty.data<T>().data();
          std::fill(y, y + ty.numel(), T(0));
          // Sequential in x's order: a fixed summation order, whatever the thread count.
          kernels::BroadcastCursor to(ty.shape(), tx.shape(), 0);
          for (std::int64_t i = 0; i < tx.numel(); ++i, to.next()) y[to.offset()] += x[i];
        });
      },
      .grad = [](const TargetShapeAttrs&, GradContext& g) { return std::vector{broadcast_to(g.dy(), g.shape(0))}; },
      // Summing the batch dim away: in index order, not the canonical one (batch_sum is).
      .batch_reduction = [](const kernels::TargetShapeAttrs& a, const BatchContext& b) {
        const Shape& x = b.infer.shape(0);
        if (!b.batched[0] || x.empty()) return BatchReduction::none;
        // Dim 0 is summed when the target drops it or broadcasts it (1): for a batch of any size.
        const bool sums_batch = a.shape.size() < x.size() || a.shape[0] != x[0] || a.shape[0] == 1;
        return sums_batch ? BatchReduction::non_canonical : BatchReduction::none;
      },
  }));
}

}  // namespace dagrad::ops
