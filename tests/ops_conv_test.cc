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

Ints ints_attr(const AttrMap& attrs, const char* name, Ints fallback) {
  auto it = attrs.find(name);
  return it == attrs.end() ? fallback : std::get<Ints>(it->second);
}
std::int64_t int_attr(const AttrMap& attrs, const char* name, std::int64_t fallback) {
  auto it = attrs.find(name);
  return it == attrs.end() ? fallback : std::get<std::int64_t>(it->second);
}

Shape shape_attr(const AttrMap& attrs, const char* name) { return std::get<Ints>(attrs.at(name)); }

// Indices of [A,B,C,D] tensors.
std::int64_t at4(const Shape& s, std::int64_t a, std::int64_t b, std::int64_t c, std::int64_t d) {
  return ((a * s[1] + b) * s[2] + c) * s[3] + d;
}

// Everything below is written straight from the definition of a strided, zero-padded, dilated,
// grouped cross-correlation
//   y[n,f,oy,ox] = b[f] + sum_{c,i,j} x[n, g(f)*C/G + c, oy*sh - pad_top + i*dh, ox*sw - pad_left + j*dw] w[f,c,i,j]
// with g(f) = f / (F/G): the forward loops it, and the backward references scatter its terms back.
struct Options {
  std::array<std::int64_t, 2> stride{1, 1}, pad_begin{0, 0}, pad_end{0, 0}, dilation{1, 1};
  std::int64_t groups = 1;
};

Options conv2d_options(const AttrMap& attrs) {
  Options o;
  const Ints stride = ints_attr(attrs, "stride", {1, 1}), pad = ints_attr(attrs, "pad", {0, 0}),
             dilation = ints_attr(attrs, "dilation", {1, 1});
  for (int i = 0; i < 2; ++i) {
    o.stride[i] = stride[i];
    o.dilation[i] = dilation[i];
    o.pad_begin[i] = pad[i];
    o.pad_end[i] = pad.size() == 4 ? pad[2 + i] : pad[i];
  }
  o.groups = int_attr(attrs, "groups", 1);
  return o;
}

struct Geometry {
  Shape x, w, y;
  Options o;
};

Geometry geometry(const Shape& x, const Shape& w, const Options& o) {
  Shape y = {x[0], w[0], 0, 0};
  for (int i = 0; i < 2; ++i)
    y[2 + i] = (x[2 + i] + o.pad_begin[i] + o.pad_end[i] - o.dilation[i] * (w[2 + i] - 1) - 1) / o.stride[i] + 1;
  return {x, w, y, o};
}

// Calls term(x index, w index, y index) for every product in the convolution sum.
template <class Term> void for_each_term(const Geometry& g, const Term& term) {
  const std::int64_t group_channels = g.w[1], group_filters = g.y[1] / g.o.groups;
  for (std::int64_t n = 0; n < g.y[0]; ++n)
    for (std::int64_t f = 0; f < g.y[1]; ++f)
      for (std::int64_t oy = 0; oy < g.y[2]; ++oy)
        for (std::int64_t ox = 0; ox < g.y[3]; ++ox)
          for (std::int64_t c = 0; c < group_channels; ++c)
            for (std::int64_t i = 0; i < g.w[2]; ++i)
              for (std::int64_t j = 0; j < g.w[3]; ++j) {
                std::int64_t iy = oy * g.o.stride[0] - g.o.pad_begin[0] + i * g.o.dilation[0];
                std::int64_t ix = ox * g.o.stride[1] - g.o.pad_begin[1] + j * g.o.dilation[1];
                if (iy < 0 || iy >= g.x[2] || ix < 0 || ix >= g.x[3]) continue;
                const std::int64_t channel = f / group_filters * group_channels + c;
                term(at4(g.x, n, channel, iy, ix), at4(g.w, f, c, i, j), at4(g.y, n, f, oy, ox));
              }
}

Tensor conv2d_naive(const Tensor& x, const Tensor& w, const Tensor* bias, const Options& o) {
  Geometry g = geometry(x.shape(), w.shape(), o);
  Tensor y = zeros_f64(g.y);
  if (bias)
    for (std::int64_t k = 0; k < y.numel(); ++k) at(y, k) = bias->at((k / (g.y[2] * g.y[3])) % g.y[1]);
  for_each_term(g, [&](std::int64_t xi, std::int64_t wi, std::int64_t yi) { at(y, yi) += x.at(xi) * w.at(wi); });
  return y;
}

std::vector<Tensor> conv2d_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  return {conv2d_naive(in[0], in[1], in.size() == 3 ? &in[2] : nullptr, conv2d_options(attrs))};
}

