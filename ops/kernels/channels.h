#pragma once
// Per-channel layout of [N,C] and [N,C,H,W] tensors, shared by batch_norm and batch_norm_grad.
#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <vector>

#include "graph/op.h"
#include "ops/kernels/batch_groups.h"
#include "ops/kernels/parallel.h"

namespace dagrad::kernels {

struct ChannelLayout {
  std::int64_t batch = 0;     // N
  std::int64_t channels = 0;  // C
  std::int64_t inner = 1;     // H*W (1 for [N,C])
  std::int64_t per_channel() const { return batch * inner; }  // elements reduced per channel
  // Offset of element (n, c, 0): the inner elements follow contiguously.
  std::int64_t offset(std::int64_t n, std::int64_t c) const { return (n * channels + c) * inner; }
};

inline ChannelLayout channel_layout(const Shape& shape) {
  ChannelLayout l{shape.at(0), shape.at(1), 1};
  for (std::size_t i = 2; i < shape.size(); ++i) l.inner *= shape[i];
  return l;
}

// Checks that input `x` is a float [N,C] or [N,C,H,W] tensor and every input in `per_channel`
// is a [C] vector of the same dtype; fails naming the offending input and dims.
inline ChannelLayout check_channel_inputs(const InferContext& c, int x, std::initializer_list<int> per_channel,
                                          std::initializer_list<const char*> names) {
  c.expect_float(x);
  const Shape& xs = c.shape(x);
  if (xs.size() != 2 && xs.size() != 4)
    c.fail("input ", x, " must be [N,C] or [N,C,H,W], got rank ", xs.size(), " shape ", to_string(xs));
  const std::int64_t channels = xs[1];
  const char* const* name = names.begin();
  for (int i : per_channel) {
    const char* label = name != names.end() ? *name++ : "input";
    if (c.shape(i) != Shape{channels})
      c.fail(label, " (input ", i, ") must have shape [", channels, "] to match the channel count C = ", channels,
             " of x ", to_string(xs), ", got ", to_string(c.shape(i)));
    c.expect_same_dtype(x, i);
  }
  return channel_layout(xs);
}

// K per-channel sums over the batch in the canonical order (batch_groups.h): for channel c,
// term(n, c, acc) adds image n's K terms to acc[0 .. K); a group's partials start at 0 and take its
// images in order, and the groups' partials are combined in the fixed tree, in double into
// sums[k * C + c] and, when `own` is not null, also in T (each group's partial rounded to T first)
// into own[k * C + c]: the form a parameter gradient leaves a run in, so that the trainer's tree
// over the slices' T values gives the whole batch's bits. Parallel over channels.
template <int K, class T, class Term>
void canonical_sums_of_channel(const ChannelLayout& l, std::int64_t c, double* sums, T* const* own, const Term& term) {
  const std::int64_t groups = batch_groups(l.batch);
  thread_local std::vector<double> partials;
  thread_local std::vector<T> rounded;
  partials.assign(static_cast<std::size_t>(std::max<std::int64_t>(1, groups) * K), 0.0);
  for (std::int64_t g = 0; g < groups; ++g) {
    double* acc = partials.data() + g * K;
    const std::int64_t last = std::min(l.batch, (g + 1) * kImagesPerGroup);
    for (std::int64_t n = g * kImagesPerGroup; n < last; ++n) term(n, c, acc);
  }
  if (own) {
    rounded.resize(partials.size());
    for (std::size_t i = 0; i < partials.size(); ++i) rounded[i] = static_cast<T>(partials[i]);
    tree_combine(rounded.data(), groups, K, K);
    for (int k = 0; k < K; ++k) own[k][c] = rounded[static_cast<std::size_t>(k)];
  }
  tree_combine(partials.data(), groups, K, K);
  for (int k = 0; k < K; ++k) sums[k * l.channels + c] = partials[static_cast<std::size_t>(k)];
}

// The same for every channel, in parallel over channels; finish(c), when given, runs right after
// channel c's sums are stored, in the same chunk, while the channel's data is still in cache (a
// kernel whose sums need no combining finishes the channel there instead of in a second pass).
struct NoChannelFinish {
  void operator()(std::int64_t) const {}
};
template <int K, class T, class Term, class Finish = NoChannelFinish>
void canonical_channel_sums(const ChannelLayout& l, double* sums, T* const* own, const Term& term, const Finish& finish = {}) {
  const std::int64_t grain = std::max<std::int64_t>(1, kElementwiseGrain / std::max<std::int64_t>(1, l.per_channel()));
  parallel_chunks(l.channels, grain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t c = begin; c < end; ++c) {
      canonical_sums_of_channel<K, T>(l, c, sums, own, term);
      finish(c);
    }
  });
}

}  // namespace dagrad::kernels
