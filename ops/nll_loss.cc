// nll_loss: ONNX NegativeLogLikelihoodLoss. loss_r = -weight[l_r] * log_probs[n, l_r, d] for every
// label l_r that is not ignore_index (0 for an ignored one); reduction 'none' returns them
// ([N,d1,...]), 'sum' their sum, 'mean' their sum divided by the sum of the weights of the labels
// not ignored (0 when that is 0, e.g. every label ignored, where ONNX's reference gives NaN).
// ONNX SoftmaxCrossEntropyLoss is log_softmax(axis 1) followed by this op.
// Gradient: nll_loss_grad; labels and weight are not differentiable.
#include <cmath>
#include <vector>

#include "graph/op.h"
#include "ops/nll_loss.h"
#include "ops/ops.h"

namespace dagrad::ops {

Value nll_loss(Value log_probs, Value labels, Value weight, const NllLossOptions& options) {
  std::vector<Value> inputs = {log_probs, labels};
  if (weight) inputs.push_back(weight);
  return log_probs.graph().add_node("nll_loss", inputs, write_attrs(NllLossAttrs{options.reduction, options.ignore_index}))[0];
}

void register_nll_loss(OpRegistry& registry) {
  auto labels = [](Shape shape, std::int64_t low, std::int64_t high) {
    return ExampleInput{.shape = std::move(shape), .dtype = DType::i64, .low = double(low), .high = double(high)};
  };
  auto options = [](const char* reduction, std::int64_t ignore) -> AttrMap {
    return {{"reduction", std::string(reduction)}, {"ignore_index", ignore}};
  };
  const ExampleInput log_probs{.shape = {4, 5}, .low = -3, .high = 0};
  const ExampleInput weight5{.shape = {5}, .low = 0.5, .high = 2};
  const ExampleInput weight3{.shape = {3}, .low = 0.5, .high = 2};
  registry.add(define_op<NllLossAttrs>({
      .name = "nll_loss",
      .doc = "Negative log-likelihood loss (ONNX NegativeLogLikelihoodLoss): -weight[l] * log_probs[n,l,...] per integer "
             "label l of labels [N] (or [N,d1,...]) with log_probs [N,C] (or [N,C,d1,...]) and optional weight [C]; "
             "reduction mean (divided by the summed weights of the labels kept; 0 if none), sum or none; labels equal to "
             "ignore_index add nothing.",
      .inputs = {"log_probs", "labels", "weight?"},
      .outputs = {"loss"},
      .nondifferentiable_inputs = {1, 2},
      .examples = {{.label = "mean", .inputs = {log_probs, labels({4}, 0, 5)}},
                   {.label = "mean_weight", .inputs = {log_probs, labels({4}, 0, 5), weight5}},
                   {.label = "sum_weight", .attrs = options("sum", -100), .inputs = {log_probs, labels({4}, 0, 5), weight5}},
                   {.label = "none_weight", .attrs = options("none", -100), .inputs = {log_probs, labels({4}, 0, 5), weight5}},
                   {.label = "none", .attrs = options("none", -100), .inputs = {{.shape = {3, 2}, .low = -3, .high = 0}, labels({3}, 0, 2)}},
                   // Labels drawn from [-1, 3): about a quarter of them are ignored.
                   {.label = "ignore_mean_weight", .attrs = options("mean", -1),
                    .inputs = {{.shape = {8, 3}, .low = -3, .high = 0}, labels({8}, -1, 3), weight3}},
                   {.label = "ignore_a_class_sum", .attrs = options("sum", 1),
                    .inputs = {{.shape = {6, 3}, .low = -3, .high = 0}, labels({6}, 0, 3)}},
                   {.label = "spatial_mean_weight", .attrs = options("mean", -1),
                    .inputs = {{.shape = {2, 3, 2, 2}, .low = -3, .high = 0}, labels({2, 2, 2}, -1, 3), weight3}},
                   {.label = "spatial_none", .attrs = options("none", -1),
                    .inputs = {{.shape = {2, 3, 2}, .low = -3, .high = 0}, labels({2, 2}, -1, 3), weight3}}},
      .infer = [](const NllLossAttrs& a, InferContext& c) {
        Shape per_label = check_nll_inputs(c, a, 2);
        return std::vector{TensorType{c.dtype(0), a.reduction == "none" ? per_label : Shape{}}};
      },
      .forward = [](const NllLossAttrs& a, KernelContext& k) {
        dispatch_float(k.input(0).dtype(), [&]<class T>() {
          const kernels::ClassLines lines(k.input(0).shape());
          const NllPicks picks = nll_picks<T>(k, a, lines, k.num_inputs() == 3 ? &k.input(2) : nullptr);
          const T* lp = k.input(0).data<T>().data();
          T* out = k.output(0).data<T>().data();
          auto loss = [&](std::int64_t r) { return picks.index[r] < 0 ? 0.0 : -picks.weight[r] * static_cast<double>(lp[picks.index[r]]); };
          if (a.reduction == "none") {
            for (std::int64_t r = 0; r < lines.lines(); ++r) out[r] = static_cast<T>(loss(r));
            return;
          }
          double sum = 0;  // in label order: the same bits for any thread count
          for (std::int64_t r = 0; r < lines.lines(); ++r) sum += loss(r);
          if (a.reduction == "sum") out[0] = static_cast<T>(sum);
          else out[0] = picks.total_weight == 0 ? T(0) : static_cast<T>(sum / picks.total_weight);
        });
      },
      .grad = [](const NllLossAttrs& a, GradContext& g) {
        std::vector<Value> grads(g.num_inputs());
        Value weight = g.num_inputs() == 3 ? g.input(2) : Value();
        if (g.needs(0)) grads[0] = nll_loss_grad(g.input(0), g.input(1), g.dy(), weight, {a.reduction, a.ignore_index});
        return grads;
      },
      // Its mean and sum over the batch are in index order and over the run's own batch.
      .batch_reduction = [](const NllLossAttrs& a, const BatchContext& b) {
        (void)b;
        return a.reduction == "none" ? BatchReduction::none : BatchReduction::non_canonical;
      },
  }));
}

}  // namespace dagrad::ops
