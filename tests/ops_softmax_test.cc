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

// x as [outer, width, inner] around the `axis` attribute (default -1): element j of line (o, i)
// is at (o * width + j) * inner + i.
struct Lines {
  std::int64_t outer = 1, width = 1, inner = 1;
  Lines(const Shape& s, const AttrMap& attrs) {
    const auto rank = static_cast<std::int64_t>(s.size());
    std::int64_t axis = attrs.count("axis") ? std::get<std::int64_t>(attrs.at("axis")) : -1;
    if (axis < 0) axis += rank;
    for (std::int64_t d = 0; d < rank; ++d) (d < axis ? outer : d == axis ? width : inner) *= s[d];
  }
  std::int64_t lines() const { return outer * inner; }
  std::int64_t at(std::int64_t line, std::int64_t j) const { return ((line / inner) * width + j) * inner + line % inner; }
};

// Naive definitions in float64 along the axis: exp / sum(exp), no max subtraction (inputs are small).
Tensor softmax_of(const Tensor& x, const AttrMap& attrs) {
  const Lines l(x.shape(), attrs);
  Tensor y = zeros_f64(x.shape());
  for (std::int64_t r = 0; r < l.lines(); ++r) {
    double total = 0;
    for (std::int64_t j = 0; j < l.width; ++j) total += std::exp(x.at(l.at(r, j)));
    for (std::int64_t j = 0; j < l.width; ++j) at(y, l.at(r, j)) = std::exp(x.at(l.at(r, j))) / total;
  }
  return y;
}

std::vector<Tensor> softmax_reference(const std::vector<Tensor>& in, const AttrMap& attrs) { return {softmax_of(in[0], attrs)}; }

std::vector<Tensor> log_softmax_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  Tensor y = softmax_of(in[0], attrs);
  for (std::int64_t i = 0; i < y.numel(); ++i) at(y, i) = std::log(at(y, i));
  return {y};
}

std::vector<Tensor> softmax_grad_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  const Lines l(in[0].shape(), attrs);
  Tensor dx = zeros_f64(in[0].shape());
  for (std::int64_t r = 0; r < l.lines(); ++r) {
    double dot = 0;
    for (std::int64_t j = 0; j < l.width; ++j) dot += in[1].at(l.at(r, j)) * in[0].at(l.at(r, j));
    for (std::int64_t j = 0; j < l.width; ++j) at(dx, l.at(r, j)) = in[0].at(l.at(r, j)) * (in[1].at(l.at(r, j)) - dot);
  }
  return {dx};
}

std::vector<Tensor> log_softmax_grad_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  const Lines l(in[0].shape(), attrs);
  Tensor dx = zeros_f64(in[0].shape());
  for (std::int64_t r = 0; r < l.lines(); ++r) {
    double total = 0;
    for (std::int64_t j = 0; j < l.width; ++j) total += in[1].at(l.at(r, j));
    for (std::int64_t j = 0; j < l.width; ++j)
      at(dx, l.at(r, j)) = in[1].at(l.at(r, j)) - std::exp(in[0].at(l.at(r, j))) * total;
  }
  return {dx};
}

// Cross-entropy from its definition: classes on axis 1 of logits, line r of the logits belongs to
// label r; target = (1 - e) one-hot + e / K; the mean over labels != ignore_index (none: 0).
struct CrossEntropy {
  double e = 0;
  std::int64_t ignore = -100;
  explicit CrossEntropy(const AttrMap& attrs) {
    if (attrs.count("label_smoothing")) e = std::get<double>(attrs.at("label_smoothing"));
    if (attrs.count("ignore_index")) ignore = std::get<std::int64_t>(attrs.at("ignore_index"));
  }
  double target(std::int64_t j, std::int64_t label, std::int64_t classes) const { return (j == label ? 1 - e : 0) + e / classes; }
};

