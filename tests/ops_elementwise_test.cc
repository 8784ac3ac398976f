// Naive float64 references for the elementwise, broadcasting, shape and reduction ops, written
// from the definitions (run on the ops' declared examples), plus bad-input errors.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "autodiff/gradcheck.h"
#include "ops/ops.h"
#include "tests/op_cases.h"

namespace dagrad::testing {
namespace {

using Ints = std::vector<std::int64_t>;

Ints shape_attr(const AttrMap& attrs, const char* name) { return std::get<Ints>(attrs.at(name)); }

// Row-major multi-index of flat index i in shape.
Ints unravel(std::int64_t i, const Shape& shape) {
  Ints index(shape.size());
  for (std::size_t d = shape.size(); d-- > 0;) {
    index[d] = i % shape[d];
    i /= shape[d];
  }
  return index;
}

std::int64_t ravel(const Ints& index, const Shape& shape) {
  std::int64_t flat = 0;
  for (std::size_t d = 0; d < shape.size(); ++d) flat = flat * shape[d] + index[d];
  return flat;
}

// Flat index in `in` read by element `out_index` of `in` broadcast (right-aligned) to a larger shape.
std::int64_t broadcast_source(const Ints& out_index, const Shape& in) {
  Ints index(in.size());
  std::size_t lead = out_index.size() - in.size();
  for (std::size_t d = 0; d < in.size(); ++d) index[d] = in[d] == 1 ? 0 : out_index[lead + d];
  return ravel(index, in);
}

Shape broadcast_shape(const Shape& a, const Shape& b) {
  std::size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (std::size_t d = 0; d < rank; ++d) {
    std::int64_t da = d < rank - a.size() ? 1 : a[d - (rank - a.size())];
    std::int64_t db = d < rank - b.size() ? 1 : b[d - (rank - b.size())];
    out[d] = std::max(da, db);
  }
  return out;
}

Reference unary(std::function<double(double)> f) {
  return [f](const std::vector<Tensor>& in, const AttrMap&) {
    Tensor y = zeros_f64(in[0].shape());
    for (std::int64_t i = 0; i < y.numel(); ++i) at(y, i) = f(in[0].at(i));
    return std::vector{y};
  };
}

Reference binary_broadcast(std::function<double(double, double)> f) {
  return [f](const std::vector<Tensor>& in, const AttrMap&) {
    Shape shape = broadcast_shape(in[0].shape(), in[1].shape());
    Tensor y = zeros_f64(shape);
    for (std::int64_t i = 0; i < y.numel(); ++i) {
      Ints index = unravel(i, shape);
      at(y, i) = f(in[0].at(broadcast_source(index, in[0].shape())), in[1].at(broadcast_source(index, in[1].shape())));
    }
    return std::vector{y};
  };
}

std::vector<Tensor> sigmoid_grad_reference(const std::vector<Tensor>& in, const AttrMap&) {
  Tensor dx = zeros_f64(in[0].shape());
  for (std::int64_t i = 0; i < dx.numel(); ++i) at(dx, i) = in[1].at(i) * in[0].at(i) * (1 - in[0].at(i));
  return {dx};
}

std::vector<Tensor> tanh_grad_reference(const std::vector<Tensor>& in, const AttrMap&) {
  Tensor dx = zeros_f64(in[0].shape());
  for (std::int64_t i = 0; i < dx.numel(); ++i) at(dx, i) = in[1].at(i) * (1 - in[0].at(i) * in[0].at(i));
  return {dx};
}

std::vector<Tensor> scale_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  double factor = std::get<double>(attrs.at("factor"));
  return unary([factor](double x) { return x * factor; })(in, attrs);
}

std::vector<Tensor> sum_to_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  Shape shape = shape_attr(attrs, "shape");
  Tensor y = zeros_f64(shape);
  for (std::int64_t i = 0; i < in[0].numel(); ++i) at(y, broadcast_source(unravel(i, in[0].shape()), shape)) += in[0].at(i);
  return {y};
}

std::vector<Tensor> broadcast_to_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  Shape shape = shape_attr(attrs, "shape");
  Tensor y = zeros_f64(shape);
  for (std::int64_t i = 0; i < y.numel(); ++i) at(y, i) = in[0].at(broadcast_source(unravel(i, shape), in[0].shape()));
  return {y};
}

std::vector<Tensor> reshape_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  Shape shape = shape_attr(attrs, "shape");
  std::int64_t known = 1;
  for (std::int64_t d : shape)
    if (d != -1) known *= d;
  for (std::int64_t& d : shape)
    if (d == -1) d = in[0].numel() / known;
  Tensor y = zeros_f64(shape);
  for (std::int64_t i = 0; i < y.numel(); ++i) at(y, i) = in[0].at(i);
  return {y};
}

std::vector<Tensor> flatten_reference(const std::vector<Tensor>& in, const AttrMap&) {
  std::int64_t n = in[0].shape()[0];
  Tensor y = zeros_f64({n, n ? in[0].numel() / n : 0});
  for (std::int64_t i = 0; i < y.numel(); ++i) at(y, i) = in[0].at(i);
  return {y};
}

