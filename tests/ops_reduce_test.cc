// Naive float64 references for reduce_mean, reduce_max and reduce_max_grad (run on the ops'
// declared examples), plus golden values, the tie rule, NaN and every validation error.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>

#include "autodiff/grad.h"
#include "autodiff/gradcheck.h"
#include "ops/ops.h"
#include "ops/reduce_max.h"
#include "runtime/runtime.h"
#include "tests/op_cases.h"

namespace dagrad::testing {
namespace {

using ::testing::HasSubstr;
using Ints = std::vector<std::int64_t>;

// For each element of x: the flat index of its output in the keepdims shape, the output shape and
// the number of terms per output, straight from the definition.
struct Groups {
  std::vector<std::int64_t> of;  // element -> output
  Shape out;
  std::int64_t outputs = 1;
};

Groups groups(const Shape& x, const AttrMap& attrs) {
  const auto rank = static_cast<std::int64_t>(x.size());
  std::vector<bool> reduced(x.size(), false);
  for (std::int64_t a : std::get<Ints>(attrs.at("axes"))) reduced[a < 0 ? a + rank : a] = true;
  const bool keepdims = attrs.count("keepdims") && std::get<bool>(attrs.at("keepdims"));
  Groups g;
  Shape kept;
  for (std::int64_t d = 0; d < rank; ++d) {
    kept.push_back(reduced[d] ? 1 : x[d]);
    if (!reduced[d] || keepdims) g.out.push_back(reduced[d] ? 1 : x[d]);
  }
  for (std::int64_t e : kept) g.outputs *= e;
  std::int64_t numel = 1;
  for (std::int64_t e : x) numel *= e;
  for (std::int64_t i = 0; i < numel; ++i) {
    std::int64_t rest = i, flat = 0, scale = 1;
    for (std::int64_t d = rank - 1; d >= 0; --d) {
      const std::int64_t index = rest % x[d];
      rest /= x[d];
      if (!reduced[d]) flat += index * scale;
      scale *= kept[d];
    }
    g.of.push_back(flat);
  }
  return g;
}

std::vector<Tensor> reduce_mean_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  Groups g = groups(in[0].shape(), attrs);
  Tensor y = zeros_f64(g.out);
  std::vector<double> count(g.outputs, 0);
  for (std::int64_t i = 0; i < in[0].numel(); ++i) {
    at(y, g.of[i]) += in[0].at(i);
    count[g.of[i]] += 1;
  }
  for (std::int64_t o = 0; o < y.numel(); ++o) at(y, o) /= count[o];
  return {y};
}

std::vector<Tensor> reduce_max_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  Groups g = groups(in[0].shape(), attrs);
  Tensor y = zeros_f64(g.out);
  for (std::int64_t o = 0; o < y.numel(); ++o) at(y, o) = -std::numeric_limits<double>::infinity();
  for (std::int64_t i = 0; i < in[0].numel(); ++i) at(y, g.of[i]) = std::max(y.at(g.of[i]), in[0].at(i));
  return {y};
}

// dx = dy / ties at the maxima (the examples' random values have no ties; Ties below tests them).
std::vector<Tensor> reduce_max_grad_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  Groups g = groups(in[0].shape(), attrs);
  Tensor top = reduce_max_reference({in[0]}, attrs)[0];
  std::vector<double> ties(g.outputs, 0);
  for (std::int64_t i = 0; i < in[0].numel(); ++i) ties[g.of[i]] += in[0].at(i) == top.at(g.of[i]) ? 1 : 0;
  Tensor dx = zeros_f64(in[0].shape());
  for (std::int64_t i = 0; i < in[0].numel(); ++i)
    if (in[0].at(i) == top.at(g.of[i])) at(dx, i) = in[1].at(g.of[i]) / ties[g.of[i]];
  return {dx};
}

}  // namespace

DAGRAD_OP_REFERENCES(reduce) {
  return {
      {"reduce_mean", {reduce_mean_reference}},
      {"reduce_max", {reduce_max_reference}},
      {"reduce_max_grad", {reduce_max_grad_reference}},
  };
}

