// References and golden tests for softmax, log_softmax, softmax_cross_entropy and their backward ops.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "autodiff/gradcheck.h"
#include "ops/ops.h"
#include "runtime/runtime.h"
#include "tests/op_cases.h"

namespace dagrad::testing {
namespace {

using ::testing::HasSubstr;

// Naive definitions in float64 over the last axis: exp / sum(exp), no max subtraction (inputs are small).
Tensor softmax_of(const Tensor& x) {
  const std::int64_t k = x.shape().back();
  Tensor y = zeros_f64(x.shape());
  for (std::int64_t r = 0; r < x.numel() / k; ++r) {
    double total = 0;
    for (std::int64_t j = 0; j < k; ++j) total += std::exp(x.at(r * k + j));
    for (std::int64_t j = 0; j < k; ++j) at(y, r * k + j) = std::exp(x.at(r * k + j)) / total;
  }
  return y;
}

std::vector<Tensor> softmax_reference(const std::vector<Tensor>& in, const AttrMap&) { return {softmax_of(in[0])}; }

std::vector<Tensor> log_softmax_reference(const std::vector<Tensor>& in, const AttrMap&) {
  Tensor y = softmax_of(in[0]);
  for (std::int64_t i = 0; i < y.numel(); ++i) at(y, i) = std::log(at(y, i));
  return {y};
}

std::vector<Tensor> softmax_grad_reference(const std::vector<Tensor>& in, const AttrMap&) {
  const std::int64_t k = in[0].shape().back();
  Tensor dx = zeros_f64(in[0].shape());
  for (std::int64_t r = 0; r < dx.numel() / k; ++r) {
    double dot = 0;
    for (std::int64_t j = 0; j < k; ++j) dot += in[1].at(r * k + j) * in[0].at(r * k + j);
    for (std::int64_t j = 0; j < k; ++j) at(dx, r * k + j) = in[0].at(r * k + j) * (in[1].at(r * k + j) - dot);
  }
  return {dx};
}

std::vector<Tensor> log_softmax_grad_reference(const std::vector<Tensor>& in, const AttrMap&) {
  const std::int64_t k = in[0].shape().back();
  Tensor dx = zeros_f64(in[0].shape());
  for (std::int64_t r = 0; r < dx.numel() / k; ++r) {
    double total = 0;
    for (std::int64_t j = 0; j < k; ++j) total += in[1].at(r * k + j);
    for (std::int64_t j = 0; j < k; ++j) at(dx, r * k + j) = in[1].at(r * k + j) - std::exp(in[0].at(r * k + j)) * total;
  }
  return {dx};
}

std::vector<Tensor> cross_entropy_reference(const std::vector<Tensor>& in, const AttrMap&) {
  Tensor p = softmax_of(in[0]);
  const std::int64_t n = in[0].dim(0), k = in[0].dim(1);
  Tensor loss = zeros_f64({});
  for (std::int64_t r = 0; r < n; ++r) at(loss, 0) -= std::log(p.at(r * k + static_cast<std::int64_t>(in[1].at(r)))) / n;
  return {loss};
}

std::vector<Tensor> cross_entropy_grad_reference(const std::vector<Tensor>& in, const AttrMap&) {
  Tensor dx = softmax_of(in[0]);
  const std::int64_t n = in[0].dim(0), k = in[0].dim(1);
  for (std::int64_t r = 0; r < n; ++r)
    for (std::int64_t j = 0; j < k; ++j)
      at(dx, r * k + j) = (dx.at(r * k + j) - (j == static_cast<std::int64_t>(in[1].at(r)) ? 1 : 0)) * in[2].at(0) / n;
  return {dx};
}

}  // namespace

DAGRAD_OP_REFERENCES(softmax) {
  return {
      {"softmax", {softmax_reference}},
      {"log_softmax", {log_softmax_reference}},
      {"softmax_grad", {softmax_grad_reference}},
      {"log_softmax_grad", {log_softmax_grad_reference}},
      {"softmax_cross_entropy", {cross_entropy_reference}},
      {"softmax_cross_entropy_grad", {cross_entropy_grad_reference}},
  };
}

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(SoftmaxCrossEntropy, ExactForLogitsOfMagnitude1e4) {
  for (DType dtype : {DType::f64, DType::f32}) {
    Tensor logits = Tensor::from<double>({3, 3}, {1e4, -1e4, 0, 1e4, -1e4, 0, 1e4, -1e4, 0}).to(dtype);
    Tensor labels = Tensor::from<std::int64_t>({3}, {0, 1, 2});
    // Per row: logsumexp = 1e4, so the losses are 0, 2e4 and 1e4.
    Tensor loss = autodiff::run_op("softmax_cross_entropy", {}, {logits, labels})[0];
    EXPECT_EQ(loss.at(0), 1e4) << dtype_name(dtype);
    Tensor dy = Tensor::scalar(dtype, 3.0);
    Tensor grad = autodiff::run_op("softmax_cross_entropy_grad", {}, {logits, labels, dy})[0];
    const std::vector<double> want = {0, 0, 0, 1, -1, 0, 1, 0, -1};  // (softmax - onehot) * 3 / 3
    for (std::int64_t i = 0; i < 9; ++i) EXPECT_EQ(grad.at(i), want[i]) << dtype_name(dtype) << " entry " << i;
  }
}

TEST(Softmax, StableForLargeLogits) {
  Tensor x = Tensor::from<double>({1, 3}, {1e4, 1e4 - std::log(3.0), -1e4});
  Tensor y = autodiff::run_op("softmax", {}, {x})[0];
  EXPECT_NEAR(y.at(0), 0.75, 1e-9);
  EXPECT_NEAR(y.at(1), 0.25, 1e-9);
  EXPECT_EQ(y.at(2), 0.0);
  Tensor log_y = autodiff::run_op("log_softmax", {}, {x})[0];
  EXPECT_NEAR(log_y.at(0), std::log(0.75), 1e-9);
  EXPECT_NEAR(log_y.at(2), -2e4 + std::log(0.75), 1e-9);
}

TEST(SoftmaxCrossEntropy, OutOfRangeLabelNamesOpNodeRowAndValue) {
  Tensor logits(DType::f64, {3, 4});
  std::string msg = error_of([&] { autodiff::run_op("softmax_cross_entropy", {}, {logits, Tensor::from<std::int64_t>({3}, {0, 3, 4})}); });
  EXPECT_THAT(msg, HasSubstr("op 'softmax_cross_entropy'"));
  EXPECT_THAT(msg, HasSubstr("node 'node'"));
  EXPECT_THAT(msg, HasSubstr("label 4 at batch row 2"));
  EXPECT_THAT(msg, HasSubstr("[0, 4)"));
  msg = error_of([&] {
    autodiff::run_op("softmax_cross_entropy_grad", {}, {logits, Tensor::from<std::int64_t>({3}, {-1, 0, 0}), Tensor::scalar(DType::f64, 1)});
  });
  EXPECT_THAT(msg, HasSubstr("op 'softmax_cross_entropy_grad'"));
  EXPECT_THAT(msg, HasSubstr("label -1 at batch row 0"));
}

TEST(SoftmaxCrossEntropy, SameBitsForAnyThreadCount) {
  Graph g;
  Value logits = g.input("logits", {DType::f32, {512, 100}});
  Value labels = g.input("labels", {DType::i64, {512}});
  Value loss = ops::softmax_cross_entropy(logits, labels);
  runtime::TensorMap feeds;
  std::vector<Tensor> data = autodiff::example_inputs(
      {.inputs = {{.shape = {512, 100}, .dtype = DType::f32, .low = -5, .high = 5}, {.shape = {512}, .dtype = DType::i64, .low = 0, .high = 100}}},
      4);
  feeds.emplace("logits", data[0]);
  feeds.emplace("labels", data[1]);
  std::vector<Tensor> losses;
  for (int threads : {1, 2})
    losses.push_back(runtime::run(runtime::compile(g, {.threads = threads}, {loss.id()}), runtime::feeds_from({&feeds})).at(loss.id()));
  EXPECT_TRUE(bitwise_equal(losses[0], losses[1]));
}

TEST(SoftmaxCrossEntropy, BadInputsNameTheProblem) {
  auto build = [](Shape logits, Shape labels, DType labels_dtype) {
    Graph g;
    ops::softmax_cross_entropy(g.input("logits", {DType::f32, logits}), g.input("labels", {labels_dtype, labels}));
  };
  std::string msg = error_of([&] { build({4, 5}, {3}, DType::i64); });
  EXPECT_THAT(msg, HasSubstr("op 'softmax_cross_entropy'"));
  EXPECT_THAT(msg, HasSubstr("labels (input 1) must have shape [4]"));
  EXPECT_THAT(msg, HasSubstr("got [3]"));
  EXPECT_THAT(error_of([&] { build({4, 5}, {4}, DType::f32); }), HasSubstr("labels (input 1) must be i64, got f32"));
  EXPECT_THAT(error_of([&] { build({4, 5, 2}, {4}, DType::i64); }), HasSubstr("logits (input 0) must be [N,K], got shape [4,5,2]"));
  EXPECT_THAT(error_of([&] { build({0, 5}, {0}, DType::i64); }), HasSubstr("N >= 1 and K >= 1"));
  EXPECT_THAT(error_of([] {
                Graph g;
                ops::softmax_cross_entropy_grad(g.input("logits", {DType::f64, {2, 3}}), g.input("labels", {DType::i64, {2}}),
                                                g.input("dy", {DType::f32, {}}));
              }),
              HasSubstr("same dtype"));
  EXPECT_THAT(error_of([] {
                Graph g;
                ops::softmax(g.input("x", {DType::f64, {}}));
              }),
              HasSubstr("rank >= 1"));
  EXPECT_THAT(error_of([] {
                Graph g;
                ops::softmax_grad(g.input("y", {DType::f64, {2, 3}}), g.input("dy", {DType::f64, {3, 2}}));
              }),
              HasSubstr("same shape"));
  EXPECT_THAT(error_of([] {
                Graph g;
                ops::log_softmax(g.input("x", {DType::i64, {2, 3}}));
              }),
              HasSubstr("must be f32 or f64"));
}

}  // namespace
}  // namespace dagrad::testing
