#pragma once
// Shared pieces of the pooling ops (NCHW; the 1-D op views [N,C,L] as [N,C,1,L]): the attribute
// structs, the per-dim shape rule (PyTorch's, with ceil_mode and dilation), the window geometry,
// the argmax with its tie rule and average pooling's divisor. The forward and backward ops must
// agree on all of these, so they live here once.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "graph/op.h"
#include "ops/kernels/parallel.h"

namespace dagrad::kernels {

using Int2 = std::array<std::int64_t, 2>;

// Attributes of max_pool2d, max_pool2d_with_indices and max_pool2d_grad. Files written before
// dilation and ceil_mode existed load with the defaults, which are the old behaviour.
struct MaxPool2dAttrs {
  Int2 window{0, 0};
  Int2 stride{0, 0};
  Int2 pad{0, 0};
  Int2 dilation{1, 1};
  bool ceil_mode = false;
  template <class V> void fields(V& v) {
    v.required("window", window);
    v.required("stride", stride);
    v("pad", pad);
    v("dilation", dilation);
    v("ceil_mode", ceil_mode);
  }
};

// Attributes of max_pool2d_with_indices_grad: the forward's, and the pooled x's height and width.
struct MaxPoolIndicesGradAttrs : MaxPool2dAttrs {
  Int2 input_size{0, 0};  // dx takes it
  template <class V> void fields(V& v) {
    MaxPool2dAttrs::fields(v);
    v.required("input_size", input_size);
  }
};

// Attributes of avg_pool2d. count_include_pad = true (the default) is the old behaviour.
struct AvgPool2dAttrs {
  Int2 window{0, 0};
  Int2 stride{0, 0};
  Int2 pad{0, 0};
  bool ceil_mode = false;
  bool count_include_pad = true;
  template <class V> void fields(V& v) {
    v.required("window", window);
    v.required("stride", stride);
    v("pad", pad);
    v("ceil_mode", ceil_mode);
    v("count_include_pad", count_include_pad);
  }
};

// Attributes of avg_pool2d_grad: the forward's, and the pooled x's shape.
struct AvgPool2dGradAttrs : AvgPool2dAttrs {
  std::vector<std::int64_t> x_shape;
  template <class V> void fields(V& v) {
    v.required("x_shape", x_shape);
    AvgPool2dAttrs::fields(v);
  }
  const AvgPool2dAttrs& forward() const { return *this; }
};

// The shape rule of global_avg_pool and global_max_pool: a float NCHW x with a non-empty plane -> [N,C].
inline std::vector<TensorType> global_pool_infer(InferContext& c) {
  c.expect_rank(0, 4);
  c.expect_float(0);
  const Shape& x = c.shape(0);
  if (x[2] == 0 || x[3] == 0) c.fail("spatial dims height ", x[2], " x width ", x[3], " must not be empty");
  return std::vector{TensorType{c.dtype(0), {x[0], x[1]}}};
}

// One spatial dim of a pooling window.
struct PoolDim {
  std::int64_t window = 0, stride = 0, pad = 0, dilation = 1;
  bool ceil_mode = false;
  // Each window must hold a real cell: max pooling (a window of padding has no maximum) and
  // average pooling without the padding in the divisor (it would divide by zero).
  bool needs_real_cell = true;
};

// Fails unless each of the `out` windows of one dim holds a cell of [0, in). Window o reads
// o * stride - pad + j * dilation for j < window. Constant work for any attribute values, since a
// file can hold any: windows left of the input reach furthest left at o = 0, those at or right of
// it start past it from some o on, and a dilation wider than the input can step over it, which
// repeats with period dilation / gcd(stride, dilation) along the windows left of it.
inline void check_windows_cover_input(const InferContext& c, const char* dim, std::int64_t in, const PoolDim& d,
                                      std::int64_t out) {
  auto uncovered = [&](std::int64_t o) {
    c.fail(dim, " pad ", d.pad, " leaves output ", o, "'s window (", dim, " window ", d.window, ", stride ", d.stride,
           ", dilation ", d.dilation, ") with no cell inside the input ", dim, " ", in,
           "; every window must cover at least one input cell");
  };
  if ((d.window - 1) * d.dilation < d.pad) uncovered(0);
  if ((out - 1) * d.stride - d.pad >= in) uncovered((in + d.pad - 1) / d.stride + 1);  // the first start >= in
  if (d.dilation <= in || d.window == 1) return;
  // Left of the input, a window's first cell at or right of 0 is at start mod dilation, which must be < in.
  const std::int64_t left_windows = d.pad == 0 ? 0 : std::min(out, (d.pad - 1) / d.stride + 1);
  const std::int64_t g = std::gcd(d.stride, d.dilation), period = d.dilation / g;
  if (std::min(left_windows, period) <= (std::int64_t{1} << 20)) {
    for (std::int64_t o = 0; o < std::min(left_windows, period); ++o) {
      const std::int64_t start = o * d.stride - d.pad;  // < 0
      if ((start % d.dilation + d.dilation) % d.dilation >= in) uncovered(o);
    }
    return;
  }
  // Over a million windows left of the input (absurd sizes): checked as if they took every offset
  // congruent to -pad mod g, which is exact once they span a period and otherwise only stricter.
  const std::int64_t largest = d.dilation - g + ((-d.pad) % g + g) % g;
  if (largest >= in)
    c.fail(dim, " dilation ", d.dilation, " steps over the input ", dim, " ", in, " from windows in the padding (pad ",
           d.pad, ", stride ", d.stride, ", window ", d.window, "); every window must cover at least one input cell");
}

// Checks one spatial dim ("height", "width", "length") and returns its output extent:
// floor or ceil of (in + 2 pad - dilation (window - 1) - 1) / stride, plus 1; with ceil_mode the
// last window must start inside the input or the left padding (PyTorch's rule). Padding may
// exceed half the window (ONNX allows any) as long as every window that needs a real cell has one.
inline std::int64_t pool_output_extent(const InferContext& c, const char* dim, std::int64_t in, const PoolDim& d) {
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  if (d.window <= 0) c.fail(dim, " window ", d.window, " must be positive");
  if (d.stride <= 0) c.fail(dim, " stride ", d.stride, " must be positive");
  if (d.dilation <= 0) c.fail(dim, " dilation ", d.dilation, " must be positive");
  if (d.pad < 0) c.fail(dim, " pad ", d.pad, " must not be negative");
  if (d.window - 1 > (kMax - 1) / d.dilation)
    c.fail(dim, " window ", d.window, " with dilation ", d.dilation, " is too large");
  if (d.pad > (kMax - in) / 2) c.fail(dim, " pad ", d.pad, " is too large for the input ", dim, " ", in);
  const std::int64_t extent = d.dilation * (d.window - 1) + 1, padded = in + 2 * d.pad;
  if (extent > padded) {
    if (d.dilation == 1)
      c.fail(dim, " window ", d.window, " is larger than the padded input ", dim, " (", in, " + 2 * pad ", d.pad, ")");
    c.fail(dim, " window ", d.window, " with dilation ", d.dilation, " spans ", extent, ", more than the padded input ",
           dim, " (", in, " + 2 * pad ", d.pad, ")");
  }
  const std::int64_t room = padded - extent;  // >= 0
  std::int64_t out = room / d.stride + 1;
  // The last window starts at (out - 1) * stride - pad, which must be < in: (out - 1) * stride <
  // in + pad, written so it cannot overflow (in + pad >= 1 since extent >= 1).
  if (d.ceil_mode && room % d.stride != 0 && out <= (in + d.pad - 1) / d.stride) ++out;
  if (d.needs_real_cell) check_windows_cover_input(c, dim, in, d, out);
  return out;
}

// [N,C,H,W] -> [N,C,OH,OW], with every check naming the offending dim.
inline Shape pool2d_output_shape(const InferContext& c, const Shape& x, const PoolDim& h, const PoolDim& w) {
  return {x[0], x[1], pool_output_extent(c, "height", x[2], h), pool_output_extent(c, "width", x[3], w)};
}
inline Shape pool2d_output_shape(const InferContext& c, const Shape& x, const MaxPool2dAttrs& a) {
  return pool2d_output_shape(c, x, {a.window[0], a.stride[0], a.pad[0], a.dilation[0], a.ceil_mode, true},
                             {a.window[1], a.stride[1], a.pad[1], a.dilation[1], a.ceil_mode, true});
}
inline Shape pool2d_output_shape(const InferContext& c, const Shape& x, const AvgPool2dAttrs& a) {
  const bool needs = !a.count_include_pad;
  return pool2d_output_shape(c, x, {a.window[0], a.stride[0], a.pad[0], 1, a.ceil_mode, needs},
                             {a.window[1], a.stride[1], a.pad[1], 1, a.ceil_mode, needs});
}

// The shape rule of the 2-D pooling ops: a float NCHW input, pooled spatially.
template <class A> Shape pool2d_infer(const A& a, InferContext& c) {
  c.expect_rank(0, 4);
  c.expect_float(0);
  return pool2d_output_shape(c, c.shape(0), a);
}

// The examples every 2-D pooling op is checked on: square, padded and rectangular windows, a
// stride that leaves a partial last window (ceil_mode), and a pad larger than half the window.
// min_abs keeps max pooling's inputs away from ties.
inline std::vector<OpExample> pool2d_examples(double min_abs = 0) {
  using Ints = std::vector<std::int64_t>;
  return {{.label = "k2s2", .attrs = {{"window", Ints{2, 2}}, {"stride", Ints{2, 2}}}, .inputs = {{.shape = {2, 3, 4, 4}, .min_abs = min_abs}}},
          {.label = "k3s2p1",
           .attrs = {{"window", Ints{3, 3}}, {"stride", Ints{2, 2}}, {"pad", Ints{1, 1}}},
           .inputs = {{.shape = {1, 2, 5, 6}, .min_abs = min_abs}}},
          {.label = "rect_k2x3_s1x2_p1",
           .attrs = {{"window", Ints{2, 3}}, {"stride", Ints{1, 2}}, {"pad", Ints{1, 1}}},
           .inputs = {{.shape = {2, 2, 3, 7}, .min_abs = min_abs}}},
          // 7 rows: floor gives 3 windows, ceil a 4th that starts on the last row and runs past the input.
          {.label = "ceil_k2s2",
           .attrs = {{"window", Ints{2, 2}}, {"stride", Ints{2, 2}}, {"ceil_mode", true}},
           .inputs = {{.shape = {1, 2, 7, 5}, .min_abs = min_abs}}},
          // Padded and ceil: the last window runs past input + padding on the right.
          {.label = "ceil_k3s2p1",
           .attrs = {{"window", Ints{3, 3}}, {"stride", Ints{2, 2}}, {"pad", Ints{1, 1}}, {"ceil_mode", true}},
           .inputs = {{.shape = {2, 1, 6, 8}, .min_abs = min_abs}}},
          // pad 2 > window 3 / 2 (PyTorch refuses it); every window still covers an input cell.
          {.label = "big_pad_k3s1p2",
           .attrs = {{"window", Ints{3, 2}}, {"stride", Ints{1, 1}}, {"pad", Ints{2, 1}}},
           .inputs = {{.shape = {1, 2, 4, 3}, .min_abs = min_abs}}}};
}

// Examples only max pooling has: dilation, alone and with padding and ceil_mode.
inline std::vector<OpExample> max_pool2d_examples() {
  using Ints = std::vector<std::int64_t>;
  std::vector<OpExample> examples = pool2d_examples(0.05);
  examples.push_back({.label = "dilation2",
                      .attrs = {{"window", Ints{2, 3}}, {"stride", Ints{1, 2}}, {"dilation", Ints{2, 2}}},
                      .inputs = {{.shape = {2, 2, 5, 9}, .min_abs = 0.05}}});
  examples.push_back({.label = "dilation2_p2_ceil",
                      .attrs = {{"window", Ints{3, 3}}, {"stride", Ints{2, 4}}, {"pad", Ints{2, 1}},
                                {"dilation", Ints{2, 2}}, {"ceil_mode", true}},
                      .inputs = {{.shape = {1, 3, 8, 9}, .min_abs = 0.05}}});
  return examples;
}

// Examples only average pooling has: the divisor without the padding.
inline std::vector<OpExample> avg_pool2d_examples() {
  using Ints = std::vector<std::int64_t>;
  std::vector<OpExample> examples = pool2d_examples();
  examples.push_back({.label = "exclude_pad_k3s2p1",
                      .attrs = {{"window", Ints{3, 3}}, {"stride", Ints{2, 2}}, {"pad", Ints{1, 1}}, {"count_include_pad", false}},
                      .inputs = {{.shape = {2, 2, 5, 6}}}});
  examples.push_back({.label = "exclude_pad_ceil_k3s2p1",
                      .attrs = {{"window", Ints{3, 2}}, {"stride", Ints{2, 2}}, {"pad", Ints{1, 1}},
                                {"ceil_mode", true}, {"count_include_pad", false}},
                      .inputs = {{.shape = {1, 3, 6, 5}}}});
  // Windows of padding only: they average to 0 (the padding counts, so nothing divides by zero).
  examples.push_back({.label = "include_pad_k2s1p2",
                      .attrs = {{"window", Ints{2, 2}}, {"stride", Ints{1, 1}}, {"pad", Ints{2, 2}}},
                      .inputs = {{.shape = {1, 2, 3, 3}}}});
  return examples;
}

// Window geometry of one (n, c) plane; the kernels loop over planes.
struct PoolGeometry {
  std::int64_t planes = 0;  // N * C
  std::int64_t in_h = 0, in_w = 0, out_h = 0, out_w = 0;
  Int2 window{}, stride{}, pad{}, dilation{1, 1};

