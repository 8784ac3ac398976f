// The depthwise 3x3 kernels (ops/kernels/conv_depthwise.cc) against plain loops written from the
// definition. The forward one: a float64 reference within a tolerance, and a loop summing the taps
// in the kernel's documented order, which its vector and plain paths must match bitwise. The
// gradient kernels: a float64 scatter. Geometries cover strides, symmetric and asymmetric pads (up
// to whole padded rows), dilation, channel multipliers, widths around the vector width, and 1x1 or
// tiny planes.
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "ops/kernels/conv_depthwise.h"

namespace dagrad::kernels {
namespace {

struct Case {
  std::int64_t n, c, h, w, multiplier;
  std::int64_t sh, sw, top, bottom, left, right, dh, dw;
};

std::string case_name(const Case& k) {
  auto s = [](std::int64_t v) { return std::to_string(v); };
  return "n" + s(k.n) + " c" + s(k.c) + " " + s(k.h) + "x" + s(k.w) + " m" + s(k.multiplier) + " stride " + s(k.sh) +
         "," + s(k.sw) + " pad " + s(k.top) + "," + s(k.bottom) + "," + s(k.left) + "," + s(k.right) + " dilation " +
         s(k.dh) + "," + s(k.dw);
}

// The geometry conv_geometry would give, built by hand; oh or ow < 1 means the case is invalid.
ConvGeometry geometry(const Case& k) {
  ConvGeometry g;
  g.n = k.n, g.c = k.c, g.h = k.h, g.w = k.w;
  g.f = k.c * k.multiplier, g.kh = 3, g.kw = 3, g.groups = k.c;
  g.sh = k.sh, g.sw = k.sw, g.ph = k.top, g.ph_end = k.bottom, g.pw = k.left, g.pw_end = k.right, g.dh = k.dh, g.dw = k.dw;
  const std::int64_t span_h = k.h + k.top + k.bottom - 2 * k.dh - 1, span_w = k.w + k.left + k.right - 2 * k.dw - 1;
  g.oh = span_h < 0 ? 0 : span_h / k.sh + 1;
  g.ow = span_w < 0 ? 0 : span_w / k.sw + 1;
  return g;
}

std::vector<double> values(std::int64_t count, std::uint32_t seed) {
  std::vector<double> v(static_cast<std::size_t>(count));
  for (auto& x : v) {
    seed = seed * 1664525u + 1013904223u;
    x = static_cast<double>(seed >> 8) / 8388608.0 - 1.0;
  }
  return v;
}

template <class T> std::vector<T> as(const std::vector<double>& v) { return std::vector<T>(v.begin(), v.end()); }

// Inputs of one case, drawn in [-1, 1); the epilogue's scale and shift too.
struct Data {
  ConvGeometry g;
  std::vector<double> x, w, bias, scale, shift;
};

Data data(const Case& k, std::uint32_t seed) {
  Data d{geometry(k), {}, {}, {}, {}, {}};
  const ConvGeometry& g = d.g;
  d.x = values(g.n * g.c * g.h * g.w, seed);
  d.w = values(g.f * 9, seed + 1);
  d.bias = values(g.f, seed + 2);
  d.scale = values(g.f, seed + 3);
  d.shift = values(g.f, seed + 4);
  return d;
}

// Input value under tap (i, j) of output (oy, ox) of filter f, image n: 0 in the padding.
template <class V>
V tap(const ConvGeometry& g, const std::vector<V>& x, std::int64_t n, std::int64_t f, std::int64_t oy, std::int64_t ox,
      int i, int j) {
  const std::int64_t c = f / (g.f / g.c), iy = oy * g.sh - g.ph + i * g.dh, ix = ox * g.sw - g.pw + j * g.dw;
  if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) return V(0);
  return x[static_cast<std::size_t>(((n * g.c + c) * g.h + iy) * g.w + ix)];
}

// The float64 definition, and per output the magnitude the rounding error scales with.
void reference(const Data& d, bool bias, bool epilogue, bool relu, std::vector<double>& y, std::vector<double>& size) {
  const ConvGeometry& g = d.g;
  y.assign(static_cast<std::size_t>(g.n * g.f * g.oh * g.ow), 0.0);
  size.assign(y.size(), 0.0);
  std::size_t out = 0;
  for (std::int64_t n = 0; n < g.n; ++n)
    for (std::int64_t f = 0; f < g.f; ++f)
      for (std::int64_t oy = 0; oy < g.oh; ++oy)
        for (std::int64_t ox = 0; ox < g.ow; ++ox, ++out) {
          double sum = 0, magnitude = 0;
          for (int i = 0; i < 3; ++i)
            for (int j = 0; j < 3; ++j) {
              const double p = d.w[static_cast<std::size_t>(f * 9 + i * 3 + j)] * tap(g, d.x, n, f, oy, ox, i, j);
              sum += p;
              magnitude += std::abs(p);
            }
          if (bias) sum += d.bias[static_cast<std::size_t>(f)], magnitude += std::abs(d.bias[static_cast<std::size_t>(f)]);
          if (epilogue) {
            sum = sum * d.scale[static_cast<std::size_t>(f)] + d.shift[static_cast<std::size_t>(f)];
            magnitude = magnitude * std::abs(d.scale[static_cast<std::size_t>(f)]) + std::abs(d.shift[static_cast<std::size_t>(f)]);
            if (relu) sum = sum > 0 ? sum : 0;
          }
          y[out] = sum;
          size[out] = magnitude;
        }
}

// The kernel's documented arithmetic in T: acc = w00*x00, acc += w01*x01, ... in tap order, then
// the bias added in T, then T(double(y) * scale + shift), then relu.
template <class T>
std::vector<T> in_tap_order(const Data& d, bool bias, bool epilogue, bool relu) {
  const ConvGeometry& g = d.g;
  const std::vector<T> x = as<T>(d.x), w = as<T>(d.w), b = as<T>(d.bias);
  std::vector<T> y(static_cast<std::size_t>(g.n * g.f * g.oh * g.ow));
  std::size_t out = 0;
  for (std::int64_t n = 0; n < g.n; ++n)
    for (std::int64_t f = 0; f < g.f; ++f)
      for (std::int64_t oy = 0; oy < g.oh; ++oy)
        for (std::int64_t ox = 0; ox < g.ow; ++ox, ++out) {
          T acc = w[static_cast<std::size_t>(f * 9)] * tap(g, x, n, f, oy, ox, 0, 0);
          for (int t = 1; t < 9; ++t) acc += w[static_cast<std::size_t>(f * 9 + t)] * tap(g, x, n, f, oy, ox, t / 3, t % 3);
          if (bias) acc += b[static_cast<std::size_t>(f)];
          if (epilogue) {
            acc = static_cast<T>(acc * d.scale[static_cast<std::size_t>(f)] + d.shift[static_cast<std::size_t>(f)]);
            if (relu) acc = acc > T(0) ? acc : T(0);
          }
          y[out] = acc;
        }
  return y;
}

// Runs the kernel on poisoned output (NaN), so an output it fails to write shows.
template <class T> std::vector<T> run(const Data& d, bool bias, bool epilogue, bool relu) {
  const ConvGeometry& g = d.g;
  const std::vector<T> x = as<T>(d.x), w = as<T>(d.w), b = as<T>(d.bias);
  std::vector<T> y(static_cast<std::size_t>(g.n * g.f * g.oh * g.ow), std::numeric_limits<T>::quiet_NaN());
  const ChannelEpilogue e{.scale = d.scale.data(), .shift = d.shift.data(),
                          .activation = relu ? Activation::relu : Activation::none};
  depthwise3x3_forward<T>(g, x.data(), w.data(), bias ? b.data() : nullptr, y.data(), epilogue ? &e : nullptr);
  return y;
}

// Every combination of the geometry axes that yields at least one output.
std::vector<Case> cases() {
  struct Pads {
    std::int64_t top, bottom, left, right;
  };
  const std::int64_t heights[] = {1, 2, 5, 9};
  const std::int64_t widths[] = {1, 2, 3, 5, 15, 16, 17, 31, 32, 33, 34, 49};
  const std::int64_t strides[][2] = {{1, 1}, {2, 2}, {1, 2}, {3, 1}};
  const Pads pads[] = {{0, 0, 0, 0}, {1, 1, 1, 1}, {0, 1, 1, 0}, {2, 0, 0, 2}, {3, 3, 3, 3}};
  const std::int64_t dilations[][2] = {{1, 1}, {2, 2}, {1, 3}};
  std::vector<Case> out;
  for (std::int64_t h : heights)
    for (std::int64_t w : widths)
      for (const auto& s : strides)
        for (const Pads& p : pads)
          for (const auto& dil : dilations)
            for (std::int64_t m : {1, 2}) {
              const Case k{2, 3, h, w, m, s[0], s[1], p.top, p.bottom, p.left, p.right, dil[0], dil[1]};
              const ConvGeometry g = geometry(k);
              if (g.oh >= 1 && g.ow >= 1) out.push_back(k);
            }
  // MobileNetV2-like planes at a reduced channel count: wide rows, many full vectors.
  out.push_back({1, 4, 56, 56, 1, 1, 1, 1, 1, 1, 1, 1, 1});
  out.push_back({1, 4, 57, 113, 1, 2, 2, 1, 1, 1, 1, 1, 1});
  out.push_back({2, 3, 14, 14, 3, 2, 2, 0, 1, 0, 1, 1, 1});
  // Same-size stride-1 planes with dilation, and with the padding on one side.
  out.push_back({2, 3, 9, 9, 1, 1, 1, 2, 2, 2, 2, 2, 2});
  out.push_back({1, 2, 7, 7, 2, 1, 1, 2, 2, 2, 2, 2, 2});
  out.push_back({2, 3, 14, 14, 1, 1, 1, 0, 2, 2, 0, 1, 1});
  out.push_back({1, 2, 30, 31, 1, 1, 1, 4, 0, 0, 4, 2, 2});
  return out;
}

template <class T> void check_all_cases(double tolerance) {
  const std::vector<Case> all = cases();
  ASSERT_GT(all.size(), 2000u);  // the cross product, minus the geometries with no output
  std::uint32_t seed = 1;
  for (std::size_t index = 0; index < all.size(); ++index) {
    const Case& k = all[index];
    // Bias and epilogue (none, affine, affine + relu) rotate over the cases.
    const bool bias = index % 2 == 0, epilogue = index % 3 != 0, relu = index % 3 == 2;
    SCOPED_TRACE(case_name(k) + (bias ? " bias" : "") + (epilogue ? (relu ? " affine+relu" : " affine") : ""));
    const Data d = data(k, seed += 7);
    const std::vector<T> got = run<T>(d, bias, epilogue, relu);
    std::vector<double> want, size;
    reference(d, bias, epilogue, relu, want, size);
    const std::vector<T> ordered = in_tap_order<T>(d, bias, epilogue, relu);
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      ASSERT_NEAR(static_cast<double>(got[i]), want[i], tolerance * (1 + size[i])) << "element " << i;
      // Bitwise, including the sign of zero: the sum order is the kernel's contract.
      ASSERT_EQ(std::memcmp(&got[i], &ordered[i], sizeof(T)), 0)
          << "element " << i << ": " << got[i] << " vs the tap-order sum " << ordered[i];
    }
  }
}

