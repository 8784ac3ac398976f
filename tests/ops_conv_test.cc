// References and golden tests for conv2d, conv2d_grad_input, conv2d_grad_filter and conv1d.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <oneapi/tbb/global_control.h>

#include <array>

#include "autodiff/gradcheck.h"
#include "ops/ops.h"
#include "tests/op_cases.h"

namespace dagrad::testing {
namespace {

using Ints = std::vector<std::int64_t>;
using ::testing::HasSubstr;

std::array<std::int64_t, 2> int2_attr(const AttrMap& attrs, const char* name, std::int64_t fallback) {
  auto it = attrs.find(name);
  if (it == attrs.end()) return {fallback, fallback};
  const Ints& v = std::get<Ints>(it->second);
  return {v[0], v[1]};
}

Shape shape_attr(const AttrMap& attrs, const char* name) { return std::get<Ints>(attrs.at(name)); }

// Indices of [A,B,C,D] tensors.
std::int64_t at4(const Shape& s, std::int64_t a, std::int64_t b, std::int64_t c, std::int64_t d) {
  return ((a * s[1] + b) * s[2] + c) * s[3] + d;
}

// Everything below is written straight from the definition of a strided, zero-padded
// cross-correlation y[n,f,oy,ox] = b[f] + sum_{c,i,j} x[n,c,oy*sh-ph+i,ox*sw-pw+j] w[f,c,i,j]: the
// forward loops it, and the two backward references scatter each of its terms back.
struct Geometry {
  Shape x, w, y;
  std::array<std::int64_t, 2> stride, pad;
};

Geometry geometry(const Shape& x, const Shape& w, std::array<std::int64_t, 2> stride, std::array<std::int64_t, 2> pad) {
  Shape y = {x[0], w[0], (x[2] + 2 * pad[0] - w[2]) / stride[0] + 1, (x[3] + 2 * pad[1] - w[3]) / stride[1] + 1};
  return {x, w, y, stride, pad};
}

// Calls term(x index, w index, y index) for every product in the convolution sum.
template <class Term> void for_each_term(const Geometry& g, const Term& term) {
  for (std::int64_t n = 0; n < g.y[0]; ++n)
    for (std::int64_t f = 0; f < g.y[1]; ++f)
      for (std::int64_t oy = 0; oy < g.y[2]; ++oy)
        for (std::int64_t ox = 0; ox < g.y[3]; ++ox)
          for (std::int64_t c = 0; c < g.x[1]; ++c)
            for (std::int64_t i = 0; i < g.w[2]; ++i)
              for (std::int64_t j = 0; j < g.w[3]; ++j) {
                std::int64_t iy = oy * g.stride[0] - g.pad[0] + i, ix = ox * g.stride[1] - g.pad[1] + j;
                if (iy < 0 || iy >= g.x[2] || ix < 0 || ix >= g.x[3]) continue;
                term(at4(g.x, n, c, iy, ix), at4(g.w, f, c, i, j), at4(g.y, n, f, oy, ox));
              }
}

Tensor conv2d_naive(const Tensor& x, const Tensor& w, const Tensor* bias, std::array<std::int64_t, 2> stride,
                    std::array<std::int64_t, 2> pad) {
  Geometry g = geometry(x.shape(), w.shape(), stride, pad);
  Tensor y = zeros_f64(g.y);
  if (bias)
    for (std::int64_t k = 0; k < y.numel(); ++k) at(y, k) = bias->at((k / (g.y[2] * g.y[3])) % g.y[1]);
  for_each_term(g, [&](std::int64_t xi, std::int64_t wi, std::int64_t yi) { at(y, yi) += x.at(xi) * w.at(wi); });
  return y;
}

std::vector<Tensor> conv2d_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  return {conv2d_naive(in[0], in[1], in.size() == 3 ? &in[2] : nullptr, int2_attr(attrs, "stride", 1),
                       int2_attr(attrs, "pad", 0))};
}

std::vector<Tensor> conv2d_grad_input_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  const Tensor &dy = in[0], &w = in[1];
  Geometry g = geometry(shape_attr(attrs, "x_shape"), w.shape(), int2_attr(attrs, "stride", 1), int2_attr(attrs, "pad", 0));
  Tensor dx = zeros_f64(g.x);
  for_each_term(g, [&](std::int64_t xi, std::int64_t wi, std::int64_t yi) { at(dx, xi) += dy.at(yi) * w.at(wi); });
  return {dx};
}

std::vector<Tensor> conv2d_grad_filter_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  const Tensor &x = in[0], &dy = in[1];
  Geometry g = geometry(x.shape(), shape_attr(attrs, "w_shape"), int2_attr(attrs, "stride", 1), int2_attr(attrs, "pad", 0));
  Tensor dw = zeros_f64(g.w);
  for_each_term(g, [&](std::int64_t xi, std::int64_t wi, std::int64_t yi) { at(dw, wi) += dy.at(yi) * x.at(xi); });
  return {dw};
}

