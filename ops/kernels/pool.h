#pragma once
// Shared pieces of the pooling ops (NCHW; the 1-D op views [N,C,L] as [N,C,1,L]): the attribute
// struct, the per-dim shape checks, the window geometry and the argmax with its tie rule. The
// forward and backward ops must agree on the argmax, so it lives here once.
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "graph/op.h"
#include "ops/kernels/parallel.h"

namespace dagrad::kernels {

using Int2 = std::array<std::int64_t, 2>;

// Attributes of max_pool2d, max_pool2d_grad and avg_pool2d.
struct Pool2dAttrs {
  Int2 window{0, 0};
  Int2 stride{0, 0};
  Int2 pad{0, 0};
  template <class V> void fields(V& v) {
    v.required("window", window);
    v.required("stride", stride);
    v("pad", pad);
  }
};

// Checks one spatial dim ("height", "width", "length") and returns its output extent.
inline std::int64_t pool_output_extent(const InferContext& c, const char* dim, std::int64_t in, std::int64_t window,
                                       std::int64_t stride, std::int64_t pad) {
  if (window <= 0) c.fail(dim, " window ", window, " must be positive");
  if (stride <= 0) c.fail(dim, " stride ", stride, " must be positive");
  if (pad < 0) c.fail(dim, " pad ", pad, " must not be negative");
  // PyTorch's rule: pad * 2 <= window, so every window holds at least one real cell.
  if (pad > window / 2) c.fail(dim, " pad ", pad, " must be at most half the ", dim, " window ", window);
  // window > in + 2 * pad, written so it cannot overflow.
  if (window - 2 * pad > in)
    c.fail(dim, " window ", window, " is larger than the padded input ", dim, " (", in, " + 2 * pad ", pad, ")");
  return (in - (window - 2 * pad)) / stride + 1;
}

// [N,C,H,W] -> [N,C,OH,OW], with every check naming the offending dim.
inline Shape pool2d_output_shape(const InferContext& c, const Shape& x, const Int2& window, const Int2& stride,
                                 const Int2& pad) {
  return {x[0], x[1], pool_output_extent(c, "height", x[2], window[0], stride[0], pad[0]),
          pool_output_extent(c, "width", x[3], window[1], stride[1], pad[1])};
}

// The shape rule of the 2-D pooling ops: a float NCHW input, pooled spatially.
inline Shape pool2d_infer(const Pool2dAttrs& a, InferContext& c) {
  c.expect_rank(0, 4);
  c.expect_float(0);
  return pool2d_output_shape(c, c.shape(0), a.window, a.stride, a.pad);
}

// The examples every 2-D pooling op is checked on: square, padded and rectangular windows.
// min_abs keeps max pooling's inputs away from ties.
inline std::vector<OpExample> pool2d_examples(double min_abs = 0) {
  using Ints = std::vector<std::int64_t>;
  return {{.label = "k2s2", .attrs = {{"window", Ints{2, 2}}, {"stride", Ints{2, 2}}}, .inputs = {{.shape = {2, 3, 4, 4}, .min_abs = min_abs}}},
          {.label = "k3s2p1",
           .attrs = {{"window", Ints{3, 3}}, {"stride", Ints{2, 2}}, {"pad", Ints{1, 1}}},
           .inputs = {{.shape = {1, 2, 5, 6}, .min_abs = min_abs}}},
          {.label = "rect_k2x3_s1x2_p1",
           .attrs = {{"window", Ints{2, 3}}, {"stride", Ints{1, 2}}, {"pad", Ints{1, 1}}},
           .inputs = {{.shape = {2, 2, 3, 7}, .min_abs = min_abs}}}};
}

// Window geometry of one (n, c) plane; the kernels loop over planes.
struct PoolGeometry {
  std::int64_t planes = 0;  // N * C
  std::int64_t in_h = 0, in_w = 0, out_h = 0, out_w = 0;
  Int2 window{}, stride{}, pad{};

  std::int64_t in_plane() const { return in_h * in_w; }
  std::int64_t out_plane() const { return out_h * out_w; }
  // Chunks of whole planes sized by the work in them, independent of the thread count.
  std::int64_t plane_grain() const {
    std::int64_t work = std::max<std::int64_t>(1, out_plane() * window[0] * window[1]);
    return std::max<std::int64_t>(1, kElementwiseGrain / work);
  }
};

inline PoolGeometry pool_geometry(const Shape& x, const Shape& y, const Int2& window, const Int2& stride,
                                  const Int2& pad) {
  return {.planes = x[0] * x[1], .in_h = x[2], .in_w = x[3], .out_h = y[2], .out_w = y[3],
          .window = window, .stride = stride, .pad = pad};
}

// Index within the plane of the maximum of output cell (oh, ow)'s window, or -1 if the window has
// no real cell. Padded cells never win. Ties: the first maximum in row-major window order; a NaN
// wins over numbers so it propagates.
template <class T>
std::int64_t window_argmax(const T* plane, const PoolGeometry& g, std::int64_t oh, std::int64_t ow) {
  const std::int64_t top = oh * g.stride[0] - g.pad[0], left = ow * g.stride[1] - g.pad[1];
  if (top >= 0 && left >= 0 && top + g.window[0] <= g.in_h && left + g.window[1] <= g.in_w) {
    // The whole window is inside the plane (the common case): the same rule without bounds tests.
    std::int64_t best_at = top * g.in_w + left;
    T best = plane[best_at];
    for (std::int64_t kh = 0; kh < g.window[0]; ++kh) {
      const T* row = plane + (top + kh) * g.in_w + left;
      for (std::int64_t kw = 0; kw < g.window[1]; ++kw) {
        const T v = row[kw];
        if (v > best || (std::isnan(v) && !std::isnan(best))) best = v, best_at = (top + kh) * g.in_w + left + kw;
      }
    }
    return best_at;
  }
  std::int64_t best_at = -1;
  T best = -std::numeric_limits<T>::infinity();
  for (std::int64_t kh = 0; kh < g.window[0]; ++kh) {
    std::int64_t ih = oh * g.stride[0] - g.pad[0] + kh;
    if (ih < 0 || ih >= g.in_h) continue;
    for (std::int64_t kw = 0; kw < g.window[1]; ++kw) {
      std::int64_t iw = ow * g.stride[1] - g.pad[1] + kw;
      if (iw < 0 || iw >= g.in_w) continue;
      T v = plane[ih * g.in_w + iw];
      bool nan_over_number = std::isnan(v) && (best_at < 0 || !std::isnan(best));
      if (best_at < 0 || v > best || nan_over_number) best = v, best_at = ih * g.in_w + iw;
    }
  }
  return best_at;
}

}  // namespace dagrad::kernels