namespace {

AttrMap axes(Ints list, bool keepdims = false) { return {{"axes", std::move(list)}, {"keepdims", keepdims}}; }

Tensor one(const std::string& op, const AttrMap& attrs, std::vector<Tensor> inputs) { return autodiff::run_op(op, attrs, inputs)[0]; }

const std::string kMean = "reduce_mean", kMax = "reduce_max", kMaxGrad = "reduce_max_grad";

TEST(Reduce, GoldenValues) {
  Tensor x = Tensor::from<double>({2, 3}, {1, 5, 3, -4, 2, 8});
  for (DType dtype : {DType::f64, DType::f32}) {
    Tensor mean = one(kMean, axes({1}), {x.to(dtype)});
    ASSERT_EQ(mean.shape(), (Shape{2}));
    EXPECT_EQ(mean.at(0), 3);
    EXPECT_EQ(mean.at(1), 2);
    Tensor max = one(kMax, axes({0}, true), {x.to(dtype)});
    ASSERT_EQ(max.shape(), (Shape{1, 3}));
    EXPECT_EQ(max.at(0), 1);
    EXPECT_EQ(max.at(1), 5);
    EXPECT_EQ(max.at(2), 8);
    Tensor all = one(kMax, axes({-1, 0}), {x.to(dtype)});
    ASSERT_EQ(all.shape(), Shape{});
    EXPECT_EQ(all.at(0), 8);
  }
}

// The mean of no terms is NaN (0 / 0, as numpy); an empty tensor's max over a non-empty dim is empty.
TEST(Reduce, EmptyReductions) {
  Tensor mean = one(kMean, axes({1}), {Tensor(DType::f64, {2, 0})});
  ASSERT_EQ(mean.shape(), (Shape{2}));
  EXPECT_TRUE(std::isnan(mean.at(0)) && std::isnan(mean.at(1)));
  EXPECT_EQ(one(kMax, axes({0}), {Tensor(DType::f32, {3, 0})}).shape(), (Shape{0}));
}

// Empty axes reduce nothing (numpy's axis=(), like reduce_sum), not everything (ONNX).
TEST(Reduce, EmptyAxesReduceNothing) {
  Tensor x = Tensor::from<double>({2, 2}, {1, -2, 3, 4});
  for (const std::string& op : {kMean, kMax}) {
    Tensor y = one(op, axes({}), {x});
    ASSERT_EQ(y.shape(), (Shape{2, 2})) << op;
    for (std::int64_t i = 0; i < 4; ++i) EXPECT_EQ(y.at(i), x.at(i)) << op;
  }
}

// A tie splits dy evenly among the tied maxima (PyTorch's amax rule).
TEST(Reduce, MaxGradSplitsTiesEvenly) {
  Tensor x = Tensor::from<double>({2, 4}, {3, 1, 3, 3, -1, 2, 0, 2});
  Tensor dy = Tensor::from<double>({2}, {6, 1});
  Tensor dx = one(kMaxGrad, axes({1}), {x, dy});
  const std::vector<double> want = {2, 0, 2, 2, 0, 0.5, 0, 0.5};
  for (std::int64_t i = 0; i < 8; ++i) EXPECT_EQ(dx.at(i), want[i]) << "entry " << i;
  EXPECT_TRUE(bitwise_equal(dx, reduce_max_grad_reference({x, dy}, axes({1}))[0]));
}

// The graph gradient of reduce_max is reduce_max_grad; that of reduce_mean is dy / count everywhere.
TEST(Reduce, GraphGradients) {
  Graph g;
  Value x = g.input("x", {DType::f64, {2, 3}});
  Value loss = ops::reduce_sum(ops::add(ops::reduce_max(x, {1}), ops::reduce_mean(x, {0, 1})), {0});
  autodiff::Gradients grads = autodiff::grad(g, loss.id(), {x.id()});
  runtime::TensorMap feeds;
  feeds.emplace("x", Tensor::from<double>({2, 3}, {1, 5, 3, -4, 2, 8}));
  Tensor got = runtime::run(runtime::compile(grads.graph, {}, {grads.grads[0]}), runtime::feeds_from({&feeds})).at(grads.grads[0]);
  // d/dx of max per row (1 at 5 and at 8) plus 2 * (1/6) from the mean, broadcast to both rows' sums.
  const std::vector<double> want = {1. / 3, 1 + 1. / 3, 1. / 3, 1. / 3, 1. / 3, 1 + 1. / 3};
  for (std::int64_t i = 0; i < 6; ++i) EXPECT_NEAR(got.at(i), want[i], 1e-15) << "entry " << i;
}

TEST(Reduce, MaxPropagatesNaN) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Tensor x = Tensor::from<double>({2, 3}, {1, nan, 3, 4, 5, 6});
  Tensor y = one(kMax, axes({1}), {x});
  EXPECT_TRUE(std::isnan(y.at(0)));
  EXPECT_EQ(y.at(1), 6);
  Tensor dx = one(kMaxGrad, axes({1}), {x, Tensor::from<double>({2}, {1, 1})});
  const std::vector<double> want = {0, 1, 0, 0, 0, 1};  // the NaN element is the maximum
  for (std::int64_t i = 0; i < 6; ++i) EXPECT_EQ(dx.at(i), want[i]) << "entry " << i;
}