TEST(DepthwiseKernel, Float32MatchesTheDefinition) { check_all_cases<float>(2e-6); }
TEST(DepthwiseKernel, Float64MatchesTheDefinition) { check_all_cases<double>(1e-14); }

// The gradients in float64 from the definition (a scatter over every output and tap), with the
// magnitudes their rounding scales with.
struct Gradients {
  std::vector<double> dy, dx, dx_size, dw, dw_size;
};

Gradients gradients(const Data& d, std::uint32_t seed) {
  const ConvGeometry& g = d.g;
  Gradients r;
  r.dy = values(g.n * g.f * g.oh * g.ow, seed);
  r.dx.assign(d.x.size(), 0.0), r.dx_size.assign(d.x.size(), 0.0);
  r.dw.assign(d.w.size(), 0.0), r.dw_size.assign(d.w.size(), 0.0);
  const std::int64_t m = g.f / g.c;
  std::size_t out = 0;
  for (std::int64_t n = 0; n < g.n; ++n)
    for (std::int64_t f = 0; f < g.f; ++f)
      for (std::int64_t oy = 0; oy < g.oh; ++oy)
        for (std::int64_t ox = 0; ox < g.ow; ++ox, ++out)
          for (int i = 0; i < 3; ++i)
            for (int j = 0; j < 3; ++j) {
              const std::int64_t iy = oy * g.sh - g.ph + i * g.dh, ix = ox * g.sw - g.pw + j * g.dw;
              if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
              const std::size_t xi = static_cast<std::size_t>(((n * g.c + f / m) * g.h + iy) * g.w + ix);
              const std::size_t wi = static_cast<std::size_t>(f * 9 + i * 3 + j);
              r.dx[xi] += d.w[wi] * r.dy[out], r.dx_size[xi] += std::abs(d.w[wi] * r.dy[out]);
              r.dw[wi] += r.dy[out] * d.x[xi], r.dw_size[wi] += std::abs(r.dy[out] * d.x[xi]);
            }
  return r;
}

