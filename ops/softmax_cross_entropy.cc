// softmax_cross_entropy: the mean over the labels that are not ignore_index of
// -sum_j target_j log softmax(logits)_j, target = (1 - e) one-hot(label) + e / K (label_smoothing e).
// -log softmax_j is computed as (max - x_j) + log(sum(exp(x - max))), so logits of magnitude 1e4
// stay exact. Every label ignored: the loss is 0 (ops/kernels/labels.h). The mean is taken in the
// canonical batch order over the global batch of a data-parallel step (graph/batch_slice.h).
// Gradient: softmax_cross_entropy_grad(logits, labels, dy) with the same attributes.
#include <algorithm>
#include <cmath>
#include <span>
#include <vector>

#include "graph/op.h"
#include "ops/kernels/batch_groups.h"
#include "ops/kernels/labels.h"
#include "ops/ops.h"

namespace dagrad::ops {
using kernels::CrossEntropyAttrs;

Value softmax_cross_entropy(Value logits, Value labels) { return softmax_cross_entropy(logits, labels, {}); }

Value softmax_cross_entropy(Value logits, Value labels, const CrossEntropyOptions& options) {
  return logits.graph().add_node("softmax_cross_entropy", {logits, labels},
                                 write_attrs(CrossEntropyAttrs{options.label_smoothing, options.ignore_index}))[0];
}

void register_softmax_cross_entropy(OpRegistry& registry) {
  auto labels = [](Shape shape, std::int64_t low, std::int64_t high) {
    return ExampleInput{.shape = std::move(shape), .dtype = DType::i64, .low = double(low), .high = double(high)};
  };
  auto options = [](double smoothing, std::int64_t ignore) -> AttrMap {
    return {{"label_smoothing", smoothing}, {"ignore_index", ignore}};
  };
  registry.add(define_op<CrossEntropyAttrs>({
      .name = "softmax_cross_entropy",
      .doc = "Mean softmax cross-entropy of logits [N,K] (or [N,K,d1,...]) against integer labels [N] (or [N,d1,...]), "
             "with label_smoothing and ignore_index (PyTorch's).",
      .inputs = {"logits", "labels"},
      .outputs = {"loss"},
      .nondifferentiable_inputs = {1},
      .examples = {{.label = "batch4", .inputs = {{.shape = {4, 5}, .low = -3, .high = 3}, labels({4}, 0, 5)}},
                   {.label = "batch1_two_classes", .inputs = {{.shape = {1, 2}, .low = -2, .high = 2}, labels({1}, 0, 2)}},
                   {.label = "smoothing", .attrs = options(0.1, -100), .inputs = {{.shape = {4, 5}, .low = -3, .high = 3}, labels({4}, 0, 5)}},
                   {.label = "full_smoothing", .attrs = options(1, -100), .inputs = {{.shape = {3, 4}, .low = -3, .high = 3}, labels({3}, 0, 4)}},
                   // Labels drawn from [-1, 3): about a quarter of them are ignored.
                   {.label = "ignore", .attrs = options(0, -1), .inputs = {{.shape = {8, 3}, .low = -3, .high = 3}, labels({8}, -1, 3)}},
                   {.label = "ignore_smoothing", .attrs = options(0.2, -1), .inputs = {{.shape = {8, 3}, .low = -3, .high = 3}, labels({8}, -1, 3)}},
                   {.label = "ignore_a_class", .attrs = options(0, 1), .inputs = {{.shape = {6, 3}, .low = -3, .high = 3}, labels({6}, 0, 3)}},
                   {.label = "spatial", .attrs = options(0.1, -1), .inputs = {{.shape = {2, 3, 2, 2}, .low = -3, .high = 3}, labels({2, 2, 2}, -1, 3)}}},
      .infer = [](const CrossEntropyAttrs& a, InferContext& c) {
        kernels::check_logits_labels(c, a);
        return std::vector{TensorType{c.dtype(0), {}}};
      },
      .forward = [](const CrossEntropyAttrs& a, KernelContext& k) {
        dispatch_float(k.input(0).dtype(), [&]<class T>() {
          const kernels::ClassLines lines(k.input(0).shape());
          const std::int64_t kept = kernels::check_labels(k, k.input(1), lines, a.ignore_index);
          const T* x = k.input(0).data<T>().data();
          const std::int64_t* label = k.input(1).data<std::int64_t>().data();
          const double e = a.label_smoothing;
          std::vector<double> line_loss(static_cast<std::size_t>(lines.lines()));
          lines.for_each_line([&](std::int64_t r) {
            if (label[r] == a.ignore_index) return;  // stays 0
            const T* xr = x + lines.first(r);
            const std::int64_t stride = lines.inner;
            double top, total;
            kernels::line_softmax_stats(xr, lines.classes, stride, top, total);
            const double log_total = std::log(total);
            const double hit = (top - xr[label[r] * stride]) + log_total;  // -log p[label]
            if (e == 0) {
              line_loss[r] = hit;
              return;
            }
            double spread = 0;  // sum_j -log p[j], each term >= 0
            for (std::int64_t j = 0; j < lines.classes; ++j) spread += (top - xr[j * stride]) + log_total;
            line_loss[r] = (1 - e) * hit + e * spread / static_cast<double>(lines.classes);
          });
          // The mean in the canonical batch order (batch_groups.h): per group of images the sum of
          // its lines' losses (in line order) over the global count, rounded to T, the groups
          // combined in the fixed tree; a slice's root is finished by its combiner.
          const double count = kernels::global_label_count(k, kept, lines);
          const std::int64_t groups = kernels::batch_groups(lines.batch);
          std::vector<T> nodes(static_cast<std::size_t>(std::max<std::int64_t>(1, groups)), T(0));
          for (std::int64_t g = 0; g < groups && count > 0; ++g) {
            const std::int64_t first = g * kernels::kImagesPerGroup * lines.inner;
            const std::int64_t last = std::min(lines.batch, (g + 1) * kernels::kImagesPerGroup) * lines.inner;
            double sum = 0;
            for (std::int64_t r = first; r < last; ++r) sum += line_loss[static_cast<std::size_t>(r)];
            nodes[static_cast<std::size_t>(g)] = static_cast<T>(sum / count);
          }
          kernels::tree_combine(nodes.data(), groups, 1, 1);
          if (k.batch_slice().combiner) k.batch_slice().combiner->combine(std::span<T>(nodes.data(), 1));
          k.output(0).data<T>()[0] = nodes[0];
        });
      },
      .grad = [](const CrossEntropyAttrs& a, GradContext& g) {
        return std::vector{softmax_cross_entropy_grad(g.input(0), g.input(1), g.dy(), {a.label_smoothing, a.ignore_index}),
                           Value()};
      },
      .batch_reduction = [](const CrossEntropyAttrs&, const BatchContext&) { return BatchReduction::canonical; },
  }));
}

}  // namespace dagrad::ops