std::vector<Tensor> cross_entropy_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  const AttrMap classes_axis = {{"axis", std::int64_t{1}}};
  const Lines l(in[0].shape(), classes_axis);
  const CrossEntropy ce(attrs);
  Tensor p = softmax_of(in[0], classes_axis);
  double sum = 0, kept = 0;
  for (std::int64_t r = 0; r < l.lines(); ++r) {
    const auto label = static_cast<std::int64_t>(in[1].at(r));
    if (label == ce.ignore) continue;
    kept += 1;
    for (std::int64_t j = 0; j < l.width; ++j) sum -= ce.target(j, label, l.width) * std::log(p.at(l.at(r, j)));
  }
  Tensor loss = zeros_f64({});
  at(loss, 0) = kept == 0 ? 0 : sum / kept;
  return {loss};
}

std::vector<Tensor> cross_entropy_grad_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  const AttrMap classes_axis = {{"axis", std::int64_t{1}}};
  const Lines l(in[0].shape(), classes_axis);
  const CrossEntropy ce(attrs);
  Tensor dx = softmax_of(in[0], classes_axis);
  double kept = 0;
  for (std::int64_t r = 0; r < l.lines(); ++r) kept += static_cast<std::int64_t>(in[1].at(r)) == ce.ignore ? 0 : 1;
  for (std::int64_t r = 0; r < l.lines(); ++r) {
    const auto label = static_cast<std::int64_t>(in[1].at(r));
    for (std::int64_t j = 0; j < l.width; ++j)
      at(dx, l.at(r, j)) = label == ce.ignore ? 0 : (dx.at(l.at(r, j)) - ce.target(j, label, l.width)) * in[2].at(0) / kept;
  }
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
  EXPECT_THAT(msg, HasSubstr("is outside the classes [0, 4) and is not ignore_index -100"));
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
  EXPECT_THAT(error_of([&] { build({4}, {4}, DType::i64); }), HasSubstr("logits (input 0) must be [N,K] or [N,K,d1,...], got shape [4]"));
  EXPECT_THAT(error_of([&] { build({4, 5, 2}, {4}, DType::i64); }),
              HasSubstr("labels (input 1) must have shape [4,2] to match the batch of logits [4,5,2], got [4]"));
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

// ---- softmax and log_softmax on any axis -----------------------------------------------------

AttrMap axis(std::int64_t a) { return {{"axis", a}}; }

// x [A, B, C] permuted so that dim `d` comes last, in float64.
Tensor move_dim_last(const Tensor& x, int d) {
  const Shape& s = x.shape();
  Shape out;
  for (int i = 0; i < 3; ++i)
    if (i != d) out.push_back(s[i]);
  out.push_back(s[d]);
  Tensor y(x.dtype(), out);
  for (std::int64_t i = 0; i < s[0]; ++i)
    for (std::int64_t j = 0; j < s[1]; ++j)
      for (std::int64_t k = 0; k < s[2]; ++k) {
        const std::int64_t idx[3] = {i, j, k};
        std::int64_t rest[2], n = 0;
        for (int q = 0; q < 3; ++q)
          if (q != d) rest[n++] = idx[q];
        const std::int64_t to = (rest[0] * out[1] + rest[1]) * out[2] + idx[d];
        const std::int64_t from = (i * s[1] + j) * s[2] + k;
        if (x.dtype() == DType::f32) y.data<float>()[to] = x.data<float>()[from];
        else y.data<double>()[to] = x.data<double>()[from];
      }
  return y;
}

// Each line runs the same arithmetic whatever the axis: softmax over dim d of x is, bit for bit,
// softmax over the last dim of x with d moved last; also for the backward ops. Shapes with more
// than 64 lines side by side exercise several lane blocks.
TEST(Softmax, AnyAxisIsTheLastAxisOfTheTransposeBitForBit) {
  for (DType dtype : {DType::f64, DType::f32}) {
    for (int d : {0, 1}) {
      Tensor x = autodiff::example_inputs({.inputs = {{.shape = {5, 7, 150}, .low = -4, .high = 4}}}, 11)[0].to(dtype);
      Tensor dy = autodiff::example_inputs({.inputs = {{.shape = {5, 7, 150}}}}, 12)[0].to(dtype);
      for (const char* op : {"softmax", "log_softmax"}) {
        Tensor y = autodiff::run_op(op, axis(d), {x})[0];
        Tensor want = autodiff::run_op(op, {}, {move_dim_last(x, d)})[0];
        EXPECT_TRUE(bitwise_equal(move_dim_last(y, d), want)) << op << " axis " << d << " " << dtype_name(dtype);
        const std::string backward = std::string(op) + "_grad";
        Tensor dx = autodiff::run_op(backward, axis(d - 3), {y, dy})[0];
        Tensor want_dx = autodiff::run_op(backward, {}, {move_dim_last(y, d), move_dim_last(dy, d)})[0];
        EXPECT_TRUE(bitwise_equal(move_dim_last(dx, d), want_dx)) << backward << " axis " << d << " " << dtype_name(dtype);
      }
    }
  }
}

