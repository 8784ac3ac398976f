#pragma once
// Shape rule and run-time label check shared by softmax_cross_entropy and its gradient.
#include <cstdint>

#include "graph/op.h"

namespace dagrad::kernels {

// logits (input 0) float [N,K] with N, K >= 1; labels (input 1) i64 [N].
inline void check_logits_labels(const InferContext& c) {
  c.expect_float(0);
  const Shape& logits = c.shape(0);
  if (logits.size() != 2) c.fail("logits (input 0) must be [N,K], got shape ", to_string(logits));
  if (logits[0] < 1 || logits[1] < 1) c.fail("logits (input 0) need N >= 1 and K >= 1, got shape ", to_string(logits));
  if (c.dtype(1) != DType::i64) c.fail("labels (input 1) must be i64, got ", dtype_name(c.dtype(1)));
  if (c.shape(1) != Shape{logits[0]})
    c.fail("labels (input 1) must have shape [", logits[0], "] to match the batch of logits ", to_string(logits), ", got ",
           to_string(c.shape(1)));
}

// Checks every label is a class index in [0, classes), in row order so the error names the first bad row.
inline void check_labels(const KernelContext& k, const Tensor& labels, std::int64_t classes) {
  const std::int64_t* l = labels.data<std::int64_t>().data();
  for (std::int64_t r = 0; r < labels.numel(); ++r)
    if (l[r] < 0 || l[r] >= classes)
      fail("op '", k.node().op, "' node '", k.node().name, "': label ", l[r], " at batch row ", r,
           " is outside the classes [0, ", classes, ")");
}

}  // namespace dagrad::kernels
