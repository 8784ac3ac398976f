// References, golden examples and bad-input errors for the pooling ops.
#include <gmock/gmock.h>
#include <tuple>

#include <gtest/gtest.h>

#include <oneapi/tbb/global_control.h>

#include <cmath>
#include <functional>
#include <limits>
#include <tuple>

#include "autodiff/grad.h"
#include "autodiff/gradcheck.h"
#include "ops/kernels/pool.h"
#include "ops/ops.h"
#include "runtime/runtime.h"
#include "tests/op_cases.h"

namespace dagrad::testing {
namespace {

using Ints = std::vector<std::int64_t>;
using ::testing::AllOf;
using ::testing::HasSubstr;
constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// Window settings of a 2-D pooling op, read from its attributes (absent ones take the defaults).
struct Window2d {
  std::int64_t kh, kw, sh, sw, ph = 0, pw = 0, dh = 1, dw = 1;
  bool ceil_mode = false, count_include_pad = true;
};
Window2d window_of(const AttrMap& attrs) {
  Ints window = std::get<Ints>(attrs.at("window"));
  Ints stride = std::get<Ints>(attrs.at("stride"));
  Window2d w{window[0], window[1], stride[0], stride[1]};
  if (attrs.count("pad")) w.ph = std::get<Ints>(attrs.at("pad"))[0], w.pw = std::get<Ints>(attrs.at("pad"))[1];
  if (attrs.count("dilation")) w.dh = std::get<Ints>(attrs.at("dilation"))[0], w.dw = std::get<Ints>(attrs.at("dilation"))[1];
  if (attrs.count("ceil_mode")) w.ceil_mode = std::get<bool>(attrs.at("ceil_mode"));
  if (attrs.count("count_include_pad")) w.count_include_pad = std::get<bool>(attrs.at("count_include_pad"));
  return w;
}
// PyTorch's pooling_output_shape: (in + 2p - d(k-1) - 1 [+ s-1 with ceil]) / s + 1, and with ceil the
// last window must start inside the input or the left padding.
std::int64_t out_extent(std::int64_t in, std::int64_t k, std::int64_t s, std::int64_t p, std::int64_t d = 1, bool ceil = false) {
  std::int64_t out = (in + 2 * p - d * (k - 1) - 1 + (ceil ? s - 1 : 0)) / s + 1;
  if (ceil && (out - 1) * s >= in + p) --out;
  return out;
}
Shape pooled_shape(const Shape& s, const Window2d& w) {
  return {s[0], s[1], out_extent(s[2], w.kh, w.sh, w.ph, w.dh, w.ceil_mode), out_extent(s[3], w.kw, w.sw, w.pw, w.dw, w.ceil_mode)};
}

// Index into x [N,C,H,W] of the first maximum of the window of output (n, c, oh, ow); padded cells are -inf.
std::int64_t reference_argmax(const Tensor& x, const Window2d& w, std::int64_t n, std::int64_t c, std::int64_t oh, std::int64_t ow) {
  const Shape& s = x.shape();
  double best = kNegInf;
  std::int64_t best_at = -1;
  for (std::int64_t i = 0; i < w.kh; ++i)
    for (std::int64_t j = 0; j < w.kw; ++j) {
      std::int64_t h = oh * w.sh - w.ph + i * w.dh, v = ow * w.sw - w.pw + j * w.dw;
      bool inside = h >= 0 && h < s[2] && v >= 0 && v < s[3];
      std::int64_t at_x = ((n * s[1] + c) * s[2] + h) * s[3] + v;
      double value = inside ? x.at(at_x) : kNegInf;
      if (value > best) best = value, best_at = at_x;
    }
  return best_at;
}

std::vector<Tensor> max_pool2d_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  Window2d w = window_of(attrs);
  Shape ys = pooled_shape(in[0].shape(), w);
  Tensor y = zeros_f64(ys);
  std::int64_t k = 0;
  for (std::int64_t n = 0; n < ys[0]; ++n)
    for (std::int64_t c = 0; c < ys[1]; ++c)
      for (std::int64_t oh = 0; oh < ys[2]; ++oh)
        for (std::int64_t ow = 0; ow < ys[3]; ++ow) at(y, k++) = in[0].at(reference_argmax(in[0], w, n, c, oh, ow));
  return {y};
}

std::vector<Tensor> max_pool2d_grad_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  Window2d w = window_of(attrs);
  const Shape& ys = in[1].shape();
  Tensor dx = zeros_f64(in[0].shape());
  std::int64_t k = 0;
  for (std::int64_t n = 0; n < ys[0]; ++n)
    for (std::int64_t c = 0; c < ys[1]; ++c)
      for (std::int64_t oh = 0; oh < ys[2]; ++oh)
        for (std::int64_t ow = 0; ow < ys[3]; ++ow) at(dx, reference_argmax(in[0], w, n, c, oh, ow)) += in[1].at(k++);
  return {dx};
}

// max_pool2d_with_indices: y as max_pool2d, and each window's argmax as an index into its H*W plane.
std::vector<Tensor> max_pool2d_with_indices_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  Window2d w = window_of(attrs);
  Tensor y = max_pool2d_reference(in, attrs)[0];
  Tensor indices = zeros_f64(y.shape());
  const Shape& s = in[0].shape();
  std::int64_t k = 0;
  for (std::int64_t n = 0; n < y.shape()[0]; ++n)
    for (std::int64_t c = 0; c < y.shape()[1]; ++c)
      for (std::int64_t oh = 0; oh < y.shape()[2]; ++oh)
        for (std::int64_t ow = 0; ow < y.shape()[3]; ++ow)
          at(indices, k++) = static_cast<double>(reference_argmax(in[0], w, n, c, oh, ow) % (s[2] * s[3]));
  return {y, indices};
}

// dx [N, C, input_size] with each dy cell added at its index, in output order.
std::vector<Tensor> max_pool2d_with_indices_grad_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  const Ints size = std::get<Ints>(attrs.at("input_size"));
  const Shape& ys = in[1].shape();
  Tensor dx = zeros_f64({ys[0], ys[1], size[0], size[1]});
  const std::int64_t cells = ys[2] * ys[3], plane = size[0] * size[1];
  for (std::int64_t k = 0; k < in[1].numel(); ++k)
    at(dx, (k / cells) * plane + static_cast<std::int64_t>(in[0].at(k))) += in[1].at(k);
  return {dx};
}

std::vector<Tensor> max_pool1d_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  auto get = [&](const char* name, std::int64_t fallback) {
    return attrs.count(name) ? std::get<std::int64_t>(attrs.at(name)) : fallback;
  };
  const std::int64_t k = get("window", 0), s = get("stride", 0), p = get("pad", 0), d = get("dilation", 1);
  const bool ceil = attrs.count("ceil_mode") && std::get<bool>(attrs.at("ceil_mode"));
  const Shape& xs = in[0].shape();
  Shape ys = {xs[0], xs[1], out_extent(xs[2], k, s, p, d, ceil)};
  Tensor y = zeros_f64(ys);
  for (std::int64_t r = 0; r < xs[0] * xs[1]; ++r)
    for (std::int64_t o = 0; o < ys[2]; ++o) {
      double best = kNegInf;
      for (std::int64_t i = 0; i < k; ++i) {
        std::int64_t l = o * s - p + i * d;
        double value = l >= 0 && l < xs[2] ? in[0].at(r * xs[2] + l) : kNegInf;
        best = std::max(best, value);
      }
      at(y, r * ys[2] + o) = best;
    }
  return {y};
}

// PyTorch's divisor: with count_include_pad the window clipped to the padded input (a ceil_mode
// window running past it counts fewer cells), without it the real cells only.
double avg_divisor(const Window2d& w, const Shape& s, std::int64_t oh, std::int64_t ow) {
  std::int64_t h0 = oh * w.sh - w.ph, w0 = ow * w.sw - w.pw;
  std::int64_t h1 = std::min(h0 + w.kh, s[2] + w.ph), w1 = std::min(w0 + w.kw, s[3] + w.pw);
  if (w.count_include_pad) return static_cast<double>((h1 - h0) * (w1 - w0));
  std::int64_t real = 0;
  for (std::int64_t h = h0; h < h1; ++h)
    for (std::int64_t v = w0; v < w1; ++v) real += h >= 0 && h < s[2] && v >= 0 && v < s[3];
  return static_cast<double>(real);
}