template <class T> void check_gradients(double tolerance) {
  std::uint32_t seed = 3;
  for (const Case& k : cases()) {
    SCOPED_TRACE(case_name(k));
    const Data d = data(k, seed += 11);
    const Gradients want = gradients(d, seed + 5);
    const std::vector<T> x = as<T>(d.x), w = as<T>(d.w), dy = as<T>(want.dy);
    std::vector<T> dx(x.size(), std::numeric_limits<T>::quiet_NaN()), dw(w.size(), std::numeric_limits<T>::quiet_NaN());
    depthwise3x3_backward_input<T>(d.g, dy.data(), w.data(), dx.data());
    depthwise3x3_backward_filter<T>(d.g, x.data(), dy.data(), dw.data());
    for (std::size_t i = 0; i < dx.size(); ++i)
      ASSERT_NEAR(static_cast<double>(dx[i]), want.dx[i], tolerance * (1 + want.dx_size[i])) << "dx element " << i;
    for (std::size_t i = 0; i < dw.size(); ++i)
      ASSERT_NEAR(static_cast<double>(dw[i]), want.dw[i], tolerance * (1 + want.dw_size[i])) << "dw element " << i;
  }
}

TEST(DepthwiseKernel, Float32GradientsMatchTheDefinition) { check_gradients<float>(2e-6); }
TEST(DepthwiseKernel, Float64GradientsMatchTheDefinition) { check_gradients<double>(1e-14); }

