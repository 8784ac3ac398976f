// SGD against hand-computed steps; learning-rate schedules; metrics CSV and SVG.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "train/metrics.h"
#include "train/optimizer.h"

namespace dagrad::train {
namespace {

using ::testing::HasSubstr;

struct SgdRun {
  std::vector<double> w;
  std::vector<double> buf;
};

// Two steps on w = [1, -2] with gradients [0.5, 0.25] then [-1, 2], lr 0.1.
SgdRun two_steps(const SgdOptions& o) {
  Tensor w = Tensor::from<double>({2}, {1.0, -2.0});
  Tensor buf(DType::f64, {2});
  sgd_update(w, Tensor::from<double>({2}, {0.5, 0.25}), buf, 0.1, o);
  sgd_update(w, Tensor::from<double>({2}, {-1.0, 2.0}), buf, 0.1, o);
  auto wd = w.data<double>();
  auto bd = buf.data<double>();
  return {{wd.begin(), wd.end()}, {bd.begin(), bd.end()}};
}

TEST(Sgd, PlainStep) {
  SgdRun r = two_steps({.lr = 0.1, .momentum = 0, .weight_decay = 0});
  // w1 = 1 - 0.05 = 0.95, w2 = 0.95 + 0.1 = 1.05; -2 - 0.025 = -2.025, -2.025 - 0.2 = -2.225
  EXPECT_NEAR(r.w[0], 1.05, 1e-14);
  EXPECT_NEAR(r.w[1], -2.225, 1e-14);
}

TEST(Sgd, Momentum) {
  SgdRun r = two_steps({.lr = 0.1, .momentum = 0.9, .weight_decay = 0});
  // buf1 = [0.5, 0.25]; w = [0.95, -2.025]; buf2 = 0.9*buf1 + g2 = [-0.55, 2.225]; w = [1.005, -2.2475]
  EXPECT_NEAR(r.buf[0], -0.55, 1e-14);
  EXPECT_NEAR(r.buf[1], 2.225, 1e-14);
  EXPECT_NEAR(r.w[0], 1.005, 1e-14);
  EXPECT_NEAR(r.w[1], -2.2475, 1e-14);
}

TEST(Sgd, Nesterov) {
  SgdRun r = two_steps({.lr = 0.1, .momentum = 0.9, .weight_decay = 0, .nesterov = true});
  // step 1: buf = g = [0.5, 0.25]; d = g + 0.9 buf = [0.95, 0.475]; w = [0.905, -2.0475]
  // step 2: buf = [-0.55, 2.225]; d = [-1 - 0.495, 2 + 2.0025] = [-1.495, 4.0025]; w = [1.0545, -2.44775]
  EXPECT_NEAR(r.w[0], 1.0545, 1e-14);
  EXPECT_NEAR(r.w[1], -2.44775, 1e-14);
}

TEST(Sgd, WeightDecayWithMomentum) {
  SgdRun r = two_steps({.lr = 0.1, .momentum = 0.9, .weight_decay = 0.1});
  // step 1: g = [0.5 + 0.1, 0.25 - 0.2] = [0.6, 0.05]; buf = g; w = [0.94, -2.005]
  // step 2: g = [-1 + 0.094, 2 - 0.2005] = [-0.906, 1.7995]; buf = [0.54 - 0.906, 0.045 + 1.7995] = [-0.366, 1.8445]
  //         w = [0.94 + 0.0366, -2.005 - 0.18445] = [0.9766, -2.18945]
  EXPECT_NEAR(r.buf[0], -0.366, 1e-15);
  EXPECT_NEAR(r.buf[1], 1.8445, 1e-15);
  EXPECT_NEAR(r.w[0], 0.9766, 1e-15);
  EXPECT_NEAR(r.w[1], -2.18945, 1e-15);
}

TEST(Sgd, Float32AndMismatchErrors) {
  Tensor w = Tensor::from<float>({1}, {1.0f});
  Tensor buf(DType::f32, {1});
  sgd_update(w, Tensor::from<float>({1}, {2.0f}), buf, 0.5, {.momentum = 0, .weight_decay = 0});
  EXPECT_EQ(w.data<float>()[0], 0.0f);
  EXPECT_THAT([&] { sgd_update(w, Tensor::from<float>({2}, {1, 2}), buf, 0.1, {}); },
              ::testing::ThrowsMessage<Error>(HasSubstr("gradient f32[2] does not match parameter f32[1]")));
}

TEST(Sgd, BuffersAreCreatedPerParameter) {
  TensorMap params;
  params.emplace("a.w", Tensor(DType::f32, {2, 3}));
  TrainingState state;
  init_sgd_buffers(params, state);
  ASSERT_TRUE(state.buffers.count("momentum/a.w"));
  EXPECT_EQ(state.buffers.at("momentum/a.w").shape(), (Shape{2, 3}));
  state.buffers.at("momentum/a.w") = Tensor(DType::f32, {3});
  EXPECT_THROW(init_sgd_buffers(params, state), Error);
}

TEST(Schedule, Constant) {
  Schedule s = make_schedule("constant", 0.1, 10, 3);
  EXPECT_EQ(s.lr_at(0), 0.1);
  EXPECT_EQ(s.lr_at(29), 0.1);
}

TEST(Schedule, CosineLikeTorchOverAllSteps) {
  Schedule s = make_schedule("cosine", 0.05, 100, 5);
  EXPECT_EQ(s.total_steps, 500);
  EXPECT_DOUBLE_EQ(s.lr_at(0), 0.05);
  EXPECT_DOUBLE_EQ(s.lr_at(250), 0.025);
  EXPECT_DOUBLE_EQ(s.lr_at(125), 0.05 * (1 + std::cos(std::numbers::pi / 4)) / 2);
  EXPECT_NEAR(s.lr_at(500), 0.0, 1e-18);
  EXPECT_NEAR(s.lr_at(900), 0.0, 1e-18);  // stays at the minimum
}

TEST(Schedule, StepDecay) {
  Schedule s = make_schedule("step:2:0.5", 0.8, 10, 6);
  EXPECT_EQ(s.step_every, 20);
  EXPECT_DOUBLE_EQ(s.lr_at(19), 0.8);
  EXPECT_DOUBLE_EQ(s.lr_at(20), 0.4);
  EXPECT_DOUBLE_EQ(s.lr_at(45), 0.2);
  Schedule d = make_schedule("step", 1.0, 10, 6);  // every ceil(6/3) = 2 epochs, times 0.1
  EXPECT_EQ(d.step_every, 20);
  EXPECT_DOUBLE_EQ(d.lr_at(40), 0.01);
}

TEST(Schedule, LinearWarmupThenCosine) {
  Schedule s = make_schedule("cosine", 0.1, 10, 3, 1.0);  // 10 warm-up steps, cosine over the other 20
  EXPECT_DOUBLE_EQ(s.lr_at(0), 0.01);
  EXPECT_DOUBLE_EQ(s.lr_at(4), 0.05);
  EXPECT_DOUBLE_EQ(s.lr_at(9), 0.1);
  EXPECT_DOUBLE_EQ(s.lr_at(10), 0.1);
  EXPECT_DOUBLE_EQ(s.lr_at(20), 0.05);
}

TEST(Schedule, BadSpecsAreClearErrors) {
  EXPECT_THAT([] { make_schedule("linear", 0.1, 10, 3); },
              ::testing::ThrowsMessage<Error>(HasSubstr("unknown learning-rate schedule 'linear'")));
  EXPECT_THAT([] { make_schedule("step:x", 0.1, 10, 3); }, ::testing::ThrowsMessage<Error>(HasSubstr("'x' is not a number")));
  EXPECT_THAT([] { make_schedule("cosine:3", 0.1, 10, 3); }, ::testing::ThrowsMessage<Error>(HasSubstr("takes no parameters")));
}

TEST(Metrics, CsvRoundTripsExactly) {
  std::vector<EpochMetrics> history{{1, 0.05, 0.6123456789012345, 0.78, 0.5, 0.81, 12.5, 1.25},
                                    {2, 0.025, 0.4, 0.85, NAN, NAN, 11.0, 0.0}};
  std::string csv = metrics_csv(history);
  EXPECT_THAT(csv, ::testing::StartsWith("epoch,lr,train_loss,train_accuracy,test_loss,test_accuracy,train_seconds,test_seconds\n1,"));
  auto back = parse_metrics_csv(csv);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].train_loss, history[0].train_loss);
  EXPECT_EQ(back[1].epoch, 2);
  EXPECT_TRUE(std::isnan(back[1].test_accuracy));
  EXPECT_THROW(parse_metrics_csv("epoch\n1,2\n"), Error);
}

TEST(Metrics, SvgHasAxesSeriesAndLegend) {
  std::vector<EpochMetrics> history{{1, 0.05, 0.6, 0.78, 0.5, 0.81, 1, 1}, {2, 0.02, 0.4, 0.85, 0.45, 0.86, 1, 1},
                                    {3, 0.0, 0.3, 0.9, 0.4, 0.88, 1, 1}};
  std::string svg = metrics_svg(history, "resnet_ref <fashion>");
  EXPECT_THAT(svg, ::testing::StartsWith("<svg xmlns=\"http://www.w3.org/2000/svg\""));
  EXPECT_THAT(svg, HasSubstr("resnet_ref &lt;fashion&gt;"));
  EXPECT_THAT(svg, HasSubstr(">test accuracy</text>"));
  EXPECT_THAT(svg, HasSubstr(">epoch</text>"));
  std::size_t polylines = 0;
  for (std::size_t at = svg.find("<polyline"); at != std::string::npos; at = svg.find("<polyline", at + 1)) ++polylines;
  EXPECT_EQ(polylines, 4u);
  EXPECT_THAT(svg, ::testing::EndsWith("</svg>\n"));
}

}  // namespace
}  // namespace dagrad::train