std::vector<Tensor> avg_pool2d_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  Window2d w = window_of(attrs);
  const Shape& s = in[0].shape();
  Shape ys = pooled_shape(s, w);
  Tensor y = zeros_f64(ys);
  std::int64_t k = 0;
  for (std::int64_t n = 0; n < ys[0]; ++n)
    for (std::int64_t c = 0; c < ys[1]; ++c)
      for (std::int64_t oh = 0; oh < ys[2]; ++oh)
        for (std::int64_t ow = 0; ow < ys[3]; ++ow) {
          double sum = 0;
          for (std::int64_t i = 0; i < w.kh; ++i)
            for (std::int64_t j = 0; j < w.kw; ++j) {
              std::int64_t h = oh * w.sh - w.ph + i, v = ow * w.sw - w.pw + j;
              if (h >= 0 && h < s[2] && v >= 0 && v < s[3]) sum += in[0].at(((n * s[1] + c) * s[2] + h) * s[3] + v);
            }
          at(y, k++) = sum / avg_divisor(w, s, oh, ow);
        }
  return {y};
}

std::vector<Tensor> avg_pool2d_grad_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  Window2d w = window_of(attrs);
  Shape s = std::get<Ints>(attrs.at("x_shape"));
  const Shape& ys = in[0].shape();
  Tensor dx = zeros_f64(s);
  std::int64_t k = 0;
  for (std::int64_t n = 0; n < ys[0]; ++n)
    for (std::int64_t c = 0; c < ys[1]; ++c)
      for (std::int64_t oh = 0; oh < ys[2]; ++oh)
        for (std::int64_t ow = 0; ow < ys[3]; ++ow) {
          double share = in[0].at(k++) / avg_divisor(w, s, oh, ow);
          for (std::int64_t i = 0; i < w.kh; ++i)
            for (std::int64_t j = 0; j < w.kw; ++j) {
              std::int64_t h = oh * w.sh - w.ph + i, v = ow * w.sw - w.pw + j;
              if (h >= 0 && h < s[2] && v >= 0 && v < s[3]) at(dx, ((n * s[1] + c) * s[2] + h) * s[3] + v) += share;
            }
        }
  return {dx};
}

std::vector<Tensor> global_avg_pool_reference(const std::vector<Tensor>& in, const AttrMap&) {
  const Shape& s = in[0].shape();
  Tensor y = zeros_f64({s[0], s[1]});
  std::int64_t plane = s[2] * s[3];
  for (std::int64_t r = 0; r < s[0] * s[1]; ++r) {
    double sum = 0;
    for (std::int64_t i = 0; i < plane; ++i) sum += in[0].at(r * plane + i);
    at(y, r) = sum / static_cast<double>(plane);
  }
  return {y};
}

std::vector<Tensor> global_max_pool_reference(const std::vector<Tensor>& in, const AttrMap&) {
  const Shape& s = in[0].shape();
  Tensor y = zeros_f64({s[0], s[1]});
  std::int64_t plane = s[2] * s[3];
  for (std::int64_t r = 0; r < s[0] * s[1]; ++r) {
    double best = kNegInf;
    for (std::int64_t i = 0; i < plane; ++i) best = std::max(best, in[0].at(r * plane + i));
    at(y, r) = best;
  }
  return {y};
}

// PyTorch's adaptive window along one dim: [floor(i * in / out), ceil((i + 1) * in / out)).
std::pair<std::int64_t, std::int64_t> adaptive_window(std::int64_t i, std::int64_t in, std::int64_t out) {
  return {i * in / out, ((i + 1) * in + out - 1) / out};
}

// Calls f(plane, oh, ow, h, w, count) for every input cell (h, w) of every output cell.
template <class F> void for_adaptive_cells(const Shape& xs, const Shape& ys, F f) {
  for (std::int64_t p = 0; p < xs[0] * xs[1]; ++p)
    for (std::int64_t oh = 0; oh < ys[2]; ++oh)
      for (std::int64_t ow = 0; ow < ys[3]; ++ow) {
        auto [h0, h1] = adaptive_window(oh, xs[2], ys[2]);
        auto [w0, w1] = adaptive_window(ow, xs[3], ys[3]);
        for (std::int64_t h = h0; h < h1; ++h)
          for (std::int64_t w = w0; w < w1; ++w) f(p, oh, ow, h, w, static_cast<double>((h1 - h0) * (w1 - w0)));
      }
}

std::vector<Tensor> adaptive_avg_pool2d_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  const Ints size = std::get<Ints>(attrs.at("output_size"));
  const Shape& xs = in[0].shape();
  const Shape ys = {xs[0], xs[1], size[0], size[1]};
  Tensor y = zeros_f64(ys);
  for_adaptive_cells(xs, ys, [&](std::int64_t p, std::int64_t oh, std::int64_t ow, std::int64_t h, std::int64_t w, double count) {
    at(y, (p * ys[2] + oh) * ys[3] + ow) += in[0].at((p * xs[2] + h) * xs[3] + w) / count;
  });
  return {y};
}

std::vector<Tensor> adaptive_avg_pool2d_grad_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  const Ints size = std::get<Ints>(attrs.at("input_size"));
  const Shape& ys = in[0].shape();
  const Shape xs = {ys[0], ys[1], size[0], size[1]};
  Tensor dx = zeros_f64(xs);
  for_adaptive_cells(xs, ys, [&](std::int64_t p, std::int64_t oh, std::int64_t ow, std::int64_t h, std::int64_t w, double count) {
    at(dx, (p * xs[2] + h) * xs[3] + w) += in[0].at((p * ys[2] + oh) * ys[3] + ow) / count;
  });
  return {dx};
}

AttrMap pool2d_attrs(Ints window, Ints stride, Ints pad = {0, 0}) {
  return {{"window", window}, {"stride", stride}, {"pad", pad}};
}

}  // namespace

// The rows are the ops' examples. Max pooling inputs there are random continuous values: ties have
// probability zero, and min_abs keeps them off zero so no window max sits at a kink of the
// central difference.
DAGRAD_OP_REFERENCES(pool) {
  return {
      {"max_pool2d", {max_pool2d_reference}},
      {"max_pool2d_grad", {max_pool2d_grad_reference}},
      {"max_pool2d_with_indices", {max_pool2d_with_indices_reference}},
      {"max_pool2d_with_indices_grad", {max_pool2d_with_indices_grad_reference}},
      {"max_pool1d", {max_pool1d_reference}},
      {"avg_pool2d", {avg_pool2d_reference}},
      {"avg_pool2d_grad", {avg_pool2d_grad_reference}},
      {"global_avg_pool", {global_avg_pool_reference}},
      {"global_max_pool", {global_max_pool_reference}},
      {"adaptive_avg_pool2d", {adaptive_avg_pool2d_reference}},
      {"adaptive_avg_pool2d_grad", {adaptive_avg_pool2d_grad_reference}},
  };
}