TEST(DepthwiseKernel, AppliesToDepthwise3x3Only) {
  ConvGeometry g = geometry({1, 4, 8, 8, 2, 1, 1, 1, 1, 1, 1, 1, 1});
  EXPECT_TRUE(depthwise3x3_applies(g));
  ConvGeometry single = geometry({1, 1, 8, 8, 1, 2, 2, 0, 1, 0, 1, 2, 2});  // one channel: groups 1 is depthwise
  EXPECT_TRUE(depthwise3x3_applies(single));
  ConvGeometry grouped = g;
  grouped.groups = 2;  // two channels per group
  EXPECT_FALSE(depthwise3x3_applies(grouped));
  ConvGeometry dense = g;
  dense.groups = 1;
  EXPECT_FALSE(depthwise3x3_applies(dense));
  ConvGeometry wide = g;
  wide.kw = 5;
  EXPECT_FALSE(depthwise3x3_applies(wide));
  ConvGeometry tall = g;
  tall.kh = 1;
  EXPECT_FALSE(depthwise3x3_applies(tall));
}

// The fused bias and epilogue give the bits of the kernel's plain output followed by the separate
// ops (bias add in T; the channel affine T(double(y) * scale + shift); relu as y > 0 ? y : 0),
// including NaN and signed zeros through relu.
template <class T> void check_epilogue_is_the_separate_ops() {
  const Data d = data({2, 5, 13, 37, 2, 1, 1, 1, 1, 1, 1, 1, 1}, 99);
  std::vector<T> x = as<T>(d.x);
  x[3] = std::numeric_limits<T>::quiet_NaN();  // a NaN through the affine map and relu
  const std::vector<T> w = as<T>(d.w), b = as<T>(d.bias);
  const ConvGeometry& g = d.g;
  const std::int64_t pixels = g.oh * g.ow;
  std::vector<T> plain(static_cast<std::size_t>(g.n * g.f * pixels)), fused(plain.size());
  depthwise3x3_forward<T>(g, x.data(), w.data(), nullptr, plain.data(), nullptr);
  std::vector<double> scale = d.scale;
  scale[0] = 0.0;  // zeros of both signs into relu
  scale[1] = -0.0;
  for (Activation activation : {Activation::none, Activation::relu}) {
    const ChannelEpilogue e{.scale = scale.data(), .shift = d.shift.data(), .activation = activation};
    depthwise3x3_forward<T>(g, x.data(), w.data(), b.data(), fused.data(), &e);
    std::vector<T> separate = plain;
    for (std::size_t i = 0; i < separate.size(); ++i) {
      const std::size_t f = (i / static_cast<std::size_t>(pixels)) % static_cast<std::size_t>(g.f);
      T v = separate[i] + b[f];
      v = static_cast<T>(v * scale[f] + d.shift[f]);
      if (activation == Activation::relu) v = v > T(0) ? v : T(0);
      separate[i] = v;
    }
    EXPECT_EQ(std::memcmp(fused.data(), separate.data(), fused.size() * sizeof(T)), 0);
  }
}