std::vector<Tensor> conv2d_grad_input_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  const Tensor &dy = in[0], &w = in[1];
  Geometry g = geometry(shape_attr(attrs, "x_shape"), w.shape(), conv2d_options(attrs));
  Tensor dx = zeros_f64(g.x);
  for_each_term(g, [&](std::int64_t xi, std::int64_t wi, std::int64_t yi) { at(dx, xi) += dy.at(yi) * w.at(wi); });
  return {dx};
}

std::vector<Tensor> conv2d_grad_filter_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  const Tensor &x = in[0], &dy = in[1];
  Geometry g = geometry(x.shape(), shape_attr(attrs, "w_shape"), conv2d_options(attrs));
  Tensor dw = zeros_f64(g.w);
  for_each_term(g, [&](std::int64_t xi, std::int64_t wi, std::int64_t yi) { at(dw, wi) += dy.at(yi) * x.at(xi); });
  return {dw};
}

// conv1d is conv2d of [N,C,1,L] by [F,C/groups,1,K].
std::vector<Tensor> conv1d_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  auto image = [](const Tensor& t) { return t.reshaped({t.dim(0), t.dim(1), 1, t.dim(2)}); };
  Options o;
  o.stride = {1, int_attr(attrs, "stride", 1)};
  o.dilation = {1, int_attr(attrs, "dilation", 1)};
  o.pad_begin = {0, int_attr(attrs, "pad", 0)};
  const std::int64_t pad_end = int_attr(attrs, "pad_end", -1);
  o.pad_end = {0, pad_end == -1 ? o.pad_begin[1] : pad_end};
  o.groups = int_attr(attrs, "groups", 1);
  Tensor y = conv2d_naive(image(in[0]), image(in[1]), in.size() == 3 ? &in[2] : nullptr, o);
  return {y.reshaped({y.dim(0), y.dim(1), y.dim(3)})};
}

// The transposed convolution scatters each x value through the filter: y is the x of the
// convolution whose output has x's shape, and every term of that convolution adds x * w onto y.
std::vector<Tensor> conv_transpose2d_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  const Tensor &x = in[0], &w = in[1];
  const Options o = conv2d_options(attrs);
  const Ints output_padding = ints_attr(attrs, "output_padding", {0, 0});
  Shape y_shape = {x.dim(0), w.dim(1) * o.groups, 0, 0};
  for (int i = 0; i < 2; ++i)
    y_shape[2 + i] = (x.dim(2 + i) - 1) * o.stride[i] - o.pad_begin[i] - o.pad_end[i] + o.dilation[i] * (w.dim(2 + i) - 1) +
                     output_padding[i] + 1;
  Geometry g = geometry(y_shape, w.shape(), o);
  g.y = x.shape();  // an output_padding of a stride or more adds rows of y that no x value reaches
  Tensor y = zeros_f64(y_shape);
  if (in.size() == 3)
    for (std::int64_t k = 0; k < y.numel(); ++k) at(y, k) = in[2].at((k / (y_shape[2] * y_shape[3])) % y_shape[1]);
  for_each_term(g, [&](std::int64_t yi, std::int64_t wi, std::int64_t xi) { at(y, yi) += x.at(xi) * w.at(wi); });
  return {y};
}

}  // namespace

DAGRAD_OP_REFERENCES(conv) {
  return {
      {"conv2d", {conv2d_reference}},
      {"conv2d_grad_input", {conv2d_grad_input_reference}},
      {"conv2d_grad_filter", {conv2d_grad_filter_reference}},
      {"conv1d", {conv1d_reference}},
      {"conv_transpose2d", {conv_transpose2d_reference}},
  };
}