namespace {

// The message of the Error thrown while building the graph in `build`, or "" if none is thrown.
std::string build_error(const Shape& x_shape, const std::function<void(Value)>& build) {
  Graph g;
  Value x = g.input("x", {DType::f64, x_shape});
  try {
    build(x);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

Tensor plane(const Shape& shape, std::vector<double> values) { return Tensor::from<double>(shape, values); }

// The lecture's example: 2x2 max pooling with stride 2 keeps the largest value of each quadrant.
TEST(PoolGolden, MaxPool2x2Stride2) {
  Tensor x = plane({1, 1, 4, 4}, {1, 1, 2, 4,
                                  5, 6, 7, 8,
                                  3, 2, 1, 0,
                                  1, 2, 3, 4});
  Tensor y = autodiff::run_op("max_pool2d", pool2d_attrs({2, 2}, {2, 2}), {x})[0];
  ASSERT_EQ(y.shape(), (Shape{1, 1, 2, 2}));
  std::vector<double> expected = {6, 8,
                                  3, 4};
  for (std::int64_t i = 0; i < 4; ++i) EXPECT_EQ(y.at(i), expected[i]) << "entry " << i;

  // The gradient lands on the argmax of each quadrant.
  Tensor dy = plane({1, 1, 2, 2}, {10, 20, 30, 40});
  Tensor dx = autodiff::run_op("max_pool2d_grad", pool2d_attrs({2, 2}, {2, 2}), {x, dy})[0];
  std::vector<double> expected_dx = {0, 0, 0, 0,
                                     0, 10, 0, 20,
                                     30, 0, 0, 0,
                                     0, 0, 0, 40};
  for (std::int64_t i = 0; i < 16; ++i) EXPECT_EQ(dx.at(i), expected_dx[i]) << "entry " << i;
}

TEST(PoolGolden, MaxPoolTiesGoToTheFirstMaximumInRowMajorOrder) {
  Tensor x = plane({1, 1, 2, 4}, {1, 2, 5, 3,
                                  2, 2, 3, 5});
  Tensor dy = plane({1, 1, 1, 2}, {1, 1});
  Tensor dx = autodiff::run_op("max_pool2d_grad", pool2d_attrs({2, 2}, {2, 2}), {x, dy})[0];
  std::vector<double> expected = {0, 1, 1, 0,
                                  0, 0, 0, 0};
  for (std::int64_t i = 0; i < 8; ++i) EXPECT_EQ(dx.at(i), expected[i]) << "entry " << i;
}

TEST(PoolGolden, MaxPoolPaddingNeverWinsOverNegativeValues) {
  Tensor x = plane({1, 1, 2, 2}, {-4, -3, -2, -1});
  Tensor y = autodiff::run_op("max_pool2d", pool2d_attrs({2, 2}, {1, 1}, {1, 1}), {x})[0];
  std::vector<double> expected = {-4, -3, -3, -2, -1, -1, -2, -1, -1};
  for (std::int64_t i = 0; i < 9; ++i) EXPECT_EQ(y.at(i), expected[i]) << "entry " << i;
}

TEST(PoolGolden, MaxPoolPropagatesNaN) {
  Tensor x = plane({1, 1, 1, 4}, {1, std::nan(""), 3, 2});
  Tensor y = autodiff::run_op("max_pool2d", pool2d_attrs({1, 2}, {1, 2}), {x})[0];
  EXPECT_TRUE(std::isnan(y.at(0)));
  EXPECT_EQ(y.at(1), 3);
}

TEST(PoolGolden, OverlappingMaxWindowsAccumulate) {
  Tensor x = plane({1, 1, 5}, {0, 9, 1, 2, 3});
  Tensor dy = plane({1, 1, 4}, {1, 2, 4, 8});
  Graph g;
  Value xv = g.input("x", {DType::f64, {1, 1, 5}});
  Value y = ops::max_pool1d(xv, 2, 1);
  EXPECT_EQ(y.shape(), (Shape{1, 1, 4}));
  Tensor y_run = autodiff::run_op("max_pool1d", {{"window", std::int64_t{2}}, {"stride", std::int64_t{1}}}, {x})[0];
  std::vector<double> expected_y = {9, 9, 2, 3};
  for (std::int64_t i = 0; i < 4; ++i) EXPECT_EQ(y_run.at(i), expected_y[i]) << "entry " << i;
  Tensor dx = autodiff::run_op("max_pool2d_grad", pool2d_attrs({1, 2}, {1, 1}), {x.reshaped({1, 1, 1, 5}), dy.reshaped({1, 1, 1, 4})})[0];
  std::vector<double> expected_dx = {0, 3, 0, 4, 8};
  for (std::int64_t i = 0; i < 5; ++i) EXPECT_EQ(dx.at(i), expected_dx[i]) << "entry " << i;
}

// The saved indices are the argmax max_pool2d_grad recomputes, and scattering dy through them is
// bitwise the same gradient, on overlapping padded windows with ties.
TEST(PoolGolden, SavedIndicesGiveTheRecomputedArgmaxAndGradient) {
  OpExample example{.attrs = pool2d_attrs({3, 3}, {2, 2}, {1, 1}), .inputs = {{.shape = {2, 3, 9, 8}}}};
  Tensor x = autodiff::example_inputs(example, 5)[0];
  for (std::int64_t i = 0; i < x.numel(); i += 7) x.data<double>()[i] = 0.5;  // ties
  std::vector<Tensor> pooled = autodiff::run_op("max_pool2d_with_indices", example.attrs, {x});
  Tensor plain = autodiff::run_op("max_pool2d", example.attrs, {x})[0];
  ASSERT_EQ(pooled[1].dtype(), DType::i64);
  ASSERT_EQ(pooled[1].shape(), plain.shape());
  EXPECT_TRUE(bitwise_equal(pooled[0], plain));
  const std::int64_t plane = 9 * 8;
  for (std::int64_t i = 0; i < plain.numel(); ++i) {
    const std::int64_t index = pooled[1].data<std::int64_t>()[i];
    ASSERT_GE(index, 0);
    ASSERT_LT(index, plane);
    EXPECT_EQ(x.at((i / plain.shape()[2] / plain.shape()[3]) * plane + index), plain.at(i)) << "output " << i;
  }
  Tensor dy = autodiff::example_inputs({.inputs = {{.shape = plain.shape()}}}, 6)[0];
  AttrMap grad_attrs = example.attrs;
  grad_attrs["input_size"] = Ints{9, 8};
  Tensor scattered = autodiff::run_op("max_pool2d_with_indices_grad", grad_attrs, {pooled[1], dy})[0];
  Tensor recomputed = autodiff::run_op("max_pool2d_grad", example.attrs, {x, dy})[0];
  EXPECT_TRUE(bitwise_equal(scattered, recomputed));
}

// The float32 kernel (8 cells at a time inside the plane, scalar at the borders) keeps the scalar
// rules: every index is the one window_argmax picks cell by cell, and y the value there, with
// ties, NaNs and -inf about, for strides 1 and 2, odd sizes, dilation and ceil_mode; the plain op
// agrees bitwise.
TEST(PoolGolden, VectorizedFloatPoolingKeepsTheTieAndNaNRules) {
  const Ints one{1, 1};
  for (const auto& [window, stride, pad, dilation, ceil] :
       {std::tuple{Ints{3, 3}, Ints{2, 2}, Ints{1, 1}, one, false}, std::tuple{Ints{2, 2}, Ints{2, 2}, Ints{0, 0}, one, false},
        std::tuple{Ints{3, 3}, Ints{1, 1}, Ints{1, 1}, one, false}, std::tuple{Ints{2, 3}, Ints{1, 2}, Ints{1, 0}, one, false},
        std::tuple{Ints{3, 3}, Ints{1, 1}, Ints{2, 2}, Ints{2, 2}, false}, std::tuple{Ints{3, 2}, Ints{2, 2}, Ints{3, 1}, Ints{2, 3}, true},
        std::tuple{Ints{2, 2}, Ints{2, 2}, Ints{0, 0}, one, true}}) {
    const AttrMap attrs = {{"window", window}, {"stride", stride}, {"pad", pad}, {"dilation", dilation}, {"ceil_mode", ceil}};
    Tensor x = autodiff::example_inputs({.inputs = {{.shape = {2, 3, 37, 41}}}}, 11)[0];
    for (std::int64_t i = 0; i < x.numel(); i += 5) x.data<double>()[i] = 0.25;  // ties
    for (std::int64_t i = 3; i < x.numel(); i += 97) x.data<double>()[i] = std::nan("");
    for (std::int64_t i = 7; i < x.numel(); i += 89) x.data<double>()[i] = -std::numeric_limits<double>::infinity();
    const Tensor xf = x.to(DType::f32);
    std::vector<Tensor> pooled = autodiff::run_op("max_pool2d_with_indices", attrs, {xf});
    Tensor plain = autodiff::run_op("max_pool2d", attrs, {xf})[0];
    ASSERT_EQ(pooled[0].shape(), plain.shape());
    EXPECT_TRUE(bitwise_equal(pooled[0], plain));
    const kernels::PoolGeometry geometry = kernels::pool_geometry(
        xf.shape(), plain.shape(), {window[0], window[1]}, {stride[0], stride[1]}, {pad[0], pad[1]}, {dilation[0], dilation[1]});
    const std::int64_t out_plane = plain.shape()[2] * plain.shape()[3], in_plane = 37 * 41;
    for (std::int64_t i = 0; i < plain.numel(); ++i) {
      const float* x_plane = xf.data<float>().data() + (i / out_plane) * in_plane;
      const std::int64_t cell = i % out_plane;
      const std::int64_t want = kernels::window_argmax(x_plane, geometry, cell / plain.shape()[3], cell % plain.shape()[3]);
      ASSERT_EQ(pooled[1].data<std::int64_t>()[i], want) << "index of output " << i << " window " << window[0];
      const float got = pooled[0].data<float>()[i];
      ASSERT_TRUE(got == x_plane[want] || (std::isnan(got) && std::isnan(x_plane[want]))) << "output " << i;
    }
    // The first maximum: scattering through the indices equals max_pool2d_grad's recomputation.
    Tensor dy = autodiff::example_inputs({.inputs = {{.shape = plain.shape()}}}, 12)[0].to(DType::f32);
    AttrMap grad_attrs = attrs;
    grad_attrs["input_size"] = Ints{37, 41};
    EXPECT_TRUE(bitwise_equal(autodiff::run_op("max_pool2d_with_indices_grad", grad_attrs, {pooled[1], dy})[0],
                              autodiff::run_op("max_pool2d_grad", attrs, {xf, dy})[0]));
  }
}

TEST(PoolErrors, IndexOutsideThePlaneIsAClearError) {
  Tensor indices = Tensor::from<std::int64_t>({1, 1, 1, 2}, {0, 16});
  Tensor dy = plane({1, 1, 1, 2}, {1, 2});
  AttrMap attrs = pool2d_attrs({2, 2}, {2, 2});
  attrs["input_size"] = Ints{2, 4};
  try {
    autodiff::run_op("max_pool2d_with_indices_grad", attrs, {indices, dy});
    ADD_FAILURE() << "an index past the 2x4 plane was accepted";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), AllOf(HasSubstr("index 16"), HasSubstr("outside the input plane of 2x4")));
  }
}

TEST(PoolGolden, DslMaxPoolSavesIndicesForItsGradient) {
  Graph g;
  Value x = g.input("x", {DType::f64, {1, 2, 4, 4}});
  Value y = ops::max_pool2d(x, {2, 2}, {2, 2});
  EXPECT_EQ(g.node(g.value(y.id()).producer).op, "max_pool2d_with_indices");
}

TEST(PoolGolden, AvgPoolCountsZeroPaddingInTheDivisor) {
  Tensor x = plane({1, 1, 2, 2}, {1, 2, 3, 4});
  Tensor y = autodiff::run_op("avg_pool2d", pool2d_attrs({2, 2}, {2, 2}, {1, 1}), {x})[0];
  std::vector<double> expected = {0.25, 0.5, 0.75, 1.0};
  for (std::int64_t i = 0; i < 4; ++i) EXPECT_DOUBLE_EQ(y.at(i), expected[i]) << "entry " << i;
}

TEST(PoolGolden, GlobalAvgPoolMeansEachPlane) {
  Tensor x = plane({1, 2, 2, 2}, {1, 2, 3, 4, 10, 20, 30, 40});
  Tensor y = autodiff::run_op("global_avg_pool", {}, {x})[0];
  ASSERT_EQ(y.shape(), (Shape{1, 2}));
  EXPECT_DOUBLE_EQ(y.at(0), 2.5);
  EXPECT_DOUBLE_EQ(y.at(1), 25);
}

// Accumulating backward kernels give the same bits with one thread as with all of them.
TEST(PoolDeterminism, BackwardOpsAreBitwiseIndependentOfThreadCount) {
  std::vector<std::pair<std::string, OpExample>> cases = {
      {"max_pool2d_grad",
       {.attrs = pool2d_attrs({3, 3}, {1, 1}, {1, 1}), .inputs = {{.shape = {8, 16, 20, 20}}, {.shape = {8, 16, 20, 20}}}}},
      {"avg_pool2d_grad",
       {.attrs = {{"x_shape", Ints{8, 16, 20, 20}}, {"window", Ints{3, 3}}, {"stride", Ints{1, 1}}, {"pad", Ints{1, 1}}},
        .inputs = {{.shape = {8, 16, 20, 20}}}}},
      {"max_pool2d_with_indices_grad",  // every cell lands on one of few indices: heavy accumulation
       {.attrs = {{"input_size", Ints{20, 20}}, {"window", Ints{3, 3}}, {"stride", Ints{1, 1}}, {"pad", Ints{1, 1}}},
        .inputs = {{.shape = {8, 16, 20, 20}, .dtype = DType::i64, .low = 0, .high = 7}, {.shape = {8, 16, 20, 20}}}}}};
  for (const auto& [op, example] : cases) {
    std::vector<Tensor> inputs = autodiff::example_inputs(example, 7);
    for (Tensor& t : inputs)
      if (t.dtype() == DType::f64) t = t.to(DType::f32);
    Tensor parallel = autodiff::run_op(op, example.attrs, inputs)[0];
    Tensor serial;
    {
      tbb::global_control one_thread(tbb::global_control::max_allowed_parallelism, 1);
      serial = autodiff::run_op(op, example.attrs, inputs)[0];
    }
    EXPECT_TRUE(bitwise_equal(parallel, serial)) << op;
  }
}

TEST(PoolErrors, WrongRank) {
  EXPECT_THAT(build_error({2, 3, 4}, [](Value x) { ops::max_pool2d(x, {2, 2}, {2, 2}); }),
              AllOf(HasSubstr("op 'max_pool2d_with_indices'"), HasSubstr("must have rank 4"), HasSubstr("[2,3,4]")));
  EXPECT_THAT(build_error({2, 3, 4}, [](Value x) { ops::avg_pool2d(x, {2, 2}, {2, 2}); }),
              AllOf(HasSubstr("op 'avg_pool2d'"), HasSubstr("must have rank 4"), HasSubstr("[2,3,4]")));
  EXPECT_THAT(build_error({2, 3, 4, 4}, [](Value x) { ops::max_pool1d(x, 2, 2); }),
              AllOf(HasSubstr("op 'max_pool1d'"), HasSubstr("must have rank 3"), HasSubstr("[2,3,4,4]")));
  EXPECT_THAT(build_error({2, 3}, [](Value x) { ops::global_avg_pool(x); }),
              AllOf(HasSubstr("op 'global_avg_pool'"), HasSubstr("must have rank 4"), HasSubstr("[2,3]")));
}

TEST(PoolErrors, WindowMustBePositive) {
  EXPECT_THAT(build_error({1, 1, 4, 4}, [](Value x) { ops::max_pool2d(x, {0, 2}, {1, 1}); }),
              AllOf(HasSubstr("op 'max_pool2d_with_indices'"), HasSubstr("height window 0 must be positive")));
  EXPECT_THAT(build_error({1, 1, 4, 4}, [](Value x) { ops::avg_pool2d(x, {2, -1}, {1, 1}); }),
              AllOf(HasSubstr("op 'avg_pool2d'"), HasSubstr("width window -1 must be positive")));
  EXPECT_THAT(build_error({1, 1, 4}, [](Value x) { ops::max_pool1d(x, 0, 1); }),
              AllOf(HasSubstr("op 'max_pool1d'"), HasSubstr("length window 0 must be positive")));
}

TEST(PoolErrors, StrideMustBePositive) {
  EXPECT_THAT(build_error({1, 1, 4, 4}, [](Value x) { ops::max_pool2d(x, {2, 2}, {1, 0}); }),
              AllOf(HasSubstr("op 'max_pool2d_with_indices'"), HasSubstr("width stride 0 must be positive")));
  EXPECT_THAT(build_error({1, 1, 4, 4}, [](Value x) { ops::avg_pool2d(x, {2, 2}, {-2, 1}); }),
              AllOf(HasSubstr("op 'avg_pool2d'"), HasSubstr("height stride -2 must be positive")));
  EXPECT_THAT(build_error({1, 1, 4}, [](Value x) { ops::max_pool1d(x, 2, -1); }),
              AllOf(HasSubstr("op 'max_pool1d'"), HasSubstr("length stride -1 must be positive")));
}

TEST(PoolErrors, PadMustNotBeNegative) {
  EXPECT_THAT(build_error({1, 1, 4, 4}, [](Value x) { ops::max_pool2d(x, {2, 2}, {1, 1}, {0, -1}); }),
              AllOf(HasSubstr("op 'max_pool2d_with_indices'"), HasSubstr("width pad -1 must not be negative")));
  EXPECT_THAT(build_error({1, 1, 4}, [](Value x) { ops::max_pool1d(x, 2, 1, -1); }),
              AllOf(HasSubstr("op 'max_pool1d'"), HasSubstr("length pad -1 must not be negative")));
}

// Padding may exceed half the window (PyTorch refuses it, ONNX allows it) while every window of a
// max pool, or of an average that leaves the padding out of its divisor, covers an input cell.
TEST(PoolErrors, PadLargerThanHalfTheWindowNeedsAnInputCellInEveryWindow) {
  EXPECT_EQ(build_error({1, 1, 6, 6}, [](Value x) { ops::max_pool2d(x, {3, 3}, {1, 1}, {2, 1}); }), "");
  EXPECT_EQ(build_error({1, 1, 6}, [](Value x) { ops::max_pool1d(x, 3, 1, 2); }), "");
  EXPECT_THAT(build_error({1, 1, 6, 6}, [](Value x) { ops::max_pool2d(x, {3, 2}, {1, 1}, {2, 2}); }),
              AllOf(HasSubstr("op 'max_pool2d_with_indices'"), HasSubstr("[1,1,6,6]"),
                    HasSubstr("width pad 2 leaves output 0's window (width window 2, stride 1, dilation 1) with no cell "
                              "inside the input width 6; every window must cover at least one input cell")));
  EXPECT_THAT(build_error({1, 1, 6}, [](Value x) { ops::max_pool1d(x, 2, 1, 2); }),
              AllOf(HasSubstr("op 'max_pool1d'"), HasSubstr("length pad 2 leaves output 0's window (length window 2")));
  // Dilation 3 over a 2-high input: windows at -2 (rows -2, 1) and 0 hold a row, the one at -1 (rows -1, 2) none.
  EXPECT_THAT(build_error({1, 1, 2, 5}, [](Value x) { ops::max_pool2d(x, {2, 1}, {1, 1}, {2, 0}, {.dilation = {3, 1}}); }),
              HasSubstr("height pad 2 leaves output 1's window (height window 2, stride 1, dilation 3) with no cell inside "
                        "the input height 2"));
  // Dilation can step over a small input: cells -1 and 1 of a 1-wide input.
  EXPECT_THAT(build_error({1, 1, 4, 1}, [](Value x) { ops::max_pool2d(x, {1, 2}, {1, 1}, {0, 1}, {.dilation = {1, 2}}); }),
              HasSubstr("width pad 1 leaves output 0's window (width window 2, stride 1, dilation 2) with no cell inside "
                        "the input width 1"));
  // Average pooling counting the padding divides a window of padding by its size: allowed, it averages to 0.
  EXPECT_EQ(build_error({1, 1, 6, 6}, [](Value x) { ops::avg_pool2d(x, {3, 2}, {1, 1}, {2, 2}); }), "");
  EXPECT_THAT(build_error({1, 1, 6, 6}, [](Value x) { ops::avg_pool2d(x, {3, 2}, {1, 1}, {2, 2}, {.count_include_pad = false}); }),
              AllOf(HasSubstr("op 'avg_pool2d'"), HasSubstr("width pad 2 leaves output 0's window (width window 2, stride 1, "
                                                             "dilation 1) with no cell inside the input width 6")));
  // The backward ops apply the same rule to their attributes.
  AttrMap attrs = {{"x_shape", Ints{1, 1, 6, 6}}, {"window", Ints{3, 2}}, {"stride", Ints{1, 1}}, {"pad", Ints{2, 2}},
                   {"count_include_pad", false}};
  Graph g;
  Value dy = g.input("dy", {DType::f64, {1, 1, 8, 9}});
  try {
    g.add_node("avg_pool2d_grad", {dy}, attrs);
    ADD_FAILURE() << "avg_pool2d_grad accepted a window of padding without count_include_pad";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), AllOf(HasSubstr("op 'avg_pool2d_grad'"), HasSubstr("width pad 2 leaves output 0's window")));
  }
}

