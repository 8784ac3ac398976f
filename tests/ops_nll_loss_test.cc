// References and golden tests for nll_loss and nll_loss_grad (ONNX NegativeLogLikelihoodLoss).
// The golden values were computed with PyTorch 1.13 (torch.nn.functional.nll_loss in float64),
// whose weight, ignore_index and reduction semantics are ONNX's.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "autodiff/gradcheck.h"
#include "ops/ops.h"
#include "runtime/runtime.h"
#include "tests/op_cases.h"

namespace dagrad::testing {
namespace {

using ::testing::HasSubstr;

struct Nll {
  std::string reduction = "mean";
  std::int64_t ignore = -100;
  explicit Nll(const AttrMap& attrs) {
    if (attrs.count("reduction")) reduction = std::get<std::string>(attrs.at("reduction"));
    if (attrs.count("ignore_index")) ignore = std::get<std::int64_t>(attrs.at("ignore_index"));
  }
};

// log_probs [N,C,inner...] with labels [N,inner...]: label r picks log_probs[n, l, i].
struct Picks {
  std::vector<std::int64_t> index;  // -1: ignored
  std::vector<double> weight;
  double total = 0;
  Picks(const std::vector<Tensor>& in, const Nll& a, int weight_input) {
    const std::int64_t classes = in[0].dim(1), inner = in[1].numel() / in[0].dim(0);
    for (std::int64_t r = 0; r < in[1].numel(); ++r) {
      const auto label = static_cast<std::int64_t>(in[1].at(r));
      if (label == a.ignore) {
        index.push_back(-1), weight.push_back(0);
        continue;
      }
      const double w = static_cast<int>(in.size()) > weight_input ? in[weight_input].at(label) : 1.0;
      index.push_back((r / inner) * classes * inner + label * inner + r % inner);
      weight.push_back(w);
      total += w;
    }
  }
};

std::vector<Tensor> nll_loss_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  const Nll a(attrs);
  const Picks p(in, a, 2);
  Tensor per_label = zeros_f64(in[1].shape());
  double sum = 0;
  for (std::size_t r = 0; r < p.index.size(); ++r) {
    if (p.index[r] < 0) continue;
    at(per_label, static_cast<std::int64_t>(r)) = -p.weight[r] * in[0].at(p.index[r]);
    sum += per_label.at(static_cast<std::int64_t>(r));
  }
  if (a.reduction == "none") return {per_label};
  Tensor loss = zeros_f64({});
  at(loss, 0) = a.reduction == "sum" ? sum : (p.total == 0 ? 0 : sum / p.total);
  return {loss};
}

std::vector<Tensor> nll_loss_grad_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  const Nll a(attrs);
  const Picks p(in, a, 3);
  Tensor dx = zeros_f64(in[0].shape());
  for (std::size_t r = 0; r < p.index.size(); ++r) {
    if (p.index[r] < 0) continue;
    const double dy = a.reduction == "none" ? in[2].at(static_cast<std::int64_t>(r))
                      : a.reduction == "sum" ? in[2].at(0)
                                             : in[2].at(0) / p.total;
    at(dx, p.index[r]) = -p.weight[r] * dy;
  }
  return {dx};
}

}  // namespace

DAGRAD_OP_REFERENCES(nll_loss) {
  return {
      {"nll_loss", {nll_loss_reference}},
      {"nll_loss_grad", {nll_loss_grad_reference}},
  };
}