// conv1d is conv2d of [N,C,1,L] by [F,C,1,K].
std::vector<Tensor> conv1d_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  auto scalar = [&](const char* name, std::int64_t fallback) {
    auto it = attrs.find(name);
    return it == attrs.end() ? fallback : std::get<std::int64_t>(it->second);
  };
  auto image = [](const Tensor& t) { return t.reshaped({t.dim(0), t.dim(1), 1, t.dim(2)}); };
  Tensor y = conv2d_naive(image(in[0]), image(in[1]), in.size() == 3 ? &in[2] : nullptr, {1, scalar("stride", 1)},
                          {0, scalar("pad", 0)});
  return {y.reshaped({y.dim(0), y.dim(1), y.dim(3)})};
}

}  // namespace

DAGRAD_OP_REFERENCES(conv) {
  return {
      {"conv2d", {conv2d_reference}},
      {"conv2d_grad_input", {conv2d_grad_input_reference}},
      {"conv2d_grad_filter", {conv2d_grad_filter_reference}},
      {"conv1d", {conv1d_reference}},
  };
}

namespace {

Tensor run1(const std::string& op, const AttrMap& attrs, const std::vector<Tensor>& inputs) {
  return autodiff::run_op(op, attrs, inputs).at(0);
}

void expect_values(const Tensor& got, const Shape& shape, const std::vector<double>& want) {
  ASSERT_EQ(to_string(got.shape()), to_string(shape));
  for (std::int64_t i = 0; i < got.numel(); ++i) EXPECT_DOUBLE_EQ(got.at(i), want[i]) << "entry " << i;
}

}  // namespace

// The lecture's example: input 0 1 0 1 1 correlated with the filter -1 1.
TEST(ConvGolden, Lecture1d) {
  Tensor x = Tensor::from<double>({1, 1, 5}, {0, 1, 0, 1, 1});
  Tensor w = Tensor::from<double>({1, 1, 2}, {-1, 1});
  expect_values(run1("conv1d", {}, {x, w}), {1, 1, 4}, {1, -1, 1, 0});
  expect_values(run1("conv1d", {}, {x.to(DType::f32), w.to(DType::f32)}), {1, 1, 4}, {1, -1, 1, 0});
}

// The same with padding 1: the zero-padded input is 0 0 1 0 1 1 0.
TEST(ConvGolden, Lecture1dPadding1) {
  Tensor x = Tensor::from<double>({1, 1, 5}, {0, 1, 0, 1, 1});
  Tensor w = Tensor::from<double>({1, 1, 2}, {-1, 1});
  expect_values(run1("conv1d", {{"pad", std::int64_t{1}}}, {x, w}), {1, 1, 6}, {0, 1, -1, 1, 0, -1});
}

// x = 1..16 as a 4x4 image, filter [[1,2],[3,4]], stride 2: each output sees one disjoint 2x2 block.
TEST(ConvGolden, Stride2) {
  std::vector<double> pixels(16);
  for (int i = 0; i < 16; ++i) pixels[i] = i + 1;
  Tensor x = Tensor::from<double>({1, 1, 4, 4}, pixels);
  Tensor w = Tensor::from<double>({1, 1, 2, 2}, {1, 2, 3, 4});
  // 1+2*2+3*5+4*6, 3+2*4+3*7+4*8, 9+2*10+3*13+4*14, 11+2*12+3*15+4*16
  expect_values(run1("conv2d", {{"stride", Ints{2, 2}}}, {x, w}), {1, 1, 2, 2}, {44, 64, 124, 144});
}