TEST(PoolErrors, WindowLargerThanPaddedInput) {
  EXPECT_THAT(build_error({1, 1, 3, 8}, [](Value x) { ops::max_pool2d(x, {4, 2}, {1, 1}); }),
              AllOf(HasSubstr("op 'max_pool2d_with_indices'"), HasSubstr("[1,1,3,8]"),
                    HasSubstr("height window 4 is larger than the padded input height (3 + 2 * pad 0)")));
  EXPECT_THAT(build_error({1, 1, 8, 3}, [](Value x) { ops::avg_pool2d(x, {2, 6}, {1, 1}, {0, 1}); }),
              AllOf(HasSubstr("op 'avg_pool2d'"), HasSubstr("width window 6 is larger than the padded input width (3 + 2 * pad 1)")));
  EXPECT_THAT(build_error({1, 1, 3}, [](Value x) { ops::max_pool1d(x, 5, 1); }),
              AllOf(HasSubstr("op 'max_pool1d'"), HasSubstr("length window 5 is larger than the padded input length (3 + 2 * pad 0)")));
  // Padding can make room for the window.
  EXPECT_EQ(build_error({1, 1, 3, 3}, [](Value x) { ops::max_pool2d(x, {4, 4}, {1, 1}, {1, 1}); }), "");
}