TEST(Softmax, StableForLargeLogitsOnAnyAxis) {
  Tensor x = Tensor::from<double>({3, 1}, {1e4, 1e4 - std::log(3.0), -1e4});
  Tensor y = autodiff::run_op("softmax", axis(0), {x})[0];
  EXPECT_NEAR(y.at(0), 0.75, 1e-9);
  EXPECT_NEAR(y.at(1), 0.25, 1e-9);
  EXPECT_EQ(y.at(2), 0.0);
  Tensor log_y = autodiff::run_op("log_softmax", axis(-2), {x.to(DType::f32)})[0];
  EXPECT_NEAR(log_y.at(2), -2e4 + std::log(0.75), 1e-2);
}

TEST(Softmax, SameBitsForAnyThreadCountOnAnyAxis) {
  Graph g;
  Value x = g.input("x", {DType::f32, {16, 10, 40, 40}});
  Value y = ops::softmax(x, 1);
  Value z = ops::log_softmax_grad(ops::log_softmax(x, -3), x, 1);
  runtime::TensorMap feeds;
  feeds.emplace("x", autodiff::example_inputs({.inputs = {{.shape = {16, 10, 40, 40}, .dtype = DType::f32, .low = -5, .high = 5}}}, 4)[0]);
  std::vector<runtime::RunResult> runs;
  for (int threads : {1, 2})
    runs.push_back(runtime::run(runtime::compile(g, {.threads = threads}, {y.id(), z.id()}), runtime::feeds_from({&feeds})));
  EXPECT_TRUE(bitwise_equal(runs[0].at(y.id()), runs[1].at(y.id())));
  EXPECT_TRUE(bitwise_equal(runs[0].at(z.id()), runs[1].at(z.id())));
}

TEST(Softmax, AxisOutOfRangeNamesAxisAndRank) {
  std::string msg = error_of([] {
    Graph g;
    ops::softmax(g.input("x", {DType::f32, {2, 3}}), 2);
  });
  EXPECT_THAT(msg, HasSubstr("op 'softmax'"));
  EXPECT_THAT(msg, HasSubstr("attribute 'axis' = 2 is out of range for rank 2"));
  msg = error_of([] {
    Graph g;
    ops::log_softmax(g.input("x", {DType::f32, {2, 3}}), -3);
  });
  EXPECT_THAT(msg, HasSubstr("op 'log_softmax'"));
  EXPECT_THAT(msg, HasSubstr("attribute 'axis' = -3 is out of range for rank 2"));
  msg = error_of([] {
    Graph g;
    ops::softmax_grad(g.input("y", {DType::f64, {4}}), g.input("dy", {DType::f64, {4}}), 1);
  });
  EXPECT_THAT(msg, HasSubstr("op 'softmax_grad'"));
  EXPECT_THAT(msg, HasSubstr("attribute 'axis' = 1 is out of range for rank 1"));
  // A file's attributes go through the same shape rule.
  msg = error_of([] { autodiff::run_op("log_softmax_grad", axis(-5), {Tensor(DType::f64, {2, 2}), Tensor(DType::f64, {2, 2})}); });
  EXPECT_THAT(msg, HasSubstr("op 'log_softmax_grad'"));
  EXPECT_THAT(msg, HasSubstr("attribute 'axis' = -5 is out of range for rank 2"));
}