// x = 1..9 as a 3x3 image, an all-ones 3x3 filter, pad 1: each output is its 3x3 neighbourhood sum.
TEST(ConvGolden, Padding1) {
  Tensor x = Tensor::from<double>({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  Tensor w = Tensor::from<double>({1, 1, 3, 3}, std::vector<double>(9, 1.0));
  expect_values(run1("conv2d", {{"pad", Ints{1, 1}}}, {x, w}), {1, 1, 3, 3}, {12, 21, 16, 27, 45, 33, 24, 39, 28});
}

// Two input channels, two 2x2 filters and a bias:
//   channel 0 = [[1,2,3],[4,5,6],[7,8,9]], channel 1 = [[1,0,1],[0,1,0],[1,0,1]]
//   filter 0: [[1,0],[0,1]] on channel 0, [[1,1],[1,1]] on channel 1, bias 1
//     -> (x0[i,j] + x0[i+1,j+1]) + (window sum of x1 = 2) + 1 = 9 11 / 15 17
//   filter 1: [[0,1],[-1,0]] on channel 0, [[2,0],[0,0]] on channel 1, bias -1
//     -> (x0[i,j+1] - x0[i+1,j] = -2) + 2 x1[i,j] - 1 = -1 -3 / -3 -1
TEST(ConvGolden, MultiChannelSeveralFilters) {
  Tensor x = Tensor::from<double>({1, 2, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 0, 1, 0, 1, 0, 1, 0, 1});
  Tensor w = Tensor::from<double>({2, 2, 2, 2}, {1, 0, 0, 1, 1, 1, 1, 1, 0, 1, -1, 0, 2, 0, 0, 0});
  Tensor b = Tensor::from<double>({2}, {1, -1});
  expect_values(run1("conv2d", {}, {x, w, b}), {1, 2, 2, 2}, {9, 11, 15, 17, -1, -3, -3, -1});
}

// The filter gradient sums over images in a fixed order, and every kernel splits work by image:
// results must not depend on the number of threads.
TEST(ConvDeterminism, SameBitsForAnyThreadCount) {
  OpExample example{.inputs = {{.shape = {13, 4, 9, 9}}, {.shape = {6, 4, 3, 3}}, {.shape = {6}}}};
  std::vector<Tensor> in = autodiff::example_inputs(example, 7);
  for (Tensor& t : in) t = t.to(DType::f32);
  const AttrMap attrs = {{"stride", Ints{2, 2}}, {"pad", Ints{1, 1}}};
  auto run_all = [&] {
    Tensor y = run1("conv2d", attrs, in);
    Tensor dx = run1("conv2d_grad_input", {{"x_shape", Ints{13, 4, 9, 9}}, {"stride", Ints{2, 2}}, {"pad", Ints{1, 1}}},
                     {y, in[1]});
    Tensor dw = run1("conv2d_grad_filter", {{"w_shape", Ints{6, 4, 3, 3}}, {"stride", Ints{2, 2}}, {"pad", Ints{1, 1}}},
                     {in[0], y});
    return std::vector{y, dx, dw};
  };
  std::vector<Tensor> one, many;
  {
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, 1);
    one = run_all();
  }
  {
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, 8);
    many = run_all();
  }
  for (std::size_t k = 0; k < one.size(); ++k) EXPECT_TRUE(bitwise_equal(one[k], many[k])) << "output " << k;
}

