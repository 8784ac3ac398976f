#pragma once
// What nll_loss and nll_loss_grad share: the attributes, the shape rule and the per-label weights.
// ONNX NegativeLogLikelihoodLoss: log_probs [N,C] or [N,C,d1,...], labels i64 [N] or [N,d1,...],
// optional weight [C]. Each label l not equal to ignore_index contributes -weight[l] * log_probs[n,l,d]
// and weight[l] to the divisor of the mean; an ignored label contributes 0 to both.
#include <cstdint>
#include <string>
#include <vector>

#include "graph/op.h"
#include "ops/kernels/labels.h"

namespace dagrad::ops {

struct NllLossAttrs {
  std::string reduction = "mean";      // mean | sum | none
  std::int64_t ignore_index = -100;    // ONNX's attribute has no default; PyTorch's is -100
  template <class V> void fields(V& v) {
    v("reduction", reduction);
    v("ignore_index", ignore_index);
  }
};

// The shape rule of both ops: log_probs (input 0) float [N,C,...] with N, C >= 1, labels (input 1)
// i64 of log_probs' shape without dim 1, weight (input weight_input, when present) [C] of log_probs'
// dtype. Returns the shape of the per-label losses (labels' shape).
inline Shape check_nll_inputs(const InferContext& c, const NllLossAttrs& a, int weight_input) {
  if (a.reduction != "mean" && a.reduction != "sum" && a.reduction != "none")
    c.fail("attribute 'reduction' = '", a.reduction, "' must be 'mean', 'sum' or 'none'");
  kernels::check_scores_and_labels(c, "log_probs", "C");
  const Shape& log_probs = c.shape(0);
  if (c.num_inputs() > weight_input) {
    c.expect_same_dtype(0, weight_input);
    if (c.shape(weight_input) != Shape{log_probs[1]})
      c.fail("weight (input ", weight_input, ") must have shape [", log_probs[1], "] (one per class of log_probs ",
             to_string(log_probs), "), got ", to_string(c.shape(weight_input)));
  }
  return c.shape(1);
}

// Per label r (in labels' flat order): its weight w_r (0 when ignored) and the flat index of the
// log-prob it picks (-1 when ignored). Checks every label first, so an out-of-range one is an error
// naming the node, the label and its position. Sequential: the caller's sums keep one order.
struct NllPicks {
  std::vector<double> weight;
  std::vector<std::int64_t> index;
  double total_weight = 0;  // sum of weight in label order: the divisor of the mean
};
template <class T>
NllPicks nll_picks(const KernelContext& k, const NllLossAttrs& a, const kernels::ClassLines& lines, const Tensor* weight) {
  kernels::check_labels(k, k.input(1), lines, a.ignore_index);
  const std::int64_t* label = k.input(1).data<std::int64_t>().data();
  const T* w = weight ? weight->data<T>().data() : nullptr;
  NllPicks picks;
  const auto count = static_cast<std::size_t>(lines.lines());
  picks.weight.assign(count, 0.0);
  picks.index.assign(count, -1);
  for (std::int64_t r = 0; r < lines.lines(); ++r) {
    if (label[r] == a.ignore_index) continue;
    picks.weight[r] = w ? static_cast<double>(w[label[r]]) : 1.0;
    picks.index[r] = lines.first(r) + label[r] * lines.inner;
    picks.total_weight += picks.weight[r];
  }
  return picks;
}

}  // namespace dagrad::ops