TEST(DepthwiseKernel, EpilogueIsBitwiseTheSeparateOpsFloat32) { check_epilogue_is_the_separate_ops<float>(); }
TEST(DepthwiseKernel, EpilogueIsBitwiseTheSeparateOpsFloat64) { check_epilogue_is_the_separate_ops<double>(); }

// Bitwise the same output and gradients with 1, 2 and 3 threads, on shapes with many chunks.
template <class T> void check_thread_counts(const Case& k) {
  SCOPED_TRACE(case_name(k));
  const Data d = data(k, 5);
  const std::vector<T> x = as<T>(d.x), w = as<T>(d.w), dy = as<T>(values(d.g.n * d.g.f * d.g.oh * d.g.ow, 6));
  std::vector<std::vector<T>> outputs;  // y, dx and dw, side by side
  for (int threads : {1, 2, 3}) {
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(threads));
    tbb::task_arena arena(threads);
    arena.execute([&] {
      std::vector<T> all = run<T>(d, true, true, true), dx(x.size()), dw(w.size());
      depthwise3x3_backward_input<T>(d.g, dy.data(), w.data(), dx.data());
      depthwise3x3_backward_filter<T>(d.g, x.data(), dy.data(), dw.data());
      all.insert(all.end(), dx.begin(), dx.end());
      all.insert(all.end(), dw.begin(), dw.end());
      outputs.push_back(all);
    });
  }
  for (std::size_t t = 1; t < outputs.size(); ++t)
    EXPECT_EQ(std::memcmp(outputs[0].data(), outputs[t].data(), outputs[0].size() * sizeof(T)), 0)
        << (t + 1) << " threads differ from 1";
}

TEST(DepthwiseKernel, BitwiseAcrossThreadCounts) {
  check_thread_counts<float>({4, 24, 40, 40, 2, 1, 1, 1, 1, 1, 1, 1, 1});
  check_thread_counts<float>({3, 40, 7, 7, 1, 1, 1, 1, 1, 1, 1, 1, 1});
  check_thread_counts<float>({2, 40, 7, 7, 2, 1, 1, 1, 1, 1, 1, 1, 1});  // filter gradient: many filters per chunk
  check_thread_counts<float>({2, 16, 57, 57, 1, 2, 2, 0, 1, 0, 1, 1, 1});
  check_thread_counts<double>({4, 24, 40, 40, 2, 1, 1, 1, 1, 1, 1, 2, 2});
}

TEST(DepthwiseKernel, EmptyBatchWritesNothing) {
  Data d = data({1, 2, 6, 6, 1, 1, 1, 1, 1, 1, 1, 1, 1}, 3);
  d.g.n = 0;
  float sentinel = 42.0f;
  const std::vector<float> x = as<float>(d.x), w = as<float>(d.w);
  depthwise3x3_forward<float>(d.g, x.data(), w.data(), nullptr, &sentinel, nullptr);
  EXPECT_EQ(sentinel, 42.0f);
}

}  // namespace
}  // namespace dagrad::kernels
