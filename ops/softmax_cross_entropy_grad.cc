// softmax_cross_entropy_grad: dlogits = (softmax(logits) - onehot(labels)) * dy / N, where dy is
// the scalar gradient of the mean loss.
#include <cmath>

#include "graph/op.h"
#include "ops/kernels/labels.h"
#include "ops/kernels/rows.h"
#include "ops/ops.h"

namespace dagrad::ops {

Value softmax_cross_entropy_grad(Value logits, Value labels, Value dy) {
  return logits.graph().add_node("softmax_cross_entropy_grad", {logits, labels, dy})[0];
}

void register_softmax_cross_entropy_grad(OpRegistry& registry) {
  registry.add(define_op<NoAttrs>({
      .name = "softmax_cross_entropy_grad",
      .doc = "Backward of softmax_cross_entropy: (softmax(logits) - onehot(labels)) * dy / N.",
      .inputs = {"logits", "labels", "dy"},
      .outputs = {"dlogits"},
      .nondifferentiable_inputs = {1},
      .examples = {{.label = "batch4", .inputs = {{.shape = {4, 5}, .low = -3, .high = 3},
                                                  {.shape = {4}, .dtype = DType::i64, .low = 0, .high = 5},
                                                  {.shape = {}}}}},
      .infer = [](const NoAttrs&, InferContext& c) {
        kernels::check_logits_labels(c);
        c.expect_same_dtype(0, 2);
        if (!c.shape(2).empty()) c.fail("dy (input 2) must be a scalar, got shape ", to_string(c.shape(2)));
        return std::vector{c.input(0)};
      },
      .forward = [](const NoAttrs&, KernelContext& k) {
        dispatch_float(k.input(0).dtype(), [&]<class T>() {
          const std::int64_t batch = k.input(0).dim(0), classes = k.input(0).dim(1);
          kernels::check_labels(k, k.input(1), classes);
          const T* x = k.input(0).data<T>().data();
          const std::int64_t* labels = k.input(1).data<std::int64_t>().data();
          const double factor = static_cast<double>(k.input(2).data<T>()[0]) / static_cast<double>(batch);
          T* dx = k.output(0).data<T>().data();
          kernels::parallel_rows(batch * classes, classes, [&](std::int64_t r) {
            const T* xr = x + r * classes;
            T* dr = dx + r * classes;
            double top = xr[0];
            for (std::int64_t j = 1; j < classes; ++j) top = std::max(top, static_cast<double>(xr[j]));
            double total = 0;
            for (std::int64_t j = 0; j < classes; ++j) total += std::exp(xr[j] - top);
            for (std::int64_t j = 0; j < classes; ++j) {
              const double p = std::exp(xr[j] - top) / total;
              dr[j] = static_cast<T>((p - (j == labels[r] ? 1.0 : 0.0)) * factor);
            }
          });
        });
      },
  }));
}

}  // namespace dagrad::ops