TEST(PoolErrors, BackwardOpsCheckDyAgainstThePooledShape) {
  Graph g;
  Value x = g.input("x", {DType::f64, {1, 2, 4, 4}});
  Value bad_dy = g.input("dy", {DType::f64, {1, 2, 3, 3}});
  try {
    ops::max_pool2d_grad(x, bad_dy, {2, 2}, {2, 2}, {0, 0});
    ADD_FAILURE() << "max_pool2d_grad accepted a mismatched dy";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), AllOf(HasSubstr("op 'max_pool2d_grad'"), HasSubstr("dy shape [1,2,3,3]"),
                                HasSubstr("pooled output shape [1,2,2,2]")));
  }
  try {
    ops::avg_pool2d_grad(bad_dy, {1, 2, 4, 4}, {2, 2}, {2, 2}, {0, 0});
    ADD_FAILURE() << "avg_pool2d_grad accepted a mismatched dy";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), AllOf(HasSubstr("op 'avg_pool2d_grad'"), HasSubstr("dy shape [1,2,3,3]"),
                                HasSubstr("pooled output shape [1,2,2,2]")));
  }
  try {
    ops::avg_pool2d_grad(bad_dy, {2, 4, 4}, {2, 2}, {2, 2}, {0, 0});
    ADD_FAILURE() << "avg_pool2d_grad accepted a rank-3 x_shape";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), AllOf(HasSubstr("op 'avg_pool2d_grad'"), HasSubstr("x_shape [2,4,4] must have rank 4")));
  }
}

TEST(PoolErrors, GlobalAvgPoolRejectsAnEmptyPlane) {
  EXPECT_THAT(build_error({1, 2, 0, 3}, [](Value x) { ops::global_avg_pool(x); }),
              AllOf(HasSubstr("op 'global_avg_pool'"), HasSubstr("height 0 x width 3 must not be empty")));
}

