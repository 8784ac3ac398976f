#pragma once
// Per-channel layout of [N,C] and [N,C,H,W] tensors, shared by batch_norm and batch_norm_grad.
#include <cstdint>
#include <initializer_list>

#include "graph/op.h"

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

}  // namespace dagrad::kernels