  std::int64_t in_plane() const { return in_h * in_w; }
  std::int64_t out_plane() const { return out_h * out_w; }
  // Chunks of whole planes sized by the work in them, independent of the thread count.
  std::int64_t plane_grain() const {
    std::int64_t work = std::max<std::int64_t>(1, out_plane() * window[0] * window[1]);
    return std::max<std::int64_t>(1, kElementwiseGrain / work);
  }
};

inline PoolGeometry pool_geometry(const Shape& x, const Shape& y, const Int2& window, const Int2& stride,
                                  const Int2& pad, const Int2& dilation = {1, 1}) {
  return {.planes = x[0] * x[1], .in_h = x[2], .in_w = x[3], .out_h = y[2], .out_w = y[3],
          .window = window, .stride = stride, .pad = pad, .dilation = dilation};
}

// Index within the plane of the maximum of output cell (oh, ow)'s window, or -1 if the window has
// no real cell. Padded cells never win. Ties: the first maximum in row-major window order; a NaN
// wins over numbers so it propagates.
template <class T>
std::int64_t window_argmax(const T* plane, const PoolGeometry& g, std::int64_t oh, std::int64_t ow) {
  const std::int64_t top = oh * g.stride[0] - g.pad[0], left = ow * g.stride[1] - g.pad[1];
  const std::int64_t dh = g.dilation[0], dw = g.dilation[1];
  if (top >= 0 && left >= 0 && top + (g.window[0] - 1) * dh < g.in_h && left + (g.window[1] - 1) * dw < g.in_w) {
    // The whole window is inside the plane (the common case): the same rule without bounds tests.
    std::int64_t best_at = top * g.in_w + left;
    T best = plane[best_at];
    for (std::int64_t kh = 0; kh < g.window[0]; ++kh) {
      const std::int64_t row = (top + kh * dh) * g.in_w + left;
      for (std::int64_t kw = 0; kw < g.window[1]; ++kw) {
        const T v = plane[row + kw * dw];
        if (v > best || (std::isnan(v) && !std::isnan(best))) best = v, best_at = row + kw * dw;
      }
    }
    return best_at;
  }
  std::int64_t best_at = -1;
  T best = -std::numeric_limits<T>::infinity();
  for (std::int64_t kh = 0; kh < g.window[0]; ++kh) {
    std::int64_t ih = top + kh * dh;
    if (ih < 0 || ih >= g.in_h) continue;
    for (std::int64_t kw = 0; kw < g.window[1]; ++kw) {
      std::int64_t iw = left + kw * dw;
      if (iw < 0 || iw >= g.in_w) continue;
      T v = plane[ih * g.in_w + iw];
      bool nan_over_number = std::isnan(v) && (best_at < 0 || !std::isnan(best));
      if (best_at < 0 || v > best || nan_over_number) best = v, best_at = ih * g.in_w + iw;
    }
  }
  return best_at;
}

// The real cells [h0, h1) x [w0, w1) of average pooling's window (oh, ow) and its divisor:
// PyTorch's rule, where the padding counts only as far as the padded input reaches (a ceil_mode
// window that runs past it divides by fewer cells), or not at all without count_include_pad.
struct AvgWindow {
  std::int64_t h0, h1, w0, w1, divisor;
};
inline AvgWindow avg_window(const PoolGeometry& g, bool count_include_pad, std::int64_t oh, std::int64_t ow) {
  std::int64_t h0 = oh * g.stride[0] - g.pad[0], w0 = ow * g.stride[1] - g.pad[1];
  std::int64_t h1 = std::min(h0 + g.window[0], g.in_h + g.pad[0]), w1 = std::min(w0 + g.window[1], g.in_w + g.pad[1]);
  const std::int64_t padded_cells = (h1 - h0) * (w1 - w0);
  h0 = std::max<std::int64_t>(h0, 0), w0 = std::max<std::int64_t>(w0, 0);
  h1 = std::min(h1, g.in_h), w1 = std::min(w1, g.in_w);
  // A window wholly in the padding has h1 <= h0 (or w1 <= w0): no real cells.
  const std::int64_t real_cells = std::max<std::int64_t>(0, h1 - h0) * std::max<std::int64_t>(0, w1 - w0);
  return {h0, h1, w0, w1, count_include_pad ? padded_cells : real_cells};
}

// Adaptive pooling's windows along one dim (PyTorch's rule): output i of `out` covers input cells
// [floor(i * in / out), ceil((i + 1) * in / out)), never empty when in > 0. 128-bit products, so
// no pair of dims overflows.
struct AdaptiveRange {
  std::int64_t begin, end;
};
inline std::vector<AdaptiveRange> adaptive_ranges(std::int64_t in, std::int64_t out) {
  std::vector<AdaptiveRange> ranges(static_cast<std::size_t>(out));
  for (std::int64_t i = 0; i < out; ++i) {
    const __int128 lo = static_cast<__int128>(i) * in, hi = static_cast<__int128>(i + 1) * in;
    ranges[static_cast<std::size_t>(i)] = {static_cast<std::int64_t>(lo / out), static_cast<std::int64_t>((hi + out - 1) / out)};
  }
  return ranges;
}

// Attributes of adaptive_avg_pool2d_grad: the pooled x's height and width (dy gives the rest).
struct AdaptiveAvgPool2dGradAttrs {
  Int2 input_size{0, 0};
  template <class V> void fields(V& v) { v.required("input_size", input_size); }
};

// The shape rule of adaptive_avg_pool2d and its gradient: the named output size of a float NCHW x.
inline Shape adaptive_pool2d_output_shape(const InferContext& c, const Shape& x, const Int2& output_size) {
  if (output_size[0] <= 0 || output_size[1] <= 0)
    c.fail("output_size ", output_size[0], "x", output_size[1], " must be positive");
  if (x[2] == 0 || x[3] == 0)
    c.fail("input height ", x[2], " x width ", x[3], " must not be empty (every window needs a cell)");
  return {x[0], x[1], output_size[0], output_size[1]};
}

}  // namespace dagrad::kernels