namespace {

const Tensor kLogProbs = Tensor::from<double>({4, 3}, {-0.5, -1.25, -2.0, -1.5, -0.25, -3.0, -2.5, -0.75, -0.125, -0.375, -1.0, -2.25});
const Tensor kLabels = Tensor::from<std::int64_t>({4}, {2, 0, 1, 1});
const Tensor kWeight = Tensor::from<double>({3}, {0.5, 2.0, 1.5});

AttrMap nll_attrs(const char* reduction, std::int64_t ignore_index = -100) {
  return {{"reduction", std::string(reduction)}, {"ignore_index", ignore_index}};
}

TEST(NllLoss, MatchesPyTorchForEachReduction) {
  for (DType dtype : {DType::f64, DType::f32}) {
    std::vector<Tensor> in = {kLogProbs.to(dtype), kLabels, kWeight.to(dtype)};
    // 7.25 / 6: exact in float64, rounded once to float32.
    EXPECT_EQ(autodiff::run_op("nll_loss", nll_attrs("mean"), in)[0].at(0), dtype == DType::f64 ? 7.25 / 6 : double(float(7.25 / 6)))
        << dtype_name(dtype);
    EXPECT_EQ(autodiff::run_op("nll_loss", nll_attrs("sum"), in)[0].at(0), 7.25) << dtype_name(dtype);
    Tensor none = autodiff::run_op("nll_loss", nll_attrs("none"), in)[0];
    ASSERT_EQ(none.shape(), (Shape{4}));
    const std::vector<double> want = {3.0, 0.75, 1.5, 2.0};
    for (std::int64_t i = 0; i < 4; ++i) EXPECT_EQ(none.at(i), want[i]) << dtype_name(dtype) << " entry " << i;
  }
}

TEST(NllLoss, IgnoreIndexLeavesTheMeanAndItsGradientToTheOtherLabels) {
  // ignore_index 1 drops labels 2 and 3: (1.5 * 2 + 0.5 * 1.5) / (1.5 + 0.5) = 1.875 (PyTorch).
  std::vector<Tensor> in = {kLogProbs, kLabels, kWeight};
  EXPECT_DOUBLE_EQ(autodiff::run_op("nll_loss", nll_attrs("mean", 1), in)[0].at(0), 1.875);
  Tensor dx = autodiff::run_op("nll_loss_grad", nll_attrs("mean", 1), {kLogProbs, kLabels, Tensor::scalar(DType::f64, 1), kWeight})[0];
  // PyTorch autograd: -w[y] / sum(w) at the kept labels' entries.
  const std::vector<double> want = {0, 0, -0.75, -0.25, 0, 0, 0, 0, 0, 0, 0, 0};
  for (std::int64_t i = 0; i < 12; ++i) EXPECT_EQ(dx.at(i), want[i]) << "entry " << i;
}

TEST(NllLoss, SpatialLabelsWithWeightsMatchPyTorch) {
  Tensor lp = Tensor::from<double>({2, 3, 2}, {-0.5, -1.0, -1.5, -2.0, -0.25, -3.0, -0.75, -0.125, -2.5, -1.25, -1.75, -0.625});
  Tensor labels = Tensor::from<std::int64_t>({2, 2}, {2, -1, 0, 1});
  EXPECT_DOUBLE_EQ(autodiff::run_op("nll_loss", nll_attrs("mean", -1), {lp, labels, kWeight})[0].at(0), 0.8125);
  Tensor none = autodiff::run_op("nll_loss", nll_attrs("none", -1), {lp, labels, kWeight})[0];
  ASSERT_EQ(none.shape(), (Shape{2, 2}));
  const std::vector<double> want = {0.375, 0.0, 0.375, 2.5};
  for (std::int64_t i = 0; i < 4; ++i) EXPECT_EQ(none.at(i), want[i]) << "entry " << i;
}

TEST(NllLoss, EveryLabelIgnoredGivesZeroLossAndGradient) {
  Tensor labels = Tensor::from<std::int64_t>({4}, {-100, -100, -100, -100});
  EXPECT_EQ(autodiff::run_op("nll_loss", nll_attrs("mean"), {kLogProbs, labels, kWeight})[0].at(0), 0.0);
  Tensor dx = autodiff::run_op("nll_loss_grad", nll_attrs("mean"), {kLogProbs, labels, Tensor::scalar(DType::f64, 1)})[0];
  for (std::int64_t i = 0; i < dx.numel(); ++i) EXPECT_EQ(dx.at(i), 0.0) << "entry " << i;
}

TEST(NllLoss, OfLogSoftmaxIsSoftmaxCrossEntropy) {
  // ONNX SoftmaxCrossEntropyLoss = log_softmax(axis 1) + NegativeLogLikelihoodLoss.
  Graph g;
  Value logits = g.input("logits", {DType::f64, {3, 4, 2}});
  Value labels = g.input("labels", {DType::i64, {3, 2}});
  Value via_nll = ops::nll_loss(ops::log_softmax(logits, 1), labels, {}, {.ignore_index = 2});
  Value direct = ops::softmax_cross_entropy(logits, labels, {.ignore_index = 2});
  runtime::TensorMap feeds;
  std::vector<Tensor> data = autodiff::example_inputs(
      {.inputs = {{.shape = {3, 4, 2}, .low = -3, .high = 3}, {.shape = {3, 2}, .dtype = DType::i64, .low = 0, .high = 4}}}, 7);
  feeds.emplace("logits", data[0]);
  feeds.emplace("labels", data[1]);
  runtime::RunResult r = runtime::run(runtime::compile(g, {}, {via_nll.id(), direct.id()}), runtime::feeds_from({&feeds}));
  EXPECT_NEAR(r.at(via_nll.id()).at(0), r.at(direct.id()).at(0), 1e-14);
}

TEST(NllLoss, OutOfRangeLabelNamesNodeLabelAndPosition) {
  std::string msg = error_of([&] {
    autodiff::run_op("nll_loss", nll_attrs("mean"), {kLogProbs, Tensor::from<std::int64_t>({4}, {0, 1, 3, 0}), kWeight});
  });
  EXPECT_THAT(msg, HasSubstr("op 'nll_loss' node 'node'"));
  EXPECT_THAT(msg, HasSubstr("label 3 at batch row 2 is outside the classes [0, 3) and is not ignore_index -100"));
  Tensor lp(DType::f64, {2, 3, 2});
  msg = error_of([&] {
    autodiff::run_op("nll_loss_grad", nll_attrs("none"),
                     {lp, Tensor::from<std::int64_t>({2, 2}, {0, 1, 2, -5}), Tensor(DType::f64, {2, 2})});
  });
  EXPECT_THAT(msg, HasSubstr("op 'nll_loss_grad'"));
  EXPECT_THAT(msg, HasSubstr("label -5 at batch row 1, position 1"));
}

TEST(NllLoss, BadInputsAndAttributesNameTheProblem) {
  auto build = [](Shape lp, Shape labels, Shape weight, const char* reduction) {
    Graph g;
    Value w = weight.empty() ? Value() : g.input("weight", {DType::f32, weight});
    ops::nll_loss(g.input("log_probs", {DType::f32, lp}), g.input("labels", {DType::i64, labels}), w, {.reduction = reduction});
  };
  EXPECT_THAT(error_of([&] { build({4, 5}, {4}, {}, "avg"); }), HasSubstr("attribute 'reduction' = 'avg' must be 'mean', 'sum' or 'none'"));
  EXPECT_THAT(error_of([&] { build({4, 5}, {3}, {}, "mean"); }), HasSubstr("labels (input 1) must have shape [4]"));
  EXPECT_THAT(error_of([&] { build({4, 5}, {4}, {4}, "mean"); }), HasSubstr("weight (input 2) must have shape [5]"));
  EXPECT_THAT(error_of([&] { build({4}, {4}, {}, "mean"); }), HasSubstr("log_probs (input 0) must be [N,C] or [N,C,d1,...]"));
}

TEST(NllLoss, SameBitsForAnyThreadCount) {
  Graph g;
  Value lp = g.input("lp", {DType::f32, {64, 10, 40, 40}});
  Value labels = g.input("labels", {DType::i64, {64, 40, 40}});
  Value weight = g.input("weight", {DType::f32, {10}});
  Value loss = ops::nll_loss(lp, labels, weight, {.ignore_index = -1});
  Value grad = ops::nll_loss_grad(lp, labels, g.input("dy", {DType::f32, {}}), weight, {.ignore_index = -1});
  runtime::TensorMap feeds;
  std::vector<Tensor> data = autodiff::example_inputs(
      {.inputs = {{.shape = {64, 10, 40, 40}, .dtype = DType::f32, .low = -5, .high = 0},
                  {.shape = {64, 40, 40}, .dtype = DType::i64, .low = -1, .high = 10},
                  {.shape = {10}, .dtype = DType::f32, .low = 0.1, .high = 3},
                  {.shape = {}, .dtype = DType::f32}}},
      4);
  for (auto [name, i] : {std::pair{"lp", 0}, {"labels", 1}, {"weight", 2}, {"dy", 3}}) feeds.emplace(name, data[i]);
  std::vector<runtime::RunResult> runs;
  for (int threads : {1, 2})
    runs.push_back(runtime::run(runtime::compile(g, {.threads = threads}, {loss.id(), grad.id()}), runtime::feeds_from({&feeds})));
  EXPECT_TRUE(bitwise_equal(runs[0].at(loss.id()), runs[1].at(loss.id())));
  EXPECT_TRUE(bitwise_equal(runs[0].at(grad.id()), runs[1].at(grad.id())));
}

}  // namespace
}  // namespace dagrad::testing
