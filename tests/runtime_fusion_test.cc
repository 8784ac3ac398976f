// Training-step fusions (runtime/passes.h fuse_training_steps): which nodes fold together, and that
// a fused plan gives exactly the bits of the separate ops (float32 and float64, 1 and 2 threads,
// residual networks, a bottleneck network and a data-parallel slice) with no more memory.
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "autodiff/grad.h"
#include "models/zoo.h"
#include "ops/ops.h"
#include "runtime/passes.h"
#include "runtime/runtime.h"

namespace dagrad::runtime {
namespace {

Graph training_graph(const std::string& model, std::int64_t batch, DType dtype = DType::f32) {
  Graph forward = models::build_model(model, {.batch = batch, .dtype = dtype, .seed = 5, .training = true});
  return autodiff::grad_parameters(forward).graph;
}

// Inputs from a fixed sequence: values in [-1, 1), labels in [0, 3).
TensorMap fixed_inputs(const Graph& g) {
  TensorMap feeds;
  std::uint64_t seed = 7;
  auto next = [&] {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return seed >> 33;
  };
  for (ValueId id : g.values_of_kind(ValueKind::input)) {
    const ValueInfo& v = g.value(id);
    Tensor t(v.type.dtype, v.type.shape);
    for (std::int64_t i = 0; i < t.numel(); ++i) {
      const double value = static_cast<double>(next() % 65536) / 32768.0 - 1.0;
      if (v.type.dtype == DType::i64) t.data<std::int64_t>()[i] = static_cast<std::int64_t>(next() % 3);
      else if (v.type.dtype == DType::f64) t.data<double>()[i] = value;
      else t.data<float>()[i] = static_cast<float>(value);
    }
    feeds.emplace(v.name, std::move(t));
  }
  return feeds;
}

struct Counts {
  int activations = 0, residuals = 0, prologues = 0, fused_away = 0;
};
Counts count_fusions(const Graph& g) {
  Schedule s;
  select_fetches(s, g, {});
  prune(s, g);
  liveness(s, g);
  fuse_training_steps(s, g);
  Counts c;
  for (const Step& step : s.steps) {
    c.fused_away += step.fused_away;
    c.activations += step.activation_step >= 0;
    c.residuals += step.residual_step >= 0;
    c.prologues += step.prologue_reader >= 0;
  }
  return c;
}

TEST(TrainingFusion, ResnetRefFoldsEveryBatchNormReluAndResidualSum) {
  const Counts c = count_fusions(training_graph("resnet_ref", 2));
  // 13 relus, each after a batch norm (the stem, and two per block of 6), 6 of them after the
  // block's residual sum; the relu gradients read by a batch norm's gradient alone (the stem's and
  // each block's first) run inside it, the blocks' last ones also feed the shortcut and do not.
  EXPECT_EQ(c.activations, 13);
  EXPECT_EQ(c.residuals, 6);
  EXPECT_EQ(c.prologues, 7);
  EXPECT_EQ(c.fused_away, 13 + 6 + 7);
}

TEST(TrainingFusion, CheckNumericsAndFuseOffRunEveryNodeAlone) {
  const Graph g = training_graph("resnet_tiny", 2);
  EXPECT_EQ(compile(g, {.check_numerics = true}).fused_node_count(), 0);
  EXPECT_EQ(compile(g, {.fuse = false}).fused_node_count(), 0);
  EXPECT_GT(compile(g).fused_node_count(), 0);
}

void expect_fused_equals_separate(const std::string& model, std::int64_t batch, DType dtype, int threads) {
  const Graph g = training_graph(model, batch, dtype);
  const TensorMap weights = initialize_parameters(g);
  const TensorMap inputs = fixed_inputs(g);
  const Feeds feeds = feeds_from({&weights, &inputs});
  const Plan fused = compile(g, {.threads = threads});
  const Plan separate = compile(g, {.threads = threads, .fuse = false});
  ASSERT_GT(fused.fused_node_count(), 0) << model;
  const RunResult a = run(fused, feeds), b = run(separate, feeds);
  ASSERT_EQ(a.values.size(), b.values.size());
  for (const auto& [id, t] : b.values) {
    const Tensor& f = a.at(id);
    ASSERT_EQ(f.shape(), t.shape());
    EXPECT_EQ(std::memcmp(f.raw(), t.raw(), t.nbytes()), 0)
        << model << " " << threads << " threads: '" << g.value(id).name << "' differs between fused and separate runs";
  }
  // Fused steps hold no more buffers than the separate ones.
  EXPECT_LE(fused.slot_bytes(), separate.slot_bytes()) << model;
}

TEST(TrainingFusion, FusedStepIsBitwiseTheSeparateOps) {
  for (int threads : {1, 2}) {
    expect_fused_equals_separate("resnet_ref", 8, DType::f32, threads);
    expect_fused_equals_separate("resnet_tiny", 5, DType::f32, threads);  // a last group of 1 image
  }
}

TEST(TrainingFusion, ConvolutionsWithoutBatchNormTakeTheirRelu) {
  // lenet: conv -> relu twice; the relu gradients are read by the pooling's gradient, not fused.
  const Counts c = count_fusions(training_graph("lenet", 2));
  EXPECT_EQ(c.activations, 2);
  EXPECT_EQ(c.residuals, 0);
  for (int threads : {1, 2}) expect_fused_equals_separate("lenet", 6, DType::f32, threads);
}

TEST(InferenceFusion, BlockEndsFoldTheResidualSumIntoTheConvolution) {
  // resnet_ref inference: each block's second convolution takes its batch norm (folded), the
  // shortcut sum and the relu; the bitwise comparison with separate ops is in runtime_execution_test.
  Graph g = models::build_model("resnet_ref", {.batch = 2, .seed = 1, .training = false});
  Schedule s;
  std::vector<ValueId> logits;
  for (ValueId out : g.outputs())
    if (g.value(out).name == "logits") logits.push_back(out);
  select_fetches(s, g, logits);
  prune(s, g);
  liveness(s, g);
  fuse_inference_epilogues(s, g);
  int residuals = 0, affine = 0, activations = 0;
  for (const Step& step : s.steps) {
    residuals += step.residual_step >= 0;
    affine += step.affine >= 0;
    activations += step.activation_step >= 0;
    if (step.residual_step >= 0) {
      EXPECT_GE(step.affine, 0);
    }
  }
  EXPECT_EQ(affine, 15);
  EXPECT_EQ(residuals, 6);
  EXPECT_EQ(activations, 13);
}

TEST(TrainingFusion, FusedStepIsBitwiseTheSeparateOpsInFloat64) {
  expect_fused_equals_separate("resnet_tiny", 4, DType::f64, 2);
}

TEST(TrainingFusion, SmallGraphsCoverEachForm) {
  // relu(bn(x)), relu(bn(x) + r) with r before and after the batch norm in the order, bn(x) + r
  // without an activation, and a sum that broadcasts (not fused).
  for (DType dtype : {DType::f32, DType::f64}) {
    Graph g;
    Value x = g.input("x", {dtype, {3, 4, 5, 6}});
    Value r = g.input("r", {dtype, {3, 4, 5, 6}});
    Value bias = g.input("bias", {dtype, {4, 1, 1}});
    Value labels = g.input("labels", {DType::i64, {3}});
    auto bn = [&](Value in, const std::string& name) {
      const Initializer ones{.kind = "ones"}, near_one{.kind = "uniform", .value = 0.5, .seed = 3};
      Value gamma = g.parameter(name + ".gamma", {dtype, {4}}, near_one);
      Value beta = g.parameter(name + ".beta", {dtype, {4}}, Initializer{.kind = "uniform", .value = 0.5, .seed = 4});
      Value mean = g.state(name + ".mean", {dtype, {4}}, Initializer{});
      Value var = g.state(name + ".var", {dtype, {4}}, ones);
      ops::BatchNormOutputs o = ops::batch_norm(in, gamma, beta, mean, var, true, 0.1, 1e-5, true);
      g.add_state_update(mean.id(), o.running_mean.id());
      g.add_state_update(var.id(), o.running_var.id());
      return o.y;
    };
    Value a = ops::relu(bn(ops::scale(x, 1.5), "bn1"));
    Value b = ops::relu(ops::add(bn(a, "bn2"), r));
    Value late = ops::scale(b, 0.5);                  // computed after bn3 below
    Value c = ops::add(bn(b, "bn3"), late);
    Value d = ops::relu(ops::add(bn(c, "bn4"), bias));  // broadcasts: stays separate
    Value pooled = ops::global_avg_pool(d);
    g.set_loss(ops::softmax_cross_entropy(pooled, labels));
    Graph grad = autodiff::grad_parameters(g).graph;
    TensorMap inputs = fixed_inputs(grad);
    const TensorMap weights = initialize_parameters(grad);
    const Feeds feeds = feeds_from({&weights, &inputs});
    for (int threads : {1, 2}) {
      const Plan fused = compile(grad, {.threads = threads});
      const Plan separate = compile(grad, {.threads = threads, .fuse = false});
      EXPECT_GE(fused.fused_node_count(), 4);
      const RunResult f = run(fused, feeds), s = run(separate, feeds);
      for (const auto& [id, t] : s.values)
        EXPECT_EQ(std::memcmp(f.at(id).raw(), t.raw(), t.nbytes()), 0)
            << "'" << grad.value(id).name << "' differs, " << threads << " threads";
    }
  }
}

}  // namespace
}  // namespace dagrad::runtime