TEST(PoolErrors, MissingWindowAttribute) {
  Graph g;
  Value x = g.input("x", {DType::f64, {1, 1, 4, 4}});
  try {
    g.add_node("max_pool2d", {x}, {{"stride", Ints{1, 1}}});
    ADD_FAILURE() << "max_pool2d accepted a node without a window";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), AllOf(HasSubstr("max_pool2d"), HasSubstr("missing required attribute 'window'")));
  }
}


// The message of the Error thrown when adding a node of `op` with `attrs` to x, or "" if none is.
std::string node_error(const std::string& op, const Shape& x_shape, const AttrMap& attrs) {
  return build_error(x_shape, [&](Value x) { x.graph().add_node(op, {x}, attrs); });
}

// ceil_mode: PyTorch's extents, and a last window that starts in the input and runs past it.
TEST(PoolGolden, CeilModeAddsAPartialLastWindow) {
  Tensor x = plane({1, 1, 1, 5}, {1, 5, 2, 4, 3});
  AttrMap attrs = pool2d_attrs({1, 2}, {1, 2});
  EXPECT_EQ(autodiff::run_op("max_pool2d", attrs, {x})[0].shape(), (Shape{1, 1, 1, 2}));
  attrs["ceil_mode"] = true;
  Tensor y = autodiff::run_op("max_pool2d", attrs, {x})[0];
  ASSERT_EQ(y.shape(), (Shape{1, 1, 1, 3}));
  EXPECT_EQ(y.at(0), 5);
  EXPECT_EQ(y.at(1), 4);
  EXPECT_EQ(y.at(2), 3);
  // The last window must start inside the input or the left padding: 5 + 2 * 1 cells, window 2,
  // stride 2 would put a 4th window at 6 - 1 = 5, in the right padding, so there are 3.
  Graph g;
  Value xv = g.input("x", {DType::f64, {1, 1, 5, 5}});
  EXPECT_EQ(ops::max_pool2d(xv, {2, 2}, {2, 2}, {1, 1}, {.ceil_mode = true}).shape(), (Shape{1, 1, 3, 3}));
  EXPECT_EQ(ops::max_pool2d(xv, {2, 2}, {2, 2}, {1, 1}).shape(), (Shape{1, 1, 3, 3}));
  // 4 + 2 cells, window 3, stride 2: floor 2, ceil 3 (the 3rd window starts at 3, inside).
  Value x4 = g.input("x4", {DType::f64, {1, 1, 4, 4}});
  EXPECT_EQ(ops::avg_pool2d(x4, {3, 3}, {2, 2}, {1, 1}).shape(), (Shape{1, 1, 2, 2}));
  EXPECT_EQ(ops::avg_pool2d(x4, {3, 3}, {2, 2}, {1, 1}, {.ceil_mode = true}).shape(), (Shape{1, 1, 3, 3}));
  EXPECT_EQ(ops::max_pool1d(g.input("x1", {DType::f64, {1, 1, 8}}), 3, 3).shape(), (Shape{1, 1, 2}));
}

// PyTorch's avg_pool1d([1, 2, 3, 4], 3, stride 2, pad 1, ceil_mode): windows [-1, 2), [1, 4), [3, 6).
// Counting the padding, the last divides by 2: it reaches only as far as the padded input (5).
TEST(PoolGolden, AvgPoolDivisorsWithAndWithoutPadding) {
  Tensor x = plane({1, 1, 1, 4}, {1, 2, 3, 4});
  AttrMap attrs = pool2d_attrs({1, 3}, {1, 2}, {0, 1});
  attrs["ceil_mode"] = true;
  Tensor y = autodiff::run_op("avg_pool2d", attrs, {x})[0];
  ASSERT_EQ(y.shape(), (Shape{1, 1, 1, 3}));
  std::vector<double> include = {1, 3, 2};
  for (std::int64_t i = 0; i < 3; ++i) EXPECT_DOUBLE_EQ(y.at(i), include[i]) << "entry " << i;
  attrs["count_include_pad"] = false;
  y = autodiff::run_op("avg_pool2d", attrs, {x})[0];
  std::vector<double> exclude = {1.5, 3, 4};
  for (std::int64_t i = 0; i < 3; ++i) EXPECT_DOUBLE_EQ(y.at(i), exclude[i]) << "entry " << i;
  // The gradient divides by the same counts.
  AttrMap grad_attrs = attrs;
  grad_attrs["x_shape"] = Ints{1, 1, 1, 4};
  Tensor dx = autodiff::run_op("avg_pool2d_grad", grad_attrs, {plane({1, 1, 1, 3}, {6, 12, 24})})[0];
  std::vector<double> expected_dx = {3, 3 + 4, 4, 4 + 24};
  for (std::int64_t i = 0; i < 4; ++i) EXPECT_DOUBLE_EQ(dx.at(i), expected_dx[i]) << "entry " << i;
  // The DSL: the same op with the same attributes.
  Graph g;
  Value xv = g.input("x", {DType::f64, {1, 1, 1, 4}});
  Value yv = ops::avg_pool2d(xv, {1, 3}, {1, 2}, {0, 1}, {.ceil_mode = true, .count_include_pad = false});
  const Node& node = g.node(g.value(yv.id()).producer);
  EXPECT_EQ(node.op, "avg_pool2d");
  EXPECT_EQ(std::get<bool>(node.attrs.at("count_include_pad")), false);
  EXPECT_EQ(std::get<bool>(node.attrs.at("ceil_mode")), true);
}

// Dilation spaces the window's cells: window 2, dilation 3 pairs cells i and i + 3.
TEST(PoolGolden, DilatedMaxPoolAndItsGradient) {
  Tensor x = plane({1, 1, 8}, {5, 1, 7, 2, 9, 3, 0, 4});
  const AttrMap attrs = {{"window", std::int64_t{2}}, {"stride", std::int64_t{1}}, {"dilation", std::int64_t{3}}};
  Tensor y = autodiff::run_op("max_pool1d", attrs, {x})[0];
  std::vector<double> expected = {5, 9, 7, 2, 9};
  ASSERT_EQ(y.shape(), (Shape{1, 1, 5}));
  for (std::int64_t i = 0; i < 5; ++i) EXPECT_EQ(y.at(i), expected[i]) << "entry " << i;
  // The 2-D forms agree, and the saved indices route dy to cells 0, 4, 2, 3 and 4 again.
  Graph g;
  Value xv = g.input("x", {DType::f64, {1, 1, 1, 8}});
  Value yv = ops::max_pool2d(xv, {1, 2}, {1, 1}, {0, 0}, {.dilation = {1, 3}});
  const Node& node = g.node(g.value(yv.id()).producer);
  ASSERT_EQ(node.op, "max_pool2d_with_indices");
  std::vector<Tensor> pooled = autodiff::run_op(node.op, node.attrs, {x.reshaped({1, 1, 1, 8})});
  std::vector<std::int64_t> expected_indices = {0, 4, 2, 3, 4};
  for (std::int64_t i = 0; i < 5; ++i) {
    EXPECT_EQ(pooled[0].at(i), expected[i]) << "entry " << i;
    EXPECT_EQ(pooled[1].data<std::int64_t>()[i], expected_indices[i]) << "index " << i;
  }
  Tensor dy = plane({1, 1, 1, 5}, {1, 2, 4, 8, 16});
  Tensor dx = autodiff::run_op("max_pool2d_grad", node.attrs, {x.reshaped({1, 1, 1, 8}), dy})[0];
  std::vector<double> expected_dx = {1, 0, 4, 8, 18, 0, 0, 0};
  for (std::int64_t i = 0; i < 8; ++i) EXPECT_EQ(dx.at(i), expected_dx[i]) << "entry " << i;
}

TEST(PoolGolden, BigPaddingAveragesWindowsOfPaddingToZero) {
  Tensor x = plane({1, 1, 1, 2}, {4, 8});
  Tensor y = autodiff::run_op("avg_pool2d", pool2d_attrs({1, 2}, {1, 1}, {0, 2}), {x})[0];
  std::vector<double> expected = {0, 2, 6, 4, 0};
  ASSERT_EQ(y.shape(), (Shape{1, 1, 1, 5}));
  for (std::int64_t i = 0; i < 5; ++i) EXPECT_DOUBLE_EQ(y.at(i), expected[i]) << "entry " << i;
}

