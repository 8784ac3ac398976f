#pragma once
// What softmax_cross_entropy and its gradient share: the attributes, the shape rule, the run-time
// label check and the walk over the class lines of the logits.
//
// logits [N, K] or [N, K, d1, ...] (ONNX's SoftmaxCrossEntropyLoss form: the classes on dim 1),
// labels i64 [N] or [N, d1, ...]. Each label picks one line of K logits (stride d1 * ...). The loss
// is the mean over the labels that are not ignore_index; when every label is ignored it is 0 (and
// so is the gradient), where PyTorch gives NaN (0 / 0).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>

#include "graph/op.h"
#include "ops/kernels/parallel.h"

namespace dagrad::kernels {

struct CrossEntropyAttrs {
  double label_smoothing = 0;         // e: target = (1 - e) one-hot + e / K (PyTorch's definition)
  std::int64_t ignore_index = -100;   // labels equal to it add nothing to the loss or the count
  template <class V> void fields(V& v) {
    v("label_smoothing", label_smoothing);
    v("ignore_index", ignore_index);
  }
};

// logits seen as [batch, classes, inner]: label l = labels[n * inner + i] picks the line of
// logits n * classes * inner + j * inner + i, j < classes.
struct ClassLines {
  std::int64_t batch = 1, classes = 1, inner = 1;
  explicit ClassLines(const Shape& logits) : batch(logits[0]), classes(logits[1]) {
    for (std::size_t d = 2; d < logits.size(); ++d) inner *= logits[d];
  }
  std::int64_t lines() const { return batch * inner; }
  std::int64_t first(std::int64_t line) const { return (line / inner) * classes * inner + line % inner; }

  // Calls body(line) for every line, in chunks fixed by the shape (each line's arithmetic is its own).
  template <class Body> void for_each_line(const Body& body) const {
    parallel_chunks(lines(), std::max<std::int64_t>(1, kElementwiseGrain / classes), [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t r = b; r < e; ++r) body(r);
    });
  }
};

// Input 0 float class scores [N,C,d1,...] with N, C >= 1 (`scores`: "logits", "log_probs"; `classes`:
// the letter the messages use for dim 1), input 1 i64 labels of that shape without dim 1.
inline void check_scores_and_labels(const InferContext& c, const char* scores, const char* classes) {
  c.expect_float(0);
  const Shape& shape = c.shape(0);
  if (shape.size() < 2)
    c.fail(scores, " (input 0) must be [N,", classes, "] or [N,", classes, ",d1,...], got shape ", to_string(shape));
  if (shape[0] < 1 || shape[1] < 1)
    c.fail(scores, " (input 0) need N >= 1 and ", classes, " >= 1, got shape ", to_string(shape));
  if (c.dtype(1) != DType::i64) c.fail("labels (input 1) must be i64, got ", dtype_name(c.dtype(1)));
  Shape want = shape;
  want.erase(want.begin() + 1);
  if (c.shape(1) != want)
    c.fail("labels (input 1) must have shape ", to_string(want), " to match the batch of ", scores, " ", to_string(shape),
           ", got ", to_string(c.shape(1)));
}

// The shape rule of both softmax_cross_entropy ops: logits [N,K,...], labels, label_smoothing in [0, 1].
inline void check_logits_labels(const InferContext& c, const CrossEntropyAttrs& a) {
  if (!(a.label_smoothing >= 0 && a.label_smoothing <= 1))
    c.fail("attribute 'label_smoothing' = ", a.label_smoothing, " is outside [0, 1]");
  check_scores_and_labels(c, "logits", "K");
}

// Checks every label is a class index in [0, classes) or ignore_index, in order so the error names
// the first bad one. Returns how many labels count (are not ignored).
inline std::int64_t check_labels(const KernelContext& k, const Tensor& labels, const ClassLines& lines, std::int64_t ignore_index) {
  const std::int64_t* l = labels.data<std::int64_t>().data();
  std::int64_t kept = 0;
  for (std::int64_t r = 0; r < labels.numel(); ++r) {
    if (l[r] == ignore_index) continue;
    ++kept;
    if (l[r] >= 0 && l[r] < lines.classes) continue;
    if (lines.inner == 1)
      fail("op '", k.node().op, "' node '", k.node().name, "': label ", l[r], " at batch row ", r, " is outside the classes [0, ",
           lines.classes, ") and is not ignore_index ", ignore_index);
    fail("op '", k.node().op, "' node '", k.node().name, "': label ", l[r], " at batch row ", r / lines.inner, ", position ",
         r % lines.inner, " is outside the classes [0, ", lines.classes, ") and is not ignore_index ", ignore_index);
  }
  return kept;
}

// The max of a line of logits and sum(exp(x - max)), in double: the softmax of the line is
// exp(x - top) / total and -log softmax is (top - x) + log(total), exact for logits of magnitude 1e4.
template <class T> void line_softmax_stats(const T* x, std::int64_t classes, std::int64_t stride, double& top, double& total) {
  top = x[0];
  for (std::int64_t j = 1; j < classes; ++j) top = std::max(top, static_cast<double>(x[j * stride]));
  total = 0;
  for (std::int64_t j = 0; j < classes; ++j) total += std::exp(x[j * stride] - top);
}

// The count the mean loss of a data-parallel step divides by (graph/batch_slice.h): the labels kept
// in the global batch. With a combiner the slices' counts are combined; without one, a slice of a
// larger batch (gradient accumulation) cannot see the other slices' ignored labels, so it takes
// the global batch's label count and refuses a slice with ignored labels.
inline double global_label_count(const KernelContext& k, std::int64_t kept, const ClassLines& lines) {
  const BatchSlice& slice = k.batch_slice();
  if (slice.combiner) {
    double count[1] = {static_cast<double>(kept)};
    slice.combiner->combine(std::span<double>(count));
    return count[0];
  }
  if (slice.global_batch <= 0 || slice.global_batch == lines.batch) return static_cast<double>(kept);
  if (kept != lines.lines())
    fail("op '", k.node().op, "' node '", k.node().name, "': ", lines.lines() - kept,
         " labels are ignore_index in a slice of a larger batch without a combiner; the mean loss needs the global count");
  return static_cast<double>(slice.global_batch * lines.inner);
}

}  // namespace dagrad::kernels