TEST(Reduce, SameBitsForAnyThreadCount) {
  Graph g;
  Value x = g.input("x", {DType::f32, {8, 64, 24, 24}});
  Value mean = ops::reduce_mean(x, {0, 2, 3});
  Value max = ops::reduce_max(x, {-1, 1}, true);
  Value dx = ops::reduce_max_grad(x, max, {-1, 1}, true);
  runtime::TensorMap feeds;
  feeds.emplace("x", autodiff::example_inputs({.inputs = {{.shape = {8, 64, 24, 24}, .dtype = DType::f32}}}, 3)[0]);
  std::vector<runtime::RunResult> runs;
  for (int threads : {1, 2})
    runs.push_back(runtime::run(runtime::compile(g, {.threads = threads}, {mean.id(), max.id(), dx.id()}), runtime::feeds_from({&feeds})));
  for (ValueId id : {mean.id(), max.id(), dx.id()}) EXPECT_TRUE(bitwise_equal(runs[0].at(id), runs[1].at(id)));
}

TEST(ReduceErrors, AxisOutOfRangeNamesAxesAndRank) {
  for (const std::string& op : {kMean, kMax}) {
    std::string msg = error_of([&] {
      Graph g;
      Value x = g.input("x", {DType::f32, {2, 3, 4}});
      op == kMean ? ops::reduce_mean(x, {0, 3}) : ops::reduce_max(x, {-4});
    });
    EXPECT_THAT(msg, HasSubstr("op '" + op + "'"));
    EXPECT_THAT(msg, HasSubstr(op == kMean ? "attribute 'axes' = [0,3]: axis 3 is out of range for rank 3"
                                           : "attribute 'axes' = [-4]: axis -4 is out of range for rank 3"));
  }
}

TEST(ReduceErrors, RepeatedAxisNamesAxesAndRank) {
  for (const std::string& op : {kMean, kMax}) {
    std::string msg = error_of([&] {
      Graph g;
      Value x = g.input("x", {DType::f32, {2, 3, 4}});
      op == kMean ? ops::reduce_mean(x, {1, -2}) : ops::reduce_max(x, {0, 2, 0}, true);
    });
    EXPECT_THAT(msg, HasSubstr("op '" + op + "'"));
    EXPECT_THAT(msg, HasSubstr(op == kMean ? "attribute 'axes' = [1,-2]: axis -2 repeats dim 1 (rank 3)"
                                           : "attribute 'axes' = [0,2,0]: axis 0 repeats dim 0 (rank 3)"));
  }
}

TEST(ReduceErrors, MaxOfAnEmptyDim) {
  std::string msg = error_of([] {
    Graph g;
    ops::reduce_max(g.input("x", {DType::f64, {2, 0, 3}}), {1});
  });
  EXPECT_THAT(msg, HasSubstr("op 'reduce_max'"));
  EXPECT_THAT(msg, HasSubstr("attribute 'axes' = [1] reduces an empty dim: the maximum of nothing is undefined"));
  // Reducing a non-empty dim of an empty tensor is fine: the output is empty.
  EXPECT_EQ(error_of([] {
              Graph g;
              ops::reduce_max(g.input("x", {DType::f64, {2, 0, 3}}), {2});
            }),
            "no error");
}

TEST(ReduceErrors, MaxGradInputs) {
  std::string msg = error_of([] {
    Graph g;
    ops::reduce_max_grad(g.input("x", {DType::f64, {2, 3}}), g.input("dy", {DType::f64, {3}}), {1});
  });
  EXPECT_THAT(msg, HasSubstr("op 'reduce_max_grad'"));
  EXPECT_THAT(msg, HasSubstr("dy (input 1) must have the shape of reduce_max's output [2], got [3]"));
  msg = error_of([] {
    Graph g;
    ops::reduce_max_grad(g.input("x", {DType::f64, {2, 3}}), g.input("dy", {DType::f32, {2}}), {1});
  });
  EXPECT_THAT(msg, HasSubstr("same dtype"));
  msg = error_of([] {
    Graph g;
    ops::reduce_max_grad(g.input("x", {DType::f64, {2, 3}}), g.input("dy", {DType::f64, {2}}), {2});
  });
  EXPECT_THAT(msg, HasSubstr("attribute 'axes' = [2]: axis 2 is out of range for rank 2"));
}

TEST(ReduceErrors, IntegerInput) {
  std::string msg = error_of([] {
    Graph g;
    ops::reduce_mean(g.input("x", {DType::i64, {2, 3}}), {1});
  });
  EXPECT_THAT(msg, HasSubstr("must be f32 or f64"));
}

// A file's attributes go through the same shape rule.
TEST(ReduceErrors, BadAxesFromAttributes) {
  std::string msg = error_of([] { autodiff::run_op("reduce_mean", axes({5}), {Tensor(DType::f64, {2, 3})}); });
  EXPECT_THAT(msg, HasSubstr("attribute 'axes' = [5]: axis 5 is out of range for rank 2"));
  msg = error_of([] { autodiff::run_op("reduce_max", {{"keepdims", true}}, {Tensor(DType::f64, {2, 3})}); });
  EXPECT_THAT(msg, HasSubstr("missing required attribute 'axes'"));
}

}  // namespace
}  // namespace dagrad::testing