std::vector<Tensor> reduce_sum_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  const Shape& x = in[0].shape();
  const int rank = static_cast<int>(x.size());
  std::vector<bool> reduced(rank, false);
  for (std::int64_t axis : shape_attr(attrs, "axes")) reduced[axis < 0 ? axis + rank : axis] = true;
  bool keepdims = attrs.count("keepdims") && std::get<bool>(attrs.at("keepdims"));
  Shape kept_shape = x, out_shape;
  for (int d = 0; d < rank; ++d) {
    if (reduced[d]) kept_shape[d] = 1;
    if (!reduced[d] || keepdims) out_shape.push_back(kept_shape[d]);
  }
  Tensor y = zeros_f64(out_shape);
  for (std::int64_t i = 0; i < in[0].numel(); ++i) {
    Ints index = unravel(i, x);
    for (int d = 0; d < rank; ++d)
      if (reduced[d]) index[d] = 0;
    at(y, ravel(index, kept_shape)) += in[0].at(i);
  }
  return {y};
}

}  // namespace

DAGRAD_OP_REFERENCES(elementwise) {
  auto sigmoid = [](double x) { return 1 / (1 + std::exp(-x)); };
  auto tanh = [](double x) { return std::tanh(x); };
  auto add = [](double a, double b) { return a + b; };
  auto mul = [](double a, double b) { return a * b; };
  auto sub = [](double a, double b) { return a - b; };
  auto div = [](double a, double b) { return a / b; };
  return {
      {"sigmoid", {unary(sigmoid)}},
      {"sigmoid_grad", {sigmoid_grad_reference}},
      {"tanh", {unary(tanh)}},
      {"tanh_grad", {tanh_grad_reference}},
      {"add", {binary_broadcast(add)}},
      {"mul", {binary_broadcast(mul)}},
      {"sub", {binary_broadcast(sub)}},
      {"div", {binary_broadcast(div)}},
      {"neg", {unary([](double x) { return -x; })}},
      {"exp", {unary([](double x) { return std::exp(x); })}},
      {"log", {unary([](double x) { return std::log(x); })}},
      {"sqrt", {unary([](double x) { return std::sqrt(x); })}},
      {"scale", {scale_reference}},
      {"sum_to", {sum_to_reference}},
      {"broadcast_to", {broadcast_to_reference}},
      {"reshape", {reshape_reference}},
      {"flatten", {flatten_reference}},
      {"reduce_sum", {reduce_sum_reference}},
  };
}

TEST(ElementwiseErrors, AddShapesThatDoNotBroadcast) {
  std::string msg = build_error([](Graph& g) { ops::add(input(g, "a", {2, 3}), input(g, "b", {4})); });
  EXPECT_NE(msg.find("op 'add'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[2,3]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[4]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("do not broadcast"), std::string::npos) << msg;
}

TEST(ElementwiseErrors, AddDtypeMismatch) {
  std::string msg = build_error([](Graph& g) { ops::add(input(g, "a", {2, 3}), input(g, "b", {2, 3}, DType::f64)); });
  EXPECT_NE(msg.find("op 'add'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("same dtype"), std::string::npos) << msg;
}

TEST(ElementwiseErrors, ReshapeToWrongElementCount) {
  std::string msg = build_error([](Graph& g) { ops::reshape(input(g, "x", {2, 3}), {4, 2}); });
  EXPECT_NE(msg.find("op 'reshape'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[2,3]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[4,2]"), std::string::npos) << msg;
}

TEST(ElementwiseErrors, ReduceSumAxisOutOfRange) {
  std::string msg = build_error([](Graph& g) { ops::reduce_sum(input(g, "x", {2, 3}), {2}); });
  EXPECT_NE(msg.find("op 'reduce_sum'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[2,3]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("axis 2 is out of range for rank 2"), std::string::npos) << msg;
  msg = build_error([](Graph& g) { ops::reduce_sum(input(g, "x", {2, 3}), {-3}); });
  EXPECT_NE(msg.find("axis -3 is out of range"), std::string::npos) << msg;
}

TEST(ElementwiseErrors, ReduceSumRepeatedAxis) {
  std::string msg = build_error([](Graph& g) { ops::reduce_sum(input(g, "x", {2, 3}), {1, -1}); });
  EXPECT_NE(msg.find("op 'reduce_sum'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("repeated"), std::string::npos) << msg;
}

TEST(ElementwiseErrors, FlattenScalar) {
  std::string msg = build_error([](Graph& g) { ops::flatten(input(g, "x", {})); });
  EXPECT_NE(msg.find("op 'flatten'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("rank >= 1"), std::string::npos) << msg;
}

// Large |x| must saturate cleanly (no inf/inf NaN, no overflow warning paths) in both dtypes.
TEST(Sigmoid, StableForLargeMagnitudes) {
  for (DType dtype : {DType::f32, DType::f64}) {
    Tensor x = Tensor::from<double>({4}, {-1000, -40, 40, 1000}).to(dtype);
    Tensor y = autodiff::run_op("sigmoid", {}, {x})[0];
    EXPECT_EQ(y.at(0), 0.0);
    EXPECT_GT(y.at(1), 0.0);
    EXPECT_LT(y.at(1), 1e-17);
    EXPECT_EQ(y.at(2), 1.0);
    EXPECT_EQ(y.at(3), 1.0);
  }
}

// reduce_sum over N, H, W of an NCHW tensor: the conv bias gradient.
TEST(ReduceSum, GoldenChannelSums) {
  std::vector<double> values(2 * 2 * 1 * 2);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<double>(i);  // n c h w
  Tensor x = Tensor::from<double>({2, 2, 1, 2}, values);
  Tensor y = autodiff::run_op("reduce_sum", {{"axes", Ints{0, 2, 3}}}, {x})[0];
  ASSERT_EQ(y.shape(), (Shape{2}));
  EXPECT_EQ(y.at(0), 0 + 1 + 4 + 5);
  EXPECT_EQ(y.at(1), 2 + 3 + 6 + 7);
}

}  // namespace dagrad::testing