TEST(Softmax, EmptyAxisIsAnError) {
  std::string msg = error_of([] {
    Graph g;
    ops::softmax(g.input("x", {DType::f32, {2, 0, 3}}), 1);
  });
  EXPECT_THAT(msg, HasSubstr("input 0 has an empty axis 1: shape [2,0,3]"));
  // Empty dims other than the axis are fine: nothing to normalize.
  EXPECT_EQ(autodiff::run_op("softmax", axis(1), {Tensor(DType::f64, {0, 3})})[0].shape(), (Shape{0, 3}));
  EXPECT_EQ(autodiff::run_op("log_softmax", axis(1), {Tensor(DType::f64, {2, 3, 0})})[0].shape(), (Shape{2, 3, 0}));
  EXPECT_EQ(autodiff::run_op("softmax_grad", axis(0), {Tensor(DType::f32, {3, 0}), Tensor(DType::f32, {3, 0})})[0].shape(), (Shape{3, 0}));
  // Cross-entropy over no positions: every (none) label ignored, the loss is 0.
  EXPECT_EQ(autodiff::run_op("softmax_cross_entropy", {}, {Tensor(DType::f64, {2, 3, 0}), Tensor(DType::i64, {2, 0})})[0].at(0), 0);
}

// ---- softmax_cross_entropy: label smoothing, ignore_index, classes on dim 1 -------------------

AttrMap ce_options(double smoothing, std::int64_t ignore) { return {{"label_smoothing", smoothing}, {"ignore_index", ignore}}; }

// One row, logits log(1), log(2), log(5) (softmax 0.125, 0.25, 0.625), label 2, e = 0.3: the
// loss is -sum_j t_j log p_j with t = 0.7 one-hot + 0.1.
TEST(SoftmaxCrossEntropy, LabelSmoothingGolden) {
  Tensor logits = Tensor::from<double>({1, 3}, {0, std::log(2.0), std::log(5.0)});
  Tensor labels = Tensor::from<std::int64_t>({1}, {2});
  const double p[3] = {0.125, 0.25, 0.625};
  const double want = -(0.1 * std::log(p[0]) + 0.1 * std::log(p[1]) + 0.8 * std::log(p[2]));
  EXPECT_NEAR(autodiff::run_op("softmax_cross_entropy", ce_options(0.3, -100), {logits, labels})[0].at(0), want, 1e-14);
  Tensor dx = autodiff::run_op("softmax_cross_entropy_grad", ce_options(0.3, -100), {logits, labels, Tensor::scalar(DType::f64, 2)})[0];
  EXPECT_NEAR(dx.at(0), 2 * (p[0] - 0.1), 1e-15);
  EXPECT_NEAR(dx.at(1), 2 * (p[1] - 0.1), 1e-15);
  EXPECT_NEAR(dx.at(2), 2 * (p[2] - 0.8), 1e-15);
  // Full smoothing: the target is uniform, whatever the label.
  Tensor other = Tensor::from<std::int64_t>({1}, {0});
  EXPECT_EQ(autodiff::run_op("softmax_cross_entropy", ce_options(1, -100), {logits, labels})[0].at(0),
            autodiff::run_op("softmax_cross_entropy", ce_options(1, -100), {logits, other})[0].at(0));
}

// Smoothing keeps the stability: -log p_j = (max - x_j) + log(sum(exp(x - max))) for every j.
TEST(SoftmaxCrossEntropy, SmoothingStableForLogitsOfMagnitude1e4) {
  for (DType dtype : {DType::f64, DType::f32}) {
    Tensor logits = Tensor::from<double>({1, 3}, {1e4, -1e4, 0}).to(dtype);
    Tensor labels = Tensor::from<std::int64_t>({1}, {0});
    // -log p = 0, 2e4, 1e4: the loss is 0.7 * 0 + 0.3 * (0 + 2e4 + 1e4) / 3 = 3000.
    Tensor loss = autodiff::run_op("softmax_cross_entropy", ce_options(0.3, -100), {logits, labels})[0];
    EXPECT_NEAR(loss.at(0), 3000, 3000 * 1e-7) << dtype_name(dtype);
    Tensor dx = autodiff::run_op("softmax_cross_entropy_grad", ce_options(0.3, -100), {logits, labels, Tensor::scalar(dtype, 1)})[0];
    EXPECT_NEAR(dx.at(0), 1 - 0.8, 1e-7) << dtype_name(dtype);  // p - target = 1 - (0.7 + 0.1)
    EXPECT_NEAR(dx.at(1), -0.1, 1e-7) << dtype_name(dtype);
    EXPECT_NEAR(dx.at(2), -0.1, 1e-7) << dtype_name(dtype);
  }
}