namespace {

// Values in [-1, 1), seeded.
Tensor random_f64(const Shape& shape, std::uint64_t seed) {
  return autodiff::example_inputs({.inputs = {{.shape = shape}}}, seed).at(0);
}

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

TEST(ConvErrors, ZeroStride) {
  std::string msg = build_error([](Graph& g) { ops::conv2d(input(g, "x", {1, 1, 4, 4}), input(g, "w", {1, 1, 2, 2}), {}, {0, 1}); });
  EXPECT_THAT(msg, HasSubstr("op 'conv2d'"));
  EXPECT_THAT(msg, HasSubstr("stride must be positive, got [0,1]"));
  msg = build_error([](Graph& g) { ops::conv1d(input(g, "x", {1, 1, 4}), input(g, "w", {1, 1, 2}), {}, -2); });
  EXPECT_THAT(msg, HasSubstr("op 'conv1d'"));
  EXPECT_THAT(msg, HasSubstr("stride must be positive, got [-2]"));
}

TEST(ConvErrors, NegativePad) {
  std::string msg = build_error([](Graph& g) { ops::conv2d(input(g, "x", {1, 1, 4, 4}), input(g, "w", {1, 1, 2, 2}), {}, {1, 1}, {0, -1}); });
  EXPECT_THAT(msg, HasSubstr("op 'conv2d'"));
  EXPECT_THAT(msg, HasSubstr("pad must be non-negative, got [0,-1]"));
}

TEST(ConvErrors, KernelLargerThanPaddedInput) {
  std::string msg = build_error([](Graph& g) { ops::conv2d(input(g, "x", {1, 1, 3, 4}), input(g, "w", {1, 1, 5, 5}), {}, {1, 1}, {0, 1}); });
  EXPECT_THAT(msg, HasSubstr("op 'conv2d'"));
  EXPECT_THAT(msg, HasSubstr("kernel 5x5 of filter [1,1,5,5] is larger than the padded input 3x6"));
  EXPECT_THAT(msg, HasSubstr("input 3x4"));
  msg = build_error([](Graph& g) { ops::conv1d(input(g, "x", {2, 1, 3}), input(g, "w", {1, 1, 4})); });
  EXPECT_THAT(msg, HasSubstr("op 'conv1d'"));
  EXPECT_THAT(msg, HasSubstr("kernel 4 of filter [1,1,4] is larger than the padded input 3"));
}

TEST(ConvErrors, WrongChannelCount) {
  std::string msg = build_error([](Graph& g) { ops::conv2d(input(g, "x", {1, 3, 4, 4}), input(g, "w", {2, 4, 3, 3})); });
  EXPECT_THAT(msg, HasSubstr("op 'conv2d'"));
  EXPECT_THAT(msg, HasSubstr("x [1,3,4,4] has 3 channels but the filter [2,4,3,3] expects 4 channels"));
}

TEST(ConvErrors, MismatchedBias) {
  std::string msg =
      build_error([](Graph& g) { ops::conv2d(input(g, "x", {1, 3, 4, 4}), input(g, "w", {2, 3, 3, 3}), input(g, "b", {3})); });
  EXPECT_THAT(msg, HasSubstr("op 'conv2d'"));
  EXPECT_THAT(msg, HasSubstr("bias must have shape [2]"));
  EXPECT_THAT(msg, HasSubstr("got [3]"));
  msg = build_error([](Graph& g) { ops::conv1d(input(g, "x", {1, 3, 4}), input(g, "w", {2, 3, 3}), input(g, "b", {2, 1})); });
  EXPECT_THAT(msg, HasSubstr("op 'conv1d'"));
  EXPECT_THAT(msg, HasSubstr("bias must have shape [2]"));
  EXPECT_THAT(msg, HasSubstr("got [2,1]"));
}

TEST(ConvErrors, WrongRank) {
  std::string msg = build_error([](Graph& g) { ops::conv2d(input(g, "x", {3, 4, 4}), input(g, "w", {2, 3, 3, 3})); });
  EXPECT_THAT(msg, HasSubstr("op 'conv2d'"));
  EXPECT_THAT(msg, HasSubstr("x must have rank 4 [N,C,H,W], got shape [3,4,4]"));
  msg = build_error([](Graph& g) { ops::conv2d(input(g, "x", {1, 3, 4, 4}), input(g, "w", {3, 3, 3})); });
  EXPECT_THAT(msg, HasSubstr("filter must have rank 4 [F,C/groups,KH,KW], got shape [3,3,3]"));
  msg = build_error([](Graph& g) { ops::conv1d(input(g, "x", {1, 3, 4, 4}), input(g, "w", {2, 3, 3})); });
  EXPECT_THAT(msg, HasSubstr("op 'conv1d'"));
  EXPECT_THAT(msg, HasSubstr("x must have rank 3 [N,C,L], got shape [1,3,4,4]"));
}

TEST(ConvErrors, DtypeMismatch) {
  std::string msg =
      build_error([](Graph& g) { ops::conv2d(input(g, "x", {1, 1, 4, 4}), input(g, "w", {1, 1, 2, 2}, DType::f64)); });
  EXPECT_THAT(msg, HasSubstr("op 'conv2d'"));
  EXPECT_THAT(msg, HasSubstr("same dtype"));
}

TEST(ConvErrors, BackwardOpsCheckShapes) {
  std::string msg = build_error([](Graph& g) {
    ops::conv2d_grad_input(input(g, "dy", {1, 2, 3, 3}), input(g, "w", {2, 1, 2, 2}), {1, 1, 5, 5}, {1, 1}, {0, 0});
  });
  EXPECT_THAT(msg, HasSubstr("op 'conv2d_grad_input'"));
  EXPECT_THAT(msg, HasSubstr("dy must have the conv2d output shape [1,2,4,4]"));
  msg = build_error([](Graph& g) {
    ops::conv2d_grad_filter(input(g, "x", {1, 1, 5, 5}), input(g, "dy", {1, 2, 4, 4}), {2, 1, 2, 2}, {0, 1}, {0, 0});
  });
  EXPECT_THAT(msg, HasSubstr("op 'conv2d_grad_filter'"));
  EXPECT_THAT(msg, HasSubstr("stride must be positive"));
  msg = build_error([](Graph& g) {
    g.add_node("conv2d_grad_input", {input(g, "dy", {1, 2, 4, 4}), input(g, "w", {2, 1, 2, 2})}, {});
  });
  EXPECT_THAT(msg, HasSubstr("missing required attribute 'x_shape'"));
  msg = build_error([](Graph& g) {
    ops::conv2d_grad_input(input(g, "dy", {1, 2, 4, 4}), input(g, "w", {2, 1, 2, 2}), {1, 1, -5, 5}, {1, 1}, {0, 0});
  });
  EXPECT_THAT(msg, HasSubstr("x shape [1,1,-5,5] has a negative dim"));
}

TEST(ConvErrors, GroupsMustDivideChannelsAndFilters) {
  std::string msg = build_error([](Graph& g) {
    ops::conv2d(input(g, "x", {2, 8, 5, 5}), input(g, "w", {4, 2, 3, 3}), {}, ops::ConvOptions{.groups = 3});
  });
  EXPECT_THAT(msg, HasSubstr("op 'conv2d'"));
  EXPECT_THAT(msg, HasSubstr("groups 3 must divide both the 8 channels of x [2,8,5,5] and the 4 filters of [4,2,3,3]"));
  msg = build_error([](Graph& g) {
    ops::conv2d(input(g, "x", {2, 8, 5, 5}), input(g, "w", {4, 2, 3, 3}), {}, ops::ConvOptions{.groups = 2});
  });
  EXPECT_THAT(msg, HasSubstr("x [2,8,5,5] has 8 channels in 2 groups but the filter [4,2,3,3] expects 2 channels per group (4 per group)"));
  msg = build_error([](Graph& g) {
    ops::conv2d(input(g, "x", {2, 8, 5, 5}), input(g, "w", {4, 8, 3, 3}), {}, ops::ConvOptions{.groups = 0});
  });
  EXPECT_THAT(msg, HasSubstr("groups must be at least 1, got 0"));
  msg = build_error([](Graph& g) {
    ops::conv1d(input(g, "x", {2, 6, 5}), input(g, "w", {4, 3, 3}), {}, ops::ConvOptions{.groups = 4});
  });
  EXPECT_THAT(msg, HasSubstr("op 'conv1d'"));
  EXPECT_THAT(msg, HasSubstr("groups 4 must divide both the 6 channels"));
}

TEST(ConvErrors, DilationAndPadValues) {
  std::string msg = build_error([](Graph& g) {
    ops::conv2d(input(g, "x", {1, 1, 5, 5}), input(g, "w", {1, 1, 3, 3}), {}, ops::ConvOptions{.dilation = {0, 1}});
  });
  EXPECT_THAT(msg, HasSubstr("dilation must be positive, got [0,1]"));
  msg = build_error([](Graph& g) {
    ops::conv2d(input(g, "x", {1, 1, 5, 5}), input(g, "w", {1, 1, 3, 3}), {}, ops::ConvOptions{.dilation = {2}});
  });
  EXPECT_THAT(msg, HasSubstr("dilation must have 2 values [height,width], got [2]"));
  msg = build_error([](Graph& g) {
    ops::conv2d(input(g, "x", {1, 1, 5, 5}), input(g, "w", {1, 1, 3, 3}), {}, ops::ConvOptions{.pad = {1, 1, 1}});
  });
  EXPECT_THAT(msg, HasSubstr("pad must have 2 values (both sides) or 4 ([top,left,bottom,right]), got [1,1,1]"));
  // A dilated 3x3 reaches 5 cells: too wide for 4 columns even with one column of padding.
  msg = build_error([](Graph& g) {
    ops::conv2d(input(g, "x", {1, 1, 6, 3}), input(g, "w", {1, 1, 3, 3}), {}, ops::ConvOptions{.pad = {0, 1, 0, 0}, .dilation = {2, 2}});
  });
  EXPECT_THAT(msg, HasSubstr("kernel 3x3 of filter [1,1,3,3] dilated by [2,2] (extent 5x5) is larger than the padded input 6x4"));
  msg = build_error([](Graph& g) {
    g.add_node("conv1d", {input(g, "x", {1, 1, 5}), input(g, "w", {1, 1, 3})}, {{"pad_end", std::int64_t{-3}}});
  });
  EXPECT_THAT(msg, HasSubstr("pad_end must be non-negative (or -1: the same as pad), got -3"));
}

TEST(ConvErrors, TransposedConvolutionChecks) {
  std::string msg = build_error([](Graph& g) {
    ops::conv_transpose2d(input(g, "x", {1, 2, 3, 3}), input(g, "w", {2, 3, 3, 3}), {}, ops::ConvOptions{.stride = {2, 2}}, {2, 0});
  });
  EXPECT_THAT(msg, HasSubstr("op 'conv_transpose2d'"));
  EXPECT_THAT(msg, HasSubstr("output_padding 2 must be non-negative and smaller than the stride 2 or the dilation 1"));
  msg = build_error([](Graph& g) {
    ops::conv_transpose2d(input(g, "x", {1, 2, 3, 3}), input(g, "w", {3, 3, 3, 3}), {}, ops::ConvOptions{});
  });
  EXPECT_THAT(msg, HasSubstr("x [1,2,3,3] has 2 channels but the filter [3,3,3,3] takes 3"));
  msg = build_error([](Graph& g) {
    ops::conv_transpose2d(input(g, "x", {1, 2, 1, 1}), input(g, "w", {2, 3, 1, 1}), {}, ops::ConvOptions{.pad = {1, 1}});
  });
  EXPECT_THAT(msg, HasSubstr("height: the output extent -1 is not positive"));
}

// conv_transpose2d is the adjoint of conv2d in x: <conv2d(z, w), x> = <z, conv_transpose2d(x, w)>
// for the same options, here with groups, stride, dilation and uneven padding.
TEST(ConvTranspose, IsTheAdjointOfConv2d) {
  const AttrMap attrs = {{"stride", Ints{2, 2}}, {"pad", Ints{1, 0, 0, 1}}, {"dilation", Ints{1, 2}}, {"groups", std::int64_t{2}}};
  Tensor z = random_f64({2, 4, 7, 8}, 1), w = random_f64({6, 2, 3, 3}, 2);
  Tensor y = run1("conv2d", attrs, {z, w});
  Tensor x = random_f64(y.shape(), 3);
  // Stride 2 maps heights 7 and 6 both to 3: output_padding picks 7.
  AttrMap transpose_attrs = attrs;
  transpose_attrs["output_padding"] = Ints{1, 0};
  Tensor zt = run1("conv_transpose2d", transpose_attrs, {x, w});
  ASSERT_EQ(to_string(zt.shape()), to_string(z.shape()));
  double lhs = 0, rhs = 0;
  for (std::int64_t i = 0; i < y.numel(); ++i) lhs += y.at(i) * x.at(i);
  for (std::int64_t i = 0; i < z.numel(); ++i) rhs += z.at(i) * zt.at(i);
  EXPECT_NEAR(lhs, rhs, 1e-9 * std::abs(lhs));
}

// A file written before groups and dilation (stride and pad only) means the same convolution.
TEST(ConvAttributes, OldFormsStillParse) {
  Tensor x = random_f64({1, 2, 5, 5}, 4), w = random_f64({3, 2, 3, 3}, 5);
  Tensor old_form = run1("conv2d", {{"stride", Ints{2, 2}}, {"pad", Ints{1, 1}}}, {x, w});
  Tensor new_form = run1("conv2d", {{"stride", Ints{2, 2}}, {"pad", Ints{1, 1, 1, 1}}, {"dilation", Ints{1, 1}}, {"groups", std::int64_t{1}}}, {x, w});
  ASSERT_EQ(old_form.numel(), new_form.numel());
  for (std::int64_t i = 0; i < old_form.numel(); ++i) EXPECT_EQ(old_form.at(i), new_form.at(i));
  Tensor x1 = random_f64({1, 2, 6}, 6), w1 = random_f64({2, 2, 3}, 7);
  Tensor a = run1("conv1d", {{"stride", std::int64_t{1}}, {"pad", std::int64_t{1}}}, {x1, w1});
  Tensor b = run1("conv1d", {{"pad", std::int64_t{1}}, {"pad_end", std::int64_t{1}}}, {x1, w1});
  for (std::int64_t i = 0; i < a.numel(); ++i) EXPECT_EQ(a.at(i), b.at(i));
}

}  // namespace dagrad::testing