TEST(PoolGolden, GlobalMaxPoolTiesGoToTheFirstMaximum) {
  Tensor x = plane({1, 2, 2, 3}, {1, 7, 3,
                                  7, 2, 7,
                                  -5, -4, -9,
                                  -8, -4, -6});
  Tensor y = autodiff::run_op("global_max_pool", {}, {x})[0];
  ASSERT_EQ(y.shape(), (Shape{1, 2}));
  EXPECT_EQ(y.at(0), 7);
  EXPECT_EQ(y.at(1), -4);
  // The graph gradient routes each plane's weight to its first maximum only.
  Graph g;
  Value xv = g.input("x", {DType::f64, {1, 2, 2, 3}});
  Value loss = ops::reduce_sum(ops::mul(ops::global_max_pool(xv), g.constant("w", Tensor::from<double>({1, 2}, {10, 20}))), {0, 1});
  autodiff::Gradients grads = autodiff::grad(g, loss.id(), {xv.id()});
  runtime::TensorMap feeds;
  feeds.emplace("x", x);
  Tensor dx = runtime::run(runtime::compile(grads.graph, {}, {grads.grads[0]}), runtime::feeds_from({&feeds})).at(grads.grads[0]);
  std::vector<double> expected = {0, 10, 0, 0, 0, 0,
                                  0, 20, 0, 0, 0, 0};
  for (std::int64_t i = 0; i < 12; ++i) EXPECT_EQ(dx.at(i), expected[i]) << "entry " << i;
}

// 5x7 -> 3x2: rows [0, 2), [1, 4), [3, 5) and columns [0, 4), [3, 7), overlapping.
TEST(PoolGolden, AdaptiveAvgPoolWindows) {
  std::vector<double> values(35);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<double>(i);
  Tensor x = plane({1, 1, 5, 7}, values);
  Tensor y = autodiff::run_op("adaptive_avg_pool2d", {{"output_size", Ints{3, 2}}}, {x})[0];
  ASSERT_EQ(y.shape(), (Shape{1, 1, 3, 2}));
  // The mean of a block of arange is the value at its centre: row (h0 + h1 - 1) / 2, column likewise.
  std::vector<double> expected = {0.5 * 7 + 1.5, 0.5 * 7 + 4.5, 2 * 7 + 1.5, 2 * 7 + 4.5, 3.5 * 7 + 1.5, 3.5 * 7 + 4.5};
  for (std::int64_t i = 0; i < 6; ++i) EXPECT_DOUBLE_EQ(y.at(i), expected[i]) << "entry " << i;
  // Output 1x1 is global_avg_pool.
  Tensor one = autodiff::run_op("adaptive_avg_pool2d", {{"output_size", Ints{1, 1}}}, {x})[0];
  Tensor global = autodiff::run_op("global_avg_pool", {}, {x})[0];
  EXPECT_DOUBLE_EQ(one.at(0), global.at(0));
  // A size that divides the input is avg_pool2d with window = stride = input / output.
  Tensor x2 = autodiff::example_inputs({.inputs = {{.shape = {2, 3, 6, 4}}}}, 3)[0];
  Tensor adaptive = autodiff::run_op("adaptive_avg_pool2d", {{"output_size", Ints{3, 2}}}, {x2})[0];
  Tensor avg = autodiff::run_op("avg_pool2d", pool2d_attrs({2, 2}, {2, 2}), {x2})[0];
  ASSERT_EQ(adaptive.shape(), avg.shape());
  for (std::int64_t i = 0; i < avg.numel(); ++i) EXPECT_NEAR(adaptive.at(i), avg.at(i), 1e-15) << "entry " << i;
}

// Old files name only window, stride and pad: the new attributes default to the old behaviour, and
// an op's canonical attributes spell the defaults out.
TEST(PoolGolden, NodesWithoutTheNewAttributesKeepTheOldBehaviour) {
  Graph g;
  Value x = g.input("x", {DType::f64, {1, 1, 5, 5}});
  for (const char* op : {"max_pool2d", "max_pool2d_with_indices", "avg_pool2d"}) {
    Value y = g.add_node(op, {x}, pool2d_attrs({2, 2}, {2, 2}, {1, 1}))[0];
    EXPECT_EQ(y.shape(), (Shape{1, 1, 3, 3})) << op;
    const AttrMap& attrs = g.node(g.value(y.id()).producer).attrs;
    EXPECT_EQ(std::get<bool>(attrs.at("ceil_mode")), false) << op;
  }
  Tensor x5 = autodiff::example_inputs({.inputs = {{.shape = {1, 1, 5, 5}}}}, 4)[0];
  AttrMap explicit_attrs = pool2d_attrs({3, 3}, {2, 2}, {1, 1});
  explicit_attrs["count_include_pad"] = true;
  explicit_attrs["ceil_mode"] = false;
  EXPECT_TRUE(bitwise_equal(autodiff::run_op("avg_pool2d", pool2d_attrs({3, 3}, {2, 2}, {1, 1}), {x5})[0],
                            autodiff::run_op("avg_pool2d", explicit_attrs, {x5})[0]));
}

TEST(PoolErrors, DilationMustBePositive) {
  EXPECT_THAT(build_error({1, 1, 4, 4}, [](Value x) { ops::max_pool2d(x, {2, 2}, {1, 1}, {0, 0}, {.dilation = {0, 1}}); }),
              AllOf(HasSubstr("op 'max_pool2d_with_indices'"), HasSubstr("height dilation 0 must be positive")));
  EXPECT_THAT(node_error("max_pool2d", {1, 1, 4, 4}, {{"window", Ints{2, 2}}, {"stride", Ints{1, 1}}, {"dilation", Ints{1, -2}}}),
              AllOf(HasSubstr("op 'max_pool2d'"), HasSubstr("width dilation -2 must be positive")));
  EXPECT_THAT(node_error("max_pool1d", {1, 1, 4}, {{"window", std::int64_t{2}}, {"stride", std::int64_t{1}}, {"dilation", std::int64_t{0}}}),
              AllOf(HasSubstr("op 'max_pool1d'"), HasSubstr("length dilation 0 must be positive")));
}

TEST(PoolErrors, DilatedWindowLargerThanPaddedInput) {
  EXPECT_THAT(build_error({1, 1, 8, 5}, [](Value x) { ops::max_pool2d(x, {2, 3}, {1, 1}, {0, 0}, {.dilation = {1, 3}}); }),
              AllOf(HasSubstr("op 'max_pool2d_with_indices'"), HasSubstr("[1,1,8,5]"),
                    HasSubstr("width window 3 with dilation 3 spans 7, more than the padded input width (5 + 2 * pad 0)")));
  EXPECT_THAT(node_error("max_pool1d", {1, 1, 4}, {{"window", std::int64_t{3}}, {"stride", std::int64_t{1}}, {"dilation", std::int64_t{2}}}),
              HasSubstr("length window 3 with dilation 2 spans 5, more than the padded input length (4 + 2 * pad 0)"));
  // Padding can make room for it.
  EXPECT_EQ(build_error({1, 1, 8, 5}, [](Value x) { ops::max_pool2d(x, {2, 3}, {1, 1}, {0, 1}, {.dilation = {1, 3}}); }), "");
}

TEST(PoolErrors, HugeAttributesDoNotOverflow) {
  const std::int64_t huge = std::int64_t{1} << 62;
  EXPECT_THAT(build_error({1, 1, 4, 4}, [&](Value x) { ops::max_pool2d(x, {2, 2}, {1, 1}, {huge, 0}); }),
              HasSubstr("height pad 4611686018427387904 is too large for the input height 4"));
  EXPECT_THAT(build_error({1, 1, 4, 4}, [&](Value x) { ops::max_pool2d(x, {2, huge}, {1, 1}, {0, 0}, {.dilation = {1, 4}}); }),
              HasSubstr("width window 4611686018427387904 with dilation 4 is too large"));
  // Millions of windows left of a 1-wide input, a dilation wider than it: checked in constant work.
  EXPECT_THAT(build_error({1, 1, 4, 1}, [&](Value x) { ops::max_pool2d(x, {1, 3}, {1, 1}, {0, 1 << 22}, {.dilation = {1, (1 << 21) + 1}}); }),
              HasSubstr("width dilation 2097153 steps over the input width 1 from windows in the padding (pad 4194304, "
                        "stride 1, window 3); every window must cover at least one input cell"));
}

