// References and golden tests for batch_norm, batch_norm_grad and dropout.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "autodiff/gradcheck.h"
#include "ops/kernels/counter_hash.h"
#include "ops/ops.h"
#include "runtime/runtime.h"
#include "tests/op_cases.h"

namespace dagrad::testing {
namespace {

using ::testing::HasSubstr;

template <class T> T attr_or(const AttrMap& attrs, const char* name, T fallback) {
  auto it = attrs.find(name);
  return it == attrs.end() ? fallback : std::get<T>(it->second);
}

// Elements of channel c of an [N,C] or [N,C,H,W] tensor, as flat indices.
std::vector<std::int64_t> channel_indices(const Shape& shape, std::int64_t c) {
  std::int64_t inner = 1;
  for (std::size_t i = 2; i < shape.size(); ++i) inner *= shape[i];
  std::vector<std::int64_t> idx;
  for (std::int64_t n = 0; n < shape[0]; ++n)
    for (std::int64_t s = 0; s < inner; ++s) idx.push_back((n * shape[1] + c) * inner + s);
  return idx;
}

std::vector<Tensor> batch_norm_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  const bool training = attr_or(attrs, "training", true);
  const double momentum = attr_or(attrs, "momentum", 0.1), eps = attr_or(attrs, "eps", 1e-5);
  const std::int64_t channels = in[0].dim(1);
  Tensor y = zeros_f64(in[0].shape()), mean = zeros_f64({channels}), invstd = zeros_f64({channels});
  Tensor rm = zeros_f64({channels}), rv = zeros_f64({channels});
  for (std::int64_t c = 0; c < channels; ++c) {
    std::vector<std::int64_t> idx = channel_indices(in[0].shape(), c);
    const double m = static_cast<double>(idx.size());
    double mu = in[3].at(c), var = in[4].at(c);
    if (training) {
      mu = 0;
      for (auto i : idx) mu += in[0].at(i) / m;
      var = 0;
      for (auto i : idx) var += (in[0].at(i) - mu) * (in[0].at(i) - mu) / m;
      at(rm, c) = (1 - momentum) * in[3].at(c) + momentum * mu;
      const bool unbiased = attr_or(attrs, "running_var_unbiased", true);  // false: ONNX's population variance
      at(rv, c) = (1 - momentum) * in[4].at(c) + momentum * var * (unbiased ? m / (m - 1) : 1.0);
    } else {
      at(rm, c) = in[3].at(c);
      at(rv, c) = in[4].at(c);
    }
    at(mean, c) = mu;
    at(invstd, c) = 1 / std::sqrt(var + eps);
    for (auto i : idx) at(y, i) = (in[0].at(i) - mu) / std::sqrt(var + eps) * in[1].at(c) + in[2].at(c);
  }
  return {y, mean, invstd, rm, rv};
}

// Inputs x, gamma, mean, invstd, dy; the training formula written per element from the definition.
std::vector<Tensor> batch_norm_grad_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  const bool training = attr_or(attrs, "training", true);
  const std::int64_t channels = in[0].dim(1);
  Tensor dx = zeros_f64(in[0].shape()), dgamma = zeros_f64({channels}), dbeta = zeros_f64({channels});
  for (std::int64_t c = 0; c < channels; ++c) {
    std::vector<std::int64_t> idx = channel_indices(in[0].shape(), c);
    const double m = static_cast<double>(idx.size()), g = in[1].at(c), mu = in[2].at(c), is = in[3].at(c);
    auto xhat = [&](std::int64_t i) { return (in[0].at(i) - mu) * is; };
    double sum_dy = 0, sum_dy_xhat = 0;
    for (auto i : idx) sum_dy += in[4].at(i), sum_dy_xhat += in[4].at(i) * xhat(i);
    at(dgamma, c) = sum_dy_xhat;
    at(dbeta, c) = sum_dy;
    for (auto i : idx)
      at(dx, i) = training ? g * is / m * (m * in[4].at(i) - sum_dy - xhat(i) * sum_dy_xhat) : in[4].at(i) * g * is;
  }
  return {dx, dgamma, dbeta};
}

