// softmax_cross_entropy_grad: dlogits = (softmax(logits) - target) * dy / kept on the lines of the
// labels that are not ignore_index, 0 on the others, where target = (1 - e) one-hot + e / K, kept
// counts the labels not ignored and dy is the scalar gradient of the mean loss. Every label
// ignored: 0 everywhere, the gradient of the constant 0 loss.
#include <cmath>

#include "graph/op.h"
#include "ops/kernels/labels.h"
#include "ops/ops.h"

namespace dagrad::ops {
using kernels::CrossEntropyAttrs;

Value softmax_cross_entropy_grad(Value logits, Value labels, Value dy) { return softmax_cross_entropy_grad(logits, labels, dy, {}); }

Value softmax_cross_entropy_grad(Value logits, Value labels, Value dy, const CrossEntropyOptions& options) {
  return logits.graph().add_node("softmax_cross_entropy_grad", {logits, labels, dy},
                                 write_attrs(CrossEntropyAttrs{options.label_smoothing, options.ignore_index}))[0];
}

void register_softmax_cross_entropy_grad(OpRegistry& registry) {
  auto labels = [](Shape shape, std::int64_t low, std::int64_t high) {
    return ExampleInput{.shape = std::move(shape), .dtype = DType::i64, .low = double(low), .high = double(high)};
  };
  auto options = [](double smoothing, std::int64_t ignore) -> AttrMap {
    return {{"label_smoothing", smoothing}, {"ignore_index", ignore}};
  };
  registry.add(define_op<CrossEntropyAttrs>({
      .name = "softmax_cross_entropy_grad",
      .doc = "Backward of softmax_cross_entropy: (softmax(logits) - target) * dy / (labels not ignored), 0 on ignored labels.",
      .inputs = {"logits", "labels", "dy"},
      .outputs = {"dlogits"},
      .nondifferentiable_inputs = {1},
      .examples = {{.label = "batch4", .inputs = {{.shape = {4, 5}, .low = -3, .high = 3}, labels({4}, 0, 5), {.shape = {}}}},
                   {.label = "ignore_smoothing",
                    .attrs = options(0.2, -1),
                    .inputs = {{.shape = {8, 3}, .low = -3, .high = 3}, labels({8}, -1, 3), {.shape = {}}}},
                   {.label = "spatial",
                    .attrs = options(0.1, -1),
                    .inputs = {{.shape = {2, 3, 2, 2}, .low = -3, .high = 3}, labels({2, 2, 2}, -1, 3), {.shape = {}}}}},
      .infer = [](const CrossEntropyAttrs& a, InferContext& c) {
        kernels::check_logits_labels(c, a);
        c.expect_same_dtype(0, 2);
        if (!c.shape(2).empty()) c.fail("dy (input 2) must be a scalar, got shape ", to_string(c.shape(2)));
        return std::vector{c.input(0)};
      },
      .forward = [](const CrossEntropyAttrs& a, KernelContext& k) {
        dispatch_float(k.input(0).dtype(), [&]<class T>() {
          const kernels::ClassLines lines(k.input(0).shape());
          const std::int64_t kept = kernels::check_labels(k, k.input(1), lines, a.ignore_index);
          const T* x = k.input(0).data<T>().data();
          const std::int64_t* label = k.input(1).data<std::int64_t>().data();
          // The mean is over the global batch of a data-parallel step (labels.h).
          const double count = kernels::global_label_count(k, kept, lines);
          const double factor = count == 0 ? 0.0 : static_cast<double>(k.input(2).data<T>()[0]) / count;
          const double e = a.label_smoothing, spread = e / static_cast<double>(lines.classes);
          T* dx = k.output(0).data<T>().data();
          lines.for_each_line([&](std::int64_t r) {
            const T* xr = x + lines.first(r);
            T* dr = dx + lines.first(r);
            const std::int64_t stride = lines.inner;
            if (label[r] == a.ignore_index) {
              for (std::int64_t j = 0; j < lines.classes; ++j) dr[j * stride] = T(0);
              return;
            }
            double top, total;
            kernels::line_softmax_stats(xr, lines.classes, stride, top, total);
            for (std::int64_t j = 0; j < lines.classes; ++j) {
              const double p = std::exp(xr[j * stride] - top) / total;
              const double target = (j == label[r] ? 1.0 - e : 0.0) + spread;  // 1 or 0 exactly when e = 0
              dr[j * stride] = static_cast<T>((p - target) * factor);
            }
          });
        });
      },
      // No sum over the batch, but it normalizes by the global batch's label count.
      .batch_reduction = [](const CrossEntropyAttrs&, const BatchContext&) { return BatchReduction::canonical; },
  }));
}

}  // namespace dagrad::ops