namespace {

// Builds op on fresh inputs of the given shapes and returns the error message ("" when none).
std::string error_of(const std::function<void(Graph&)>& build) {
  Graph g;
  try {
    build(g);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

Value in(Graph& g, const std::string& name, Shape shape, DType dtype = DType::f32) {
  return g.input(name, {dtype, std::move(shape)});
}

}  // namespace

TEST(ConvErrors, ZeroStride) {
  std::string msg = error_of([](Graph& g) { ops::conv2d(in(g, "x", {1, 1, 4, 4}), in(g, "w", {1, 1, 2, 2}), {}, {0, 1}); });
  EXPECT_THAT(msg, HasSubstr("op 'conv2d'"));
  EXPECT_THAT(msg, HasSubstr("stride must be positive, got [0,1]"));
  msg = error_of([](Graph& g) { ops::conv1d(in(g, "x", {1, 1, 4}), in(g, "w", {1, 1, 2}), {}, -2); });
  EXPECT_THAT(msg, HasSubstr("op 'conv1d'"));
  EXPECT_THAT(msg, HasSubstr("stride must be positive, got [-2]"));
}

TEST(ConvErrors, NegativePad) {
  std::string msg = error_of([](Graph& g) { ops::conv2d(in(g, "x", {1, 1, 4, 4}), in(g, "w", {1, 1, 2, 2}), {}, {1, 1}, {0, -1}); });
  EXPECT_THAT(msg, HasSubstr("op 'conv2d'"));
  EXPECT_THAT(msg, HasSubstr("pad must be non-negative, got [0,-1]"));
}

TEST(ConvErrors, KernelLargerThanPaddedInput) {
  std::string msg = error_of([](Graph& g) { ops::conv2d(in(g, "x", {1, 1, 3, 4}), in(g, "w", {1, 1, 5, 5}), {}, {1, 1}, {0, 1}); });
  EXPECT_THAT(msg, HasSubstr("op 'conv2d'"));
  EXPECT_THAT(msg, HasSubstr("kernel 5x5 of filter [1,1,5,5] is larger than the padded input 3x6"));
  EXPECT_THAT(msg, HasSubstr("input 3x4"));
  msg = error_of([](Graph& g) { ops::conv1d(in(g, "x", {2, 1, 3}), in(g, "w", {1, 1, 4})); });
  EXPECT_THAT(msg, HasSubstr("op 'conv1d'"));
  EXPECT_THAT(msg, HasSubstr("kernel 4 of filter [1,1,4] is larger than the padded input 3"));
}

TEST(ConvErrors, WrongChannelCount) {
  std::string msg = error_of([](Graph& g) { ops::conv2d(in(g, "x", {1, 3, 4, 4}), in(g, "w", {2, 4, 3, 3})); });
  EXPECT_THAT(msg, HasSubstr("op 'conv2d'"));
  EXPECT_THAT(msg, HasSubstr("x [1,3,4,4] has 3 channels but the filter [2,4,3,3] expects 4 channels"));
}

TEST(ConvErrors, MismatchedBias) {
  std::string msg =
      error_of([](Graph& g) { ops::conv2d(in(g, "x", {1, 3, 4, 4}), in(g, "w", {2, 3, 3, 3}), in(g, "b", {3})); });
  EXPECT_THAT(msg, HasSubstr("op 'conv2d'"));
  EXPECT_THAT(msg, HasSubstr("bias must have shape [2]"));
  EXPECT_THAT(msg, HasSubstr("got [3]"));
  msg = error_of([](Graph& g) { ops::conv1d(in(g, "x", {1, 3, 4}), in(g, "w", {2, 3, 3}), in(g, "b", {2, 1})); });
  EXPECT_THAT(msg, HasSubstr("op 'conv1d'"));
  EXPECT_THAT(msg, HasSubstr("bias must have shape [2]"));
  EXPECT_THAT(msg, HasSubstr("got [2,1]"));
}

TEST(ConvErrors, WrongRank) {
  std::string msg = error_of([](Graph& g) { ops::conv2d(in(g, "x", {3, 4, 4}), in(g, "w", {2, 3, 3, 3})); });
  EXPECT_THAT(msg, HasSubstr("op 'conv2d'"));
  EXPECT_THAT(msg, HasSubstr("x must have rank 4 [N,C,H,W], got shape [3,4,4]"));
  msg = error_of([](Graph& g) { ops::conv2d(in(g, "x", {1, 3, 4, 4}), in(g, "w", {3, 3, 3})); });
  EXPECT_THAT(msg, HasSubstr("filter must have rank 4 [F,C,KH,KW], got shape [3,3,3]"));
  msg = error_of([](Graph& g) { ops::conv1d(in(g, "x", {1, 3, 4, 4}), in(g, "w", {2, 3, 3})); });
  EXPECT_THAT(msg, HasSubstr("op 'conv1d'"));
  EXPECT_THAT(msg, HasSubstr("x must have rank 3 [N,C,L], got shape [1,3,4,4]"));
}

TEST(ConvErrors, DtypeMismatch) {
  std::string msg =
      error_of([](Graph& g) { ops::conv2d(in(g, "x", {1, 1, 4, 4}), in(g, "w", {1, 1, 2, 2}, DType::f64)); });
  EXPECT_THAT(msg, HasSubstr("op 'conv2d'"));
  EXPECT_THAT(msg, HasSubstr("same dtype"));
}

TEST(ConvErrors, BackwardOpsCheckShapes) {
  std::string msg = error_of([](Graph& g) {
    ops::conv2d_grad_input(in(g, "dy", {1, 2, 3, 3}), in(g, "w", {2, 1, 2, 2}), {1, 1, 5, 5}, {1, 1}, {0, 0});
  });
  EXPECT_THAT(msg, HasSubstr("op 'conv2d_grad_input'"));
  EXPECT_THAT(msg, HasSubstr("dy must have the conv2d output shape [1,2,4,4]"));
  msg = error_of([](Graph& g) {
    ops::conv2d_grad_filter(in(g, "x", {1, 1, 5, 5}), in(g, "dy", {1, 2, 4, 4}), {2, 1, 2, 2}, {0, 1}, {0, 0});
  });
  EXPECT_THAT(msg, HasSubstr("op 'conv2d_grad_filter'"));
  EXPECT_THAT(msg, HasSubstr("stride must be positive"));
  msg = error_of([](Graph& g) {
    g.add_node("conv2d_grad_input", {in(g, "dy", {1, 2, 4, 4}), in(g, "w", {2, 1, 2, 2})}, {});
  });
  EXPECT_THAT(msg, HasSubstr("missing required attribute 'x_shape'"));
  msg = error_of([](Graph& g) {
    ops::conv2d_grad_input(in(g, "dy", {1, 2, 4, 4}), in(g, "w", {2, 1, 2, 2}), {1, 1, -5, 5}, {1, 1}, {0, 0});
  });
  EXPECT_THAT(msg, HasSubstr("x shape [1,1,-5,5] has a negative dim"));
}

}  // namespace dagrad::testing