// Ignored rows add nothing and do not count: the loss equals that of the other rows alone.
TEST(SoftmaxCrossEntropy, IgnoredLabelsLeaveTheMean) {
  Tensor logits = autodiff::example_inputs({.inputs = {{.shape = {4, 3}, .low = -2, .high = 2}}}, 9)[0];
  Tensor labels = Tensor::from<std::int64_t>({4}, {2, 7, 0, 7});
  Tensor kept_logits = Tensor::from<double>({2, 3}, {logits.at(0), logits.at(1), logits.at(2), logits.at(6), logits.at(7), logits.at(8)});
  Tensor kept_labels = Tensor::from<std::int64_t>({2}, {2, 0});
  for (double e : {0.0, 0.25}) {
    Tensor loss = autodiff::run_op("softmax_cross_entropy", ce_options(e, 7), {logits, labels})[0];
    Tensor want = autodiff::run_op("softmax_cross_entropy", ce_options(e, 7), {kept_logits, kept_labels})[0];
    EXPECT_EQ(loss.at(0), want.at(0)) << "smoothing " << e;
    Tensor dx = autodiff::run_op("softmax_cross_entropy_grad", ce_options(e, 7), {logits, labels, Tensor::scalar(DType::f64, 1)})[0];
    Tensor want_dx =
        autodiff::run_op("softmax_cross_entropy_grad", ce_options(e, 7), {kept_logits, kept_labels, Tensor::scalar(DType::f64, 1)})[0];
    for (std::int64_t j = 0; j < 3; ++j) {
      EXPECT_EQ(dx.at(j), want_dx.at(j));
      EXPECT_EQ(dx.at(3 + j), 0);
      EXPECT_EQ(dx.at(6 + j), want_dx.at(3 + j));
      EXPECT_EQ(dx.at(9 + j), 0);
    }
  }
}

// Every label ignored: the loss is 0 and so is its gradient (PyTorch gives NaN, 0 / 0).
TEST(SoftmaxCrossEntropy, EveryLabelIgnoredGivesZero) {
  for (DType dtype : {DType::f64, DType::f32}) {
    Tensor logits = Tensor::from<double>({2, 3}, {1, 2, 3, -1, 0, 4}).to(dtype);
    Tensor labels = Tensor::from<std::int64_t>({2}, {-100, -100});
    Tensor loss = autodiff::run_op("softmax_cross_entropy", ce_options(0.1, -100), {logits, labels})[0];
    EXPECT_EQ(loss.at(0), 0) << dtype_name(dtype);
    Tensor dx = autodiff::run_op("softmax_cross_entropy_grad", ce_options(0.1, -100), {logits, labels, Tensor::scalar(dtype, 1)})[0];
    for (std::int64_t i = 0; i < 6; ++i) EXPECT_EQ(dx.at(i), 0) << dtype_name(dtype) << " entry " << i;
  }
}

// Logits [N, K, d] against labels [N, d] is the 2-D loss of the N * d lines of K logits.
TEST(SoftmaxCrossEntropy, ClassesOnDimOneMatchTheTwoDimensionalForm) {
  Tensor logits = autodiff::example_inputs({.inputs = {{.shape = {2, 3, 4}, .low = -3, .high = 3}}}, 21)[0];
  Tensor labels = Tensor::from<std::int64_t>({2, 4}, {0, 2, -1, 1, 1, 1, 0, 2});
  Tensor flat = zeros_f64({8, 3});
  for (std::int64_t n = 0; n < 2; ++n)
    for (std::int64_t j = 0; j < 3; ++j)
      for (std::int64_t i = 0; i < 4; ++i) at(flat, (n * 4 + i) * 3 + j) = logits.at((n * 3 + j) * 4 + i);
  Tensor flat_labels = labels.reshaped({8});
  // The mean follows the canonical batch order, groups of 4 images (ops/kernels/batch_groups.h):
  // 2 images of 4 lines are one group, 8 one-line images two groups, so the sums round apart.
  EXPECT_DOUBLE_EQ(autodiff::run_op("softmax_cross_entropy", ce_options(0.1, -1), {logits, labels})[0].at(0),
                   autodiff::run_op("softmax_cross_entropy", ce_options(0.1, -1), {flat, flat_labels})[0].at(0));
  Tensor dx = autodiff::run_op("softmax_cross_entropy_grad", ce_options(0.1, -1), {logits, labels, Tensor::scalar(DType::f64, 1)})[0];
  Tensor flat_dx =
      autodiff::run_op("softmax_cross_entropy_grad", ce_options(0.1, -1), {flat, flat_labels, Tensor::scalar(DType::f64, 1)})[0];
  for (std::int64_t n = 0; n < 2; ++n)
    for (std::int64_t j = 0; j < 3; ++j)
      for (std::int64_t i = 0; i < 4; ++i) EXPECT_EQ(dx.at((n * 3 + j) * 4 + i), flat_dx.at((n * 4 + i) * 3 + j));
}

