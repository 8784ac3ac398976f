// nll_loss_grad: dlog_probs of nll_loss. Zero except at each picked log-prob (label l_r not
// ignore_index): -weight[l_r] * g_r, where g_r = dy[r] (reduction none), dy (sum) or
// dy / (sum of the weights of the labels kept) (mean; 0 when that sum is 0, as the loss is then 0).
#include <algorithm>
#include <vector>

#include "graph/op.h"
#include "ops/nll_loss.h"
#include "ops/ops.h"

namespace dagrad::ops {

Value nll_loss_grad(Value log_probs, Value labels, Value dy, Value weight, const NllLossOptions& options) {
  std::vector<Value> inputs = {log_probs, labels, dy};
  if (weight) inputs.push_back(weight);
  return log_probs.graph().add_node("nll_loss_grad", inputs, write_attrs(NllLossAttrs{options.reduction, options.ignore_index}))[0];
}

void register_nll_loss_grad(OpRegistry& registry) {
  auto labels = [](Shape shape, std::int64_t low, std::int64_t high) {
    return ExampleInput{.shape = std::move(shape), .dtype = DType::i64, .low = double(low), .high = double(high)};
  };
  auto options = [](const char* reduction, std::int64_t ignore) -> AttrMap {
    return {{"reduction", std::string(reduction)}, {"ignore_index", ignore}};
  };
  const ExampleInput weight3{.shape = {3}, .low = 0.5, .high = 2};
  registry.add(define_op<NllLossAttrs>({
      .name = "nll_loss_grad",
      .doc = "Backward of nll_loss: -weight[l] * dy (divided by the summed weights of the labels kept for reduction mean) "
             "at each label's log-prob, 0 elsewhere and on ignored labels.",
      .inputs = {"log_probs", "labels", "dy", "weight?"},
      .outputs = {"dlog_probs"},
      .nondifferentiable_inputs = {1, 3},
      .examples = {{.label = "mean", .inputs = {{.shape = {4, 5}, .low = -3, .high = 0}, labels({4}, 0, 5), {.shape = {}}}},
                   {.label = "ignore_mean_weight", .attrs = options("mean", -1),
                    .inputs = {{.shape = {8, 3}, .low = -3, .high = 0}, labels({8}, -1, 3), {.shape = {}}, weight3}},
                   {.label = "sum_weight", .attrs = options("sum", -100),
                    .inputs = {{.shape = {5, 3}, .low = -3, .high = 0}, labels({5}, 0, 3), {.shape = {}}, weight3}},
                   {.label = "spatial_none_weight", .attrs = options("none", -1),
                    .inputs = {{.shape = {2, 3, 2}, .low = -3, .high = 0}, labels({2, 2}, -1, 3), {.shape = {2, 2}}, weight3}}},
      .infer = [](const NllLossAttrs& a, InferContext& c) {
        Shape per_label = check_nll_inputs(c, a, 3);
        c.expect_same_dtype(0, 2);
        const Shape want = a.reduction == "none" ? per_label : Shape{};
        if (c.shape(2) != want)
          c.fail("dy (input 2) must have shape ", to_string(want), " for reduction '", a.reduction, "', got ", to_string(c.shape(2)));
        return std::vector{c.input(0)};
      },
      .forward = [](const NllLossAttrs& a, KernelContext& k) {
        dispatch_float(k.input(0).dtype(), [&]<class T>() {
          const kernels::ClassLines lines(k.input(0).shape());
          const NllPicks picks = nll_picks<T>(k, a, lines, k.num_inputs() == 4 ? &k.input(3) : nullptr);
          const T* dy = k.input(2).data<T>().data();
          T* dx = k.output(0).data<T>().data();
          std::fill(dx, dx + k.output(0).numel(), T(0));
          const bool per_label = a.reduction == "none";
          double factor = static_cast<double>(dy[0]);
          if (a.reduction == "mean") factor = picks.total_weight == 0 ? 0.0 : factor / picks.total_weight;
          for (std::int64_t r = 0; r < lines.lines(); ++r) {
            if (picks.index[r] < 0) continue;
            const double g = per_label ? static_cast<double>(dy[r]) : factor;
            dx[picks.index[r]] = static_cast<T>(-picks.weight[r] * g);
          }
        });
      },
      // The mean divides by the run's own summed weights.
      .batch_reduction = [](const NllLossAttrs& a, const BatchContext& b) {
        (void)b;
        return a.reduction == "mean" ? BatchReduction::non_canonical : BatchReduction::none;
      },
  }));
}

}  // namespace dagrad::ops
