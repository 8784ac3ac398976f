// References, golden examples and bad-input errors for the pooling ops.
#include <gmock/gmock.h>
#include <tuple>

#include <gtest/gtest.h>

#include <oneapi/tbb/global_control.h>

#include <cmath>
#include <functional>
#include <limits>
#include <tuple>

#include "autodiff/gradcheck.h"
#include "ops/kernels/pool.h"
#include "ops/ops.h"
#include "tests/op_cases.h"

namespace dagrad::testing {
namespace {

using Ints = std::vector<std::int64_t>;
using ::testing::AllOf;
using ::testing::HasSubstr;
constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// Window settings of a 2-D pooling op, read from its attributes (pad defaults to 0).
struct Window2d {
  std::int64_t kh, kw, sh, sw, ph = 0, pw = 0;
};
Window2d window_of(const AttrMap& attrs) {
  Ints window = std::get<Ints>(attrs.at("window"));
  Ints stride = std::get<Ints>(attrs.at("stride"));
  Window2d w{window[0], window[1], stride[0], stride[1]};
  if (attrs.count("pad")) w.ph = std::get<Ints>(attrs.at("pad"))[0], w.pw = std::get<Ints>(attrs.at("pad"))[1];
  return w;
}
std::int64_t out_extent(std::int64_t in, std::int64_t k, std::int64_t s, std::int64_t p) { return (in + 2 * p - k) / s + 1; }

// Index into x [N,C,H,W] of the first maximum of the window of output (n, c, oh, ow); padded cells are -inf.
std::int64_t reference_argmax(const Tensor& x, const Window2d& w, std::int64_t n, std::int64_t c, std::int64_t oh, std::int64_t ow) {
  const Shape& s = x.shape();
  double best = kNegInf;
  std::int64_t best_at = -1;
  for (std::int64_t i = 0; i < w.kh; ++i)
    for (std::int64_t j = 0; j < w.kw; ++j) {
      std::int64_t h = oh * w.sh - w.ph + i, v = ow * w.sw - w.pw + j;
      bool inside = h >= 0 && h < s[2] && v >= 0 && v < s[3];
      std::int64_t at_x = ((n * s[1] + c) * s[2] + h) * s[3] + v;
      double value = inside ? x.at(at_x) : kNegInf;
      if (value > best) best = value, best_at = at_x;
    }
  return best_at;
}

std::vector<Tensor> max_pool2d_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  Window2d w = window_of(attrs);
  const Shape& s = in[0].shape();
  Shape ys = {s[0], s[1], out_extent(s[2], w.kh, w.sh, w.ph), out_extent(s[3], w.kw, w.sw, w.pw)};
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
  std::int64_t k = std::get<std::int64_t>(attrs.at("window")), s = std::get<std::int64_t>(attrs.at("stride"));
  std::int64_t p = attrs.count("pad") ? std::get<std::int64_t>(attrs.at("pad")) : 0;
  const Shape& xs = in[0].shape();
  Shape ys = {xs[0], xs[1], out_extent(xs[2], k, s, p)};
  Tensor y = zeros_f64(ys);
  for (std::int64_t r = 0; r < xs[0] * xs[1]; ++r)
    for (std::int64_t o = 0; o < ys[2]; ++o) {
      double best = kNegInf;
      for (std::int64_t i = 0; i < k; ++i) {
        std::int64_t l = o * s - p + i;
        double value = l >= 0 && l < xs[2] ? in[0].at(r * xs[2] + l) : kNegInf;
        best = std::max(best, value);
      }
      at(y, r * ys[2] + o) = best;
    }
  return {y};
}

// Zero padding counts in the divisor: every window divides by kh * kw.
std::vector<Tensor> avg_pool2d_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  Window2d w = window_of(attrs);
  const Shape& s = in[0].shape();
  Shape ys = {s[0], s[1], out_extent(s[2], w.kh, w.sh, w.ph), out_extent(s[3], w.kw, w.sw, w.pw)};
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
          at(y, k++) = sum / static_cast<double>(w.kh * w.kw);
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
          double share = in[0].at(k++) / static_cast<double>(w.kh * w.kw);
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
// ties, NaNs and -inf about, for strides 1 and 2 and odd sizes; the plain op agrees bitwise.
TEST(PoolGolden, VectorizedFloatPoolingKeepsTheTieAndNaNRules) {
  for (const auto& [window, stride, pad] : {std::tuple{Ints{3, 3}, Ints{2, 2}, Ints{1, 1}}, std::tuple{Ints{2, 2}, Ints{2, 2}, Ints{0, 0}},
                                            std::tuple{Ints{3, 3}, Ints{1, 1}, Ints{1, 1}}, std::tuple{Ints{2, 3}, Ints{1, 2}, Ints{1, 0}}}) {
    const AttrMap attrs = {{"window", window}, {"stride", stride}, {"pad", pad}};
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
        xf.shape(), plain.shape(), {window[0], window[1]}, {stride[0], stride[1]}, {pad[0], pad[1]});
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

TEST(PoolErrors, PadMustBeAtMostHalfTheWindow) {
  EXPECT_THAT(build_error({1, 1, 6, 6}, [](Value x) { ops::max_pool2d(x, {3, 3}, {1, 1}, {2, 1}); }),
              AllOf(HasSubstr("op 'max_pool2d_with_indices'"), HasSubstr("height pad 2 must be at most half the height window 3")));
  EXPECT_THAT(build_error({1, 1, 6, 6}, [](Value x) { ops::avg_pool2d(x, {2, 1}, {1, 1}, {1, 1}); }),
              AllOf(HasSubstr("op 'avg_pool2d'"), HasSubstr("width pad 1 must be at most half the width window 1")));
  EXPECT_THAT(build_error({1, 1, 6}, [](Value x) { ops::max_pool1d(x, 2, 1, 2); }),
              AllOf(HasSubstr("op 'max_pool1d'"), HasSubstr("length pad 2 must be at most half the length window 2")));
  // Exactly half is allowed.
  EXPECT_EQ(build_error({1, 1, 6, 6}, [](Value x) { ops::max_pool2d(x, {2, 2}, {2, 2}, {1, 1}); }), "");
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

}  // namespace
}  // namespace dagrad::testing
