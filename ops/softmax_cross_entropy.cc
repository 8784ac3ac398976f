// softmax_cross_entropy: the mean over the batch of -log softmax(logits)[label], computed as
// logsumexp(row) - logits[label] with the row max subtracted, so logits of magnitude 1e4 stay exact.
// Gradient: softmax_cross_entropy_grad(logits, labels, dy) = (softmax(logits) - onehot(labels)) * dy / N.
#include <cmath>
#include <vector>

#include "graph/op.h"
#include "ops/kernels/labels.h"
#include "ops/kernels/rows.h"
#include "ops/ops.h"

namespace dagrad::ops {

Value softmax_cross_entropy(Value logits, Value labels) {
  return logits.graph().add_node("softmax_cross_entropy", {logits, labels})[0];
}

void register_softmax_cross_entropy(OpRegistry& registry) {
  registry.add(define_op<NoAttrs>({
      .name = "softmax_cross_entropy",
      .doc = "Mean softmax cross-entropy of logits [N,K] against integer labels [N].",
      .inputs = {"logits", "labels"},
      .outputs = {"loss"},
      .nondifferentiable_inputs = {1},
      .examples = {{.label = "batch4", .inputs = {{.shape = {4, 5}, .low = -3, .high = 3},
                                                  {.shape = {4}, .dtype = DType::i64, .low = 0, .high = 5}}},
                   {.label = "batch1_two_classes",
                    .inputs = {{.shape = {1, 2}, .low = -2, .high = 2}, {.shape = {1}, .dtype = DType::i64, .low = 0, .high = 2}}}},
      .infer = [](const NoAttrs&, InferContext& c) {
        kernels::check_logits_labels(c);
        return std::vector{TensorType{c.dtype(0), {}}};
      },
      .forward = [](const NoAttrs&, KernelContext& k) {
        dispatch_float(k.input(0).dtype(), [&]<class T>() {
          const std::int64_t batch = k.input(0).dim(0), classes = k.input(0).dim(1);
          kernels::check_labels(k, k.input(1), classes);
          const T* x = k.input(0).data<T>().data();
          const std::int64_t* labels = k.input(1).data<std::int64_t>().data();
          std::vector<double> row_loss(static_cast<std::size_t>(batch));
          kernels::parallel_rows(batch * classes, classes, [&](std::int64_t r) {
            const T* xr = x + r * classes;
            double top = xr[0];
            for (std::int64_t j = 1; j < classes; ++j) top = std::max(top, static_cast<double>(xr[j]));
            double total = 0;
            for (std::int64_t j = 0; j < classes; ++j) total += std::exp(xr[j] - top);
            row_loss[r] = (top - xr[labels[r]]) + std::log(total);
          });
          double sum = 0;  // in row order: the same bits for any thread count
          for (double v : row_loss) sum += v;
          k.output(0).data<T>()[0] = static_cast<T>(sum / static_cast<double>(batch));
        });
      },
      .grad = [](const NoAttrs&, GradContext& g) {
        return std::vector{softmax_cross_entropy_grad(g.input(0), g.input(1), g.dy()), Value()};
      },
  }));
}

}  // namespace dagrad::ops