TEST(PoolErrors, OptionsThatDoNotApply) {
  EXPECT_THAT(build_error({1, 1, 4, 4}, [](Value x) { ops::max_pool2d(x, {2, 2}, {2, 2}, {0, 0}, {.count_include_pad = false}); }),
              HasSubstr("PoolOptions::count_include_pad = false applies to average pooling only"));
  EXPECT_THAT(build_error({1, 1, 4, 4}, [](Value x) { ops::avg_pool2d(x, {2, 2}, {2, 2}, {0, 0}, {.dilation = {2, 1}}); }),
              HasSubstr("PoolOptions::dilation {2,1} applies to max pooling only"));
  // Average pooling has no dilation attribute at all, so a file cannot give it one.
  EXPECT_THAT(node_error("avg_pool2d", {1, 1, 4, 4}, {{"window", Ints{2, 2}}, {"stride", Ints{1, 1}}, {"dilation", Ints{2, 2}}}),
              HasSubstr("unknown attribute 'dilation'"));
  EXPECT_THAT(node_error("max_pool2d", {1, 1, 4, 4}, {{"window", Ints{2, 2}}, {"stride", Ints{1, 1}}, {"ceil_mode", std::int64_t{1}}}),
              HasSubstr("attribute 'ceil_mode' must be bool"));
}

TEST(PoolErrors, BackwardOpsCheckDyAgainstTheCeilAndDilatedShape) {
  Graph g;
  Value x = g.input("x", {DType::f64, {1, 2, 5, 5}});
  Value dy = g.input("dy", {DType::f64, {1, 2, 2, 2}});  // floor's shape; ceil_mode gives 3x3
  AttrMap attrs = pool2d_attrs({2, 2}, {2, 2});
  attrs["ceil_mode"] = true;
  try {
    g.add_node("max_pool2d_grad", {x, dy}, attrs);
    ADD_FAILURE() << "max_pool2d_grad accepted dy of the floor shape";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), AllOf(HasSubstr("op 'max_pool2d_grad'"), HasSubstr("dy shape [1,2,2,2]"),
                                HasSubstr("pooled output shape [1,2,3,3]")));
  }
  Value indices = g.input("indices", {DType::i64, {1, 2, 2, 2}});
  AttrMap dilated = pool2d_attrs({2, 2}, {1, 1});
  dilated["dilation"] = Ints{2, 2};  // a span of 3: 3x3 outputs
  dilated["input_size"] = Ints{5, 5};
  try {
    g.add_node("max_pool2d_with_indices_grad", {indices, g.input("dy3", {DType::f64, {1, 2, 2, 2}})}, dilated);
    ADD_FAILURE() << "max_pool2d_with_indices_grad accepted dy of the undilated shape";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), AllOf(HasSubstr("op 'max_pool2d_with_indices_grad'"),
                                HasSubstr("dy shape [1,2,2,2] must equal the pooled shape [1,2,3,3] of input [1,2,5,5]")));
  }
}

TEST(PoolErrors, GlobalMaxPoolRejectsBadInput) {
  EXPECT_THAT(build_error({2, 3}, [](Value x) { ops::global_max_pool(x); }),
              AllOf(HasSubstr("op 'global_max_pool'"), HasSubstr("must have rank 4"), HasSubstr("[2,3]")));
  EXPECT_THAT(build_error({1, 2, 3, 0}, [](Value x) { ops::global_max_pool(x); }),
              AllOf(HasSubstr("op 'global_max_pool'"), HasSubstr("height 3 x width 0 must not be empty")));
}

TEST(PoolErrors, AdaptiveAvgPoolRejectsBadSizes) {
  EXPECT_THAT(build_error({1, 2, 4, 4}, [](Value x) { ops::adaptive_avg_pool2d(x, {0, 2}); }),
              AllOf(HasSubstr("op 'adaptive_avg_pool2d'"), HasSubstr("output_size 0x2 must be positive")));
  EXPECT_THAT(build_error({1, 2, 4, 4}, [](Value x) { ops::adaptive_avg_pool2d(x, {3, -1}); }),
              HasSubstr("output_size 3x-1 must be positive"));
  EXPECT_THAT(build_error({1, 2, 0, 4}, [](Value x) { ops::adaptive_avg_pool2d(x, {2, 2}); }),
              HasSubstr("input height 0 x width 4 must not be empty (every window needs a cell)"));
  EXPECT_THAT(build_error({2, 4, 4}, [](Value x) { ops::adaptive_avg_pool2d(x, {2, 2}); }),
              AllOf(HasSubstr("op 'adaptive_avg_pool2d'"), HasSubstr("must have rank 4")));
  EXPECT_THAT(node_error("adaptive_avg_pool2d", {1, 1, 4, 4}, {{"output_size", Ints{2}}}),
              HasSubstr("attribute 'output_size' needs 2 values"));
  EXPECT_THAT(node_error("adaptive_avg_pool2d", {1, 1, 4, 4}, {}), HasSubstr("missing required attribute 'output_size'"));
  EXPECT_THAT(node_error("adaptive_avg_pool2d_grad", {1, 1, 2, 2}, {{"input_size", Ints{-1, 4}}}),
              AllOf(HasSubstr("op 'adaptive_avg_pool2d_grad'"), HasSubstr("input_size -1x4 has a negative dim")));
  EXPECT_THAT(node_error("adaptive_avg_pool2d_grad", {1, 1, 2, 2}, {{"input_size", Ints{0, 4}}}),
              HasSubstr("input height 0 x width 4 must not be empty"));
  EXPECT_THAT(node_error("adaptive_avg_pool2d_grad", {1, 1, 0, 2}, {{"input_size", Ints{3, 4}}}),
              HasSubstr("dy height 0 x width 2 must not be empty"));
}

// The new backward kernels and options accumulate in a fixed order too.
TEST(PoolDeterminism, NewOptionsAreBitwiseIndependentOfThreadCount) {
  std::vector<std::pair<std::string, OpExample>> cases = {
      {"max_pool2d_grad",
       {.attrs = {{"window", Ints{3, 3}}, {"stride", Ints{1, 2}}, {"pad", Ints{2, 2}}, {"dilation", Ints{2, 2}}, {"ceil_mode", true}},
        .inputs = {{.shape = {8, 16, 20, 21}}, {.shape = {8, 16, 20, 11}}}}},
      {"avg_pool2d_grad",
       {.attrs = {{"x_shape", Ints{8, 16, 20, 20}}, {"window", Ints{3, 3}}, {"stride", Ints{2, 2}}, {"pad", Ints{1, 1}},
                  {"ceil_mode", true}, {"count_include_pad", false}},
        .inputs = {{.shape = {8, 16, 11, 11}}}}},
      {"adaptive_avg_pool2d_grad", {.attrs = {{"input_size", Ints{20, 23}}}, .inputs = {{.shape = {8, 16, 7, 6}}}}},
      {"adaptive_avg_pool2d", {.attrs = {{"output_size", Ints{7, 6}}}, .inputs = {{.shape = {8, 16, 20, 23}}}}},
      {"global_max_pool", {.inputs = {{.shape = {8, 16, 20, 23}}}}}};
  for (const auto& [op, example] : cases) {
    std::vector<Tensor> inputs = autodiff::example_inputs(example, 7);
    for (Tensor& t : inputs) t = t.to(DType::f32);
    Tensor parallel = autodiff::run_op(op, example.attrs, inputs)[0];
    Tensor serial;
    {
      tbb::global_control one_thread(tbb::global_control::max_allowed_parallelism, 1);
      serial = autodiff::run_op(op, example.attrs, inputs)[0];
    }
    EXPECT_TRUE(bitwise_equal(parallel, serial)) << op;
  }
}

}  // namespace
}  // namespace dagrad::testing