TEST(SoftmaxCrossEntropy, LabelSmoothingOutsideZeroOneIsAnError) {
  for (double e : {-0.1, 1.5, std::nan("")}) {
    std::string msg = error_of([&] {
      Graph g;
      ops::softmax_cross_entropy(g.input("logits", {DType::f32, {2, 3}}), g.input("labels", {DType::i64, {2}}), {.label_smoothing = e});
    });
    EXPECT_THAT(msg, HasSubstr("op 'softmax_cross_entropy'"));
    EXPECT_THAT(msg, HasSubstr("attribute 'label_smoothing' = "));
    EXPECT_THAT(msg, HasSubstr(" is outside [0, 1]"));
  }
  std::string msg = error_of([] {
    autodiff::run_op("softmax_cross_entropy_grad", ce_options(2, -100),
                     {Tensor(DType::f64, {2, 3}), Tensor(DType::i64, {2}), Tensor::scalar(DType::f64, 1)});
  });
  EXPECT_THAT(msg, HasSubstr("op 'softmax_cross_entropy_grad'"));
  EXPECT_THAT(msg, HasSubstr("attribute 'label_smoothing' = 2 is outside [0, 1]"));
}

// A label out of [0, K) is an error unless it is ignore_index; the message names its position.
TEST(SoftmaxCrossEntropy, OutOfRangeLabelsUnlessIgnored) {
  Tensor logits(DType::f64, {2, 3, 2});
  EXPECT_EQ(autodiff::run_op("softmax_cross_entropy", ce_options(0, 9), {logits, Tensor::from<std::int64_t>({2, 2}, {0, 9, 9, 2})})[0].shape(),
            Shape{});
  std::string msg = error_of([&] {
    autodiff::run_op("softmax_cross_entropy", ce_options(0, 9), {logits, Tensor::from<std::int64_t>({2, 2}, {0, 9, 3, 2})});
  });
  EXPECT_THAT(msg, HasSubstr("label 3 at batch row 1, position 0 is outside the classes [0, 3) and is not ignore_index 9"));
  msg = error_of([&] {
    autodiff::run_op("softmax_cross_entropy_grad", {},
                     {Tensor(DType::f64, {2, 3}), Tensor::from<std::int64_t>({2}, {-100, -3}), Tensor::scalar(DType::f64, 1)});
  });
  EXPECT_THAT(msg, HasSubstr("label -3 at batch row 1 is outside the classes [0, 3) and is not ignore_index -100"));
}

// Files saved before the attributes (no label_smoothing, no ignore_index, no axis) mean what they did.
TEST(SoftmaxCrossEntropy, NoAttributesMeanTheOldOps) {
  Tensor logits = autodiff::example_inputs({.inputs = {{.shape = {3, 4}, .low = -3, .high = 3}}}, 2)[0];
  Tensor labels = Tensor::from<std::int64_t>({3}, {1, 0, 3});
  EXPECT_TRUE(bitwise_equal(autodiff::run_op("softmax_cross_entropy", {}, {logits, labels})[0],
                            autodiff::run_op("softmax_cross_entropy", ce_options(0, -100), {logits, labels})[0]));
  EXPECT_TRUE(bitwise_equal(autodiff::run_op("softmax", {}, {logits})[0], autodiff::run_op("softmax", axis(1), {logits})[0]));
}

}  // namespace
}  // namespace dagrad::testing