// Dropout drawn at step seed 0 (what run_op uses), from the same counter hash as the kernel.
std::vector<Tensor> dropout_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  const double p = attr_or(attrs, "p", 0.5);
  const auto seed = static_cast<std::uint64_t>(attr_or(attrs, "seed", std::int64_t{0}));
  const bool training = attr_or(attrs, "training", true);
  Tensor y = zeros_f64(in[0].shape()), mask = zeros_f64(in[0].shape());
  for (std::int64_t i = 0; i < y.numel(); ++i) {
    const bool keep = !training || kernels::counter_uniform(seed, 0, static_cast<std::uint64_t>(i)) >= p;
    at(mask, i) = keep ? (training ? 1 / (1 - p) : 1.0) : 0.0;
    at(y, i) = in[0].at(i) * at(mask, i);
  }
  return {y, mask};
}

}  // namespace

DAGRAD_OP_REFERENCES(norm) {
  return {
      {"batch_norm", {batch_norm_reference}},
      {"batch_norm_grad", {batch_norm_grad_reference}},
      {"dropout", {dropout_reference}},
  };
}

namespace {

std::vector<Tensor> run_batch_norm(const Tensor& x, std::vector<double> rm, std::vector<double> rv, bool training) {
  const std::int64_t c = x.dim(1);
  return autodiff::run_op("batch_norm", {{"training", training}},
                          {x, Tensor::from<double>({c}, std::vector<double>(c, 1.0)), Tensor::from<double>({c}, std::vector<double>(c, 0.0)),
                           Tensor::from<double>({c}, rm), Tensor::from<double>({c}, rv)});
}

TEST(BatchNorm, TrainingUpdatesRunningStatisticsWithUnbiasedVariance) {
  // One channel holding 1, 2, 3, 6: mean 3, biased variance 3.5, unbiased 14/3.
  Tensor x = Tensor::from<double>({4, 1}, {1, 2, 3, 6});
  std::vector<Tensor> out = run_batch_norm(x, {0.5}, {2.0}, true);
  EXPECT_DOUBLE_EQ(out[1].at(0), 3.0);
  EXPECT_DOUBLE_EQ(out[2].at(0), 1 / std::sqrt(3.5 + 1e-5));
  EXPECT_DOUBLE_EQ(out[3].at(0), 0.9 * 0.5 + 0.1 * 3.0);
  EXPECT_DOUBLE_EQ(out[4].at(0), 0.9 * 2.0 + 0.1 * 14.0 / 3.0);
  EXPECT_NEAR(out[0].at(3), 3 / std::sqrt(3.5 + 1e-5), 1e-15);
}

TEST(BatchNorm, InferenceUsesAndPassesThroughRunningStatistics) {
  Tensor x = Tensor::from<double>({2, 2}, {1, 2, 3, 4});
  std::vector<Tensor> out = run_batch_norm(x, {1.0, -1.0}, {4.0, 0.25}, false);
  EXPECT_DOUBLE_EQ(out[1].at(0), 1.0);
  EXPECT_DOUBLE_EQ(out[1].at(1), -1.0);
  EXPECT_DOUBLE_EQ(out[2].at(0), 1 / std::sqrt(4.0 + 1e-5));
  EXPECT_DOUBLE_EQ(out[3].at(1), -1.0);
  EXPECT_DOUBLE_EQ(out[4].at(1), 0.25);
  EXPECT_NEAR(out[0].at(3), (4 + 1) / std::sqrt(0.25 + 1e-5), 1e-12);  // x[1,1] = 4 normalized
}

TEST(BatchNorm, LossThroughYAloneMatchesFiniteDifferences) {
  // The usual training graph: only y reaches the loss, the running outputs go to state updates.
  Graph g;
  Value x = g.input("x", {DType::f64, {6, 3}});
  Value labels = g.input("labels", {DType::i64, {6}});
  Value gamma = g.parameter("gamma", {DType::f64, {3}}, {.kind = "uniform", .value = 1.5, .seed = 3});
  Value beta = g.parameter("beta", {DType::f64, {3}}, {.kind = "uniform", .value = 0.5, .seed = 4});
  Value rm = g.state("rm", {DType::f64, {3}}, {.kind = "zeros"});
  Value rv = g.state("rv", {DType::f64, {3}}, {.kind = "ones"});
  ops::BatchNormOutputs bn = ops::batch_norm(x, gamma, beta, rm, rv, true);
  g.add_state_update(rm.id(), bn.running_mean.id());
  g.add_state_update(rv.id(), bn.running_var.id());
  g.set_loss(ops::softmax_cross_entropy(bn.y, labels));
  runtime::TensorMap inputs;
  inputs.emplace("x", autodiff::example_inputs({.inputs = {{.shape = {6, 3}, .low = -2, .high = 2}}}, 5)[0]);
  inputs.emplace("labels", Tensor::from<std::int64_t>({6}, {0, 1, 2, 2, 1, 0}));
  autodiff::CheckResult r = autodiff::check_graph_gradient(g, inputs, runtime::initialize_parameters(g), 3, 1);
  EXPECT_TRUE(r.passed) << r.detail;
}

TEST(BatchNorm, SameBitsForAnyThreadCount) {
  Graph g;
  Value x = g.input("x", {DType::f32, {8, 16, 12, 12}});
  std::vector<Value> stats;
  for (const char* name : {"gamma", "beta", "rm", "rv"}) stats.push_back(g.input(name, {DType::f32, {16}}));
  ops::BatchNormOutputs bn = ops::batch_norm(x, stats[0], stats[1], stats[2], stats[3], true);
  runtime::TensorMap feeds;
  std::vector<Tensor> data = autodiff::example_inputs({.inputs = {{.shape = {8, 16, 12, 12}, .dtype = DType::f32}}}, 9);
  feeds.emplace("x", data[0]);
  for (const char* name : {"gamma", "beta", "rm", "rv"}) feeds.emplace(name, Tensor(DType::f32, {16}));
  feeds.at("rv").fill(1);
  std::vector<Tensor> runs;
  for (int threads : {1, 2}) {
    runtime::Plan plan = runtime::compile(g, {.threads = threads}, {bn.y.id(), bn.running_var.id()});
    runtime::RunResult r = runtime::run(plan, runtime::feeds_from({&feeds}));
    runs.push_back(r.at(bn.y.id()));
    runs.push_back(r.at(bn.running_var.id()));
  }
  EXPECT_TRUE(bitwise_equal(runs[0], runs[2]));
  EXPECT_TRUE(bitwise_equal(runs[1], runs[3]));
}

TEST(BatchNorm, BadInputsNameTheProblem) {
  auto build = [](Shape x, Shape gamma, Shape var, DType var_dtype, bool training) {
    Graph g;
    ops::batch_norm(g.input("x", {DType::f64, x}), g.input("gamma", {DType::f64, gamma}), g.input("beta", {DType::f64, {3}}),
                    g.input("rm", {DType::f64, {3}}), g.input("rv", {var_dtype, var}), training);
  };
  EXPECT_THAT(error_of([&] { build({2, 3, 4}, {3}, {3}, DType::f64, true); }),
              HasSubstr("must be [N,C] or [N,C,H,W], got rank 3"));
  std::string gamma_error = error_of([&] { build({2, 3}, {4}, {3}, DType::f64, true); });
  EXPECT_THAT(gamma_error, HasSubstr("op 'batch_norm'"));
  EXPECT_THAT(gamma_error, HasSubstr("gamma (input 1) must have shape [3]"));
  EXPECT_THAT(gamma_error, HasSubstr("got [4]"));
  EXPECT_THAT(error_of([&] { build({2, 3}, {3}, {2}, DType::f64, true); }), HasSubstr("running_var (input 4) must have shape [3]"));
  EXPECT_THAT(error_of([&] { build({2, 3}, {3}, {3}, DType::f32, true); }), HasSubstr("same dtype"));
  EXPECT_THAT(error_of([&] { build({1, 3}, {3}, {3}, DType::f64, true); }), HasSubstr("more than one value per channel"));
  EXPECT_EQ(error_of([&] { build({1, 3}, {3}, {3}, DType::f64, false); }), "no error");
  EXPECT_THAT(error_of([] {
                Graph g;
                Value v = g.input("v", {DType::f64, {3}});
                ops::batch_norm(g.input("x", {DType::f64, {2, 3}}), v, v, v, v, true, 0.1, 0.0);
              }),
              HasSubstr("eps must be positive"));
  EXPECT_THAT(error_of([] {
                Graph g;
                Value v = g.input("v", {DType::f64, {3}});
                ops::batch_norm_grad(g.input("x", {DType::f64, {2, 3}}), v, v, v, g.input("dy", {DType::f64, {3, 2}}), true);
              }),
              HasSubstr("same shape"));
}

struct DropoutRun {
  Tensor y, mask;
};
DropoutRun run_dropout(const Tensor& x, double p, std::uint64_t seed, bool training, std::uint64_t step, int threads = 0) {
  Graph g;
  ops::DropoutOutputs d = ops::dropout(g.input("x", {x.dtype(), x.shape()}), p, seed, training);
  runtime::TensorMap feeds{{"x", x}};
  runtime::RunResult r = runtime::run(runtime::compile(g, {.threads = threads}, {d.y.id(), d.mask.id()}),
                                      runtime::feeds_from({&feeds}), step);
  return {r.at(d.y.id()), r.at(d.mask.id())};
}

TEST(Dropout, MaskDependsOnlyOnSeedStepAndIndex) {
  Tensor x(DType::f32, {100, 400});
  x.fill(2);
  DropoutRun a = run_dropout(x, 0.25, 11, true, 5, 1);
  DropoutRun b = run_dropout(x, 0.25, 11, true, 5, 2);
  EXPECT_TRUE(bitwise_equal(a.mask, b.mask));
  EXPECT_TRUE(bitwise_equal(a.y, b.y));
  EXPECT_FALSE(bitwise_equal(a.mask, run_dropout(x, 0.25, 11, true, 6).mask));
  EXPECT_FALSE(bitwise_equal(a.mask, run_dropout(x, 0.25, 12, true, 5).mask));
  std::int64_t kept = 0;
  for (std::int64_t i = 0; i < a.mask.numel(); ++i) {
    const double m = a.mask.at(i);
    ASSERT_TRUE(m == 0.0 || m == static_cast<double>(static_cast<float>(1.0 / 0.75))) << "mask entry " << i << " = " << m;
    kept += m != 0;
    ASSERT_EQ(a.y.at(i), 2 * m);
  }
  EXPECT_NEAR(static_cast<double>(kept) / static_cast<double>(x.numel()), 0.75, 0.01);
}

TEST(Dropout, InferenceIsTheIdentity) {
  Tensor x = autodiff::example_inputs({.inputs = {{.shape = {3, 7}}}}, 2)[0];
  DropoutRun r = run_dropout(x, 0.6, 3, false, 9);
  EXPECT_TRUE(bitwise_equal(r.y, x));
  for (std::int64_t i = 0; i < r.mask.numel(); ++i) EXPECT_EQ(r.mask.at(i), 1.0);
}

TEST(Dropout, RejectsProbabilityOutsideZeroToOne) {
  for (double p : {1.0, -0.1, 1.5}) {
    std::string msg = error_of([&] {
      Graph g;
      ops::dropout(g.input("x", {DType::f32, {4}}), p, 0, true);
    });
    EXPECT_THAT(msg, HasSubstr("op 'dropout'"));
    EXPECT_THAT(msg, HasSubstr("p must be in [0, 1)"));
  }
}

}  // namespace
}  // namespace dagrad::testing
