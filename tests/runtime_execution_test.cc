// The runtime's execution guarantees: bitwise determinism across thread counts (loss, every
// gradient and the weights after 10 SGD steps), concurrent runs of one plan from many threads,
// buffer reuse across runs, and check-numerics errors that name the op, node, shapes and statistics.
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "autodiff/grad.h"
#include "models/zoo.h"
#include "ops/ops.h"
#include "runtime/runtime.h"
#include "train/optimizer.h"

namespace dagrad::runtime {
namespace {

using ::testing::HasSubstr;

// Images in [-1, 1) and labels in [0, classes) from a fixed linear congruential sequence.
TensorMap random_inputs(const Graph& g, std::uint64_t seed, std::int64_t classes) {
  TensorMap feeds;
  auto next = [&] {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return seed >> 33;
  };
  for (ValueId id : g.values_of_kind(ValueKind::input)) {
    const ValueInfo& v = g.value(id);
    Tensor t(v.type.dtype, v.type.shape);
    for (std::int64_t i = 0; i < t.numel(); ++i) {
      if (v.type.dtype == DType::i64) t.data<std::int64_t>()[i] = static_cast<std::int64_t>(next() % classes);
      else t.data<float>()[i] = static_cast<float>(next() % 65536) / 32768.0f - 1.0f;
    }
    feeds.emplace(v.name, std::move(t));
  }
  return feeds;
}

struct Trajectory {
  std::vector<Tensor> losses;
  std::vector<Tensor> first_gradients;  // every gradient of the first step
  TensorMap weights;                    // parameters and state after the last step
};

// `steps` SGD steps (momentum 0.9, weight decay 5e-4) of a zoo model on one fixed batch.
Trajectory train(const std::string& model, std::int64_t batch, int threads, int steps) {
  Graph forward = models::build_model(model, {.batch = batch, .seed = 3, .training = true});
  autodiff::Gradients grads = autodiff::grad_parameters(forward);
  const Graph& g = grads.graph;
  Plan plan = compile(g, {.threads = threads});
  TensorMap weights = initialize_parameters(g);
  TensorMap inputs = random_inputs(g, 17, 10);
  TensorMap momentum;
  for (auto [wrt, grad] : g.gradients())
    momentum.emplace(g.value(wrt).name, Tensor(g.value(wrt).type.dtype, g.value(wrt).type.shape));
  const train::SgdOptions sgd{.lr = 0.05, .momentum = 0.9, .weight_decay = 5e-4};
  Trajectory t;
  for (int step = 0; step < steps; ++step) {
    RunResult r = run(plan, feeds_from({&weights, &inputs}), static_cast<std::uint64_t>(step));
    t.losses.push_back(r.at(g.loss()));
    if (step == 0)
      for (auto [wrt, grad] : g.gradients()) t.first_gradients.push_back(r.at(grad));
    for (auto [state, next] : g.state_updates()) weights.at(g.value(state).name) = r.at(next);
    for (auto [wrt, grad] : g.gradients()) {
      const std::string& name = g.value(wrt).name;
      train::sgd_update(weights.at(name), r.at(grad), momentum.at(name), sgd.lr, sgd);
    }
  }
  t.weights = std::move(weights);
  return t;
}

void expect_bitwise_equal(const Trajectory& a, const Trajectory& b, int threads) {
  ASSERT_EQ(a.losses.size(), b.losses.size());
  for (std::size_t i = 0; i < a.losses.size(); ++i)
    EXPECT_TRUE(bitwise_equal(a.losses[i], b.losses[i])) << "loss of step " << i << " with " << threads << " threads";
  ASSERT_EQ(a.first_gradients.size(), b.first_gradients.size());
  for (std::size_t i = 0; i < a.first_gradients.size(); ++i)
    EXPECT_TRUE(bitwise_equal(a.first_gradients[i], b.first_gradients[i])) << "gradient " << i << " with " << threads << " threads";
  ASSERT_EQ(a.weights.size(), b.weights.size());
  for (const auto& [name, tensor] : a.weights)
    EXPECT_TRUE(bitwise_equal(tensor, b.weights.at(name))) << name << " after training with " << threads << " threads";
}

TEST(RuntimeDeterminism, ResnetRefTrainingIsBitwiseEqualWith1And2And4Threads) {
  const Trajectory one = train("resnet_ref", 8, 1, 10);
  ASSERT_TRUE(std::isfinite(one.losses.back().at(0)));
  EXPECT_NE(one.losses.front().at(0), one.losses.back().at(0));  // the weights did move
  for (int threads : {2, 4}) expect_bitwise_equal(one, train("resnet_ref", 8, threads, 10), threads);
}

// Every fetched value of a training step of resnet_tiny, in fetch order.
std::vector<Tensor> fetched(const Plan& plan, const RunResult& r) {
  std::vector<Tensor> out;
  for (ValueId id : plan.fetches()) out.push_back(r.at(id));
  return out;
}

TEST(RuntimeConcurrency, EightThreadsRunOnePlan200TimesEachBitwiseEqualToOneRun) {
  Graph forward = models::build_model("resnet_tiny", {.batch = 4, .seed = 5, .training = true});
  const Graph g = autodiff::grad_parameters(forward).graph;
  const Plan plan = compile(g, {.threads = 2});
  const TensorMap weights = initialize_parameters(g);
  const TensorMap inputs = random_inputs(g, 23, 3);
  const Feeds feeds = feeds_from({&weights, &inputs});
  const std::vector<Tensor> expected = fetched(plan, run(compile(g, {.threads = 1}), feeds, 7));

  constexpr int kThreads = 8, kRuns = 200;
  std::vector<int> mismatches(kThreads, 0), errors(kThreads, 0);
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t)
    workers.emplace_back([&, t] {
      for (int i = 0; i < kRuns; ++i) {
        try {
          std::vector<Tensor> got = fetched(plan, run(plan, feeds, 7));
          for (std::size_t v = 0; v < got.size(); ++v)
            if (!bitwise_equal(got[v], expected[v])) ++mismatches[t];
        } catch (const std::exception&) {
          ++errors[t];
        }
      }
    });
  for (std::thread& w : workers) w.join();
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(mismatches[t], 0) << "thread " << t;
    EXPECT_EQ(errors[t], 0) << "thread " << t;
  }
}

// A residual block's shortcut convolution depends neither way on its main path's first
// convolution, so the two may run at the same time; the main path's convolutions stay ordered.
TEST(RuntimeConcurrency, ShortcutBranchIsIndependentOfTheMainPath) {
  Graph forward = models::build_model("resnet_ref", {.batch = 4, .seed = 1, .training = true});
  const Graph g = autodiff::grad_parameters(forward).graph;
  const Plan plan = compile(g, {.threads = 2});
  auto position = [&](const std::string& name) {
    for (std::size_t pos = 0; pos < plan.order().size(); ++pos)
      if (g.node(plan.order()[pos]).name == name) return pos;
    ADD_FAILURE() << "no node " << name;
    return std::size_t{0};
  };
  const std::size_t shortcut = position("stage2.block0.shortcut.conv1.conv2d");
  const std::size_t conv1 = position("stage2.block0.conv1.conv2d"), conv2 = position("stage2.block0.conv2.conv2d");
  EXPECT_FALSE(plan.must_precede(shortcut, conv1));
  EXPECT_FALSE(plan.must_precede(conv1, shortcut));
  EXPECT_TRUE(plan.must_precede(conv1, conv2));
  EXPECT_FALSE(plan.must_precede(conv2, conv1));
}

TEST(RuntimeBuffers, RepeatedRunsReuseBuffersAndGiveIdenticalResults) {
  Graph forward = models::build_model("resnet_tiny", {.batch = 3, .seed = 2, .training = true});
  const Graph g = autodiff::grad_parameters(forward).graph;
  const Plan plan = compile(g, {.threads = 2});
  EXPECT_GT(plan.slot_bytes(), 0);
  const TensorMap weights = initialize_parameters(g);
  const TensorMap a = random_inputs(g, 1, 3), b = random_inputs(g, 2, 3);
  const std::vector<Tensor> first = fetched(plan, run(plan, feeds_from({&weights, &a})));
  // A run on other data in between leaves its values in the reused buffers.
  const std::vector<Tensor> other = fetched(plan, run(plan, feeds_from({&weights, &b})));
  const std::vector<Tensor> again = fetched(plan, run(plan, feeds_from({&weights, &a})));
  ASSERT_EQ(first.size(), again.size());
  for (std::size_t i = 0; i < first.size(); ++i) EXPECT_TRUE(bitwise_equal(first[i], again[i])) << "fetch " << i;
  EXPECT_FALSE(bitwise_equal(first.front(), other.front()));
}

TEST(RuntimeBuffers, InPlaceChainsAndFanOutStayCorrect) {
  // x feeds two relus (so the first may not overwrite x), then a chain of in-place candidates.
  Graph g;
  Value x = g.input("x", {DType::f32, {2, 3}});
  Value a = ops::relu(x);
  Value b = ops::scale(x, -1.0);
  Value c = ops::add(a, b);  // relu(x) - x
  Value d = ops::relu(ops::scale(c, 2.0));
  g.mark_output(d);
  g.mark_output(a);
  const Plan plan = compile(g, {.threads = 1});
  Tensor input = Tensor::from<float>({2, 3}, {-1.5f, 2.0f, 0.5f, -0.25f, 3.0f, -2.0f});
  for (int repeat = 0; repeat < 2; ++repeat) {
    RunResult r = run(plan, {{"x", &input}});
    const Tensor& out = r.at(d.id());
    const Tensor& relu_x = r.at(a.id());
    for (std::int64_t i = 0; i < 6; ++i) {
      const float v = input.data<float>()[i];
      EXPECT_EQ(out.data<float>()[i], 2.0f * (std::max(v, 0.0f) - v)) << i;
      EXPECT_EQ(relu_x.data<float>()[i], std::max(v, 0.0f)) << i;
    }
  }
}

TEST(RuntimeFusion, InferenceConvBatchNormReluFusedIsBitwiseEqualToSeparateOps) {
  Graph g = models::build_model("resnet_ref", {.batch = 3, .seed = 8, .training = false});
  TensorMap weights = initialize_parameters(g);
  // Non-trivial running statistics and affine parameters.
  std::uint32_t seed = 5;
  for (auto& [name, tensor] : weights)
    if (tensor.rank() == 1)
      for (float& v : tensor.data<float>()) {
        seed = seed * 1664525u + 1013904223u;
        v = 0.5f + static_cast<float>(seed >> 8) / 16777216.0f;
      }
  const TensorMap inputs = random_inputs(g, 9, 10);
  std::vector<ValueId> logits;
  for (ValueId out : g.outputs())
    if (g.value(out).name == "logits") logits.push_back(out);
  ASSERT_EQ(logits.size(), 1u);
  const Plan fused = compile(g, {.threads = 2}, logits);
  const Plan separate = compile(g, {.threads = 2, .check_numerics = true}, logits);  // no fusion under checks
  EXPECT_GE(fused.fused_node_count(), 15 + 7);  // every batch norm, and the relus right after them
  EXPECT_EQ(separate.fused_node_count(), 0);
  const Tensor a = run(fused, feeds_from({&weights, &inputs})).at(logits[0]);
  const Tensor b = run(separate, feeds_from({&weights, &inputs})).at(logits[0]);
  EXPECT_TRUE(bitwise_equal(a, b));
  // Training batch norms need batch statistics and are never folded into a convolution (they fuse
  // with the relu and residual sum after them instead: runtime_fusion_test.cc).
  Graph train_graph = models::build_model("resnet_ref", {.batch = 3, .seed = 8, .training = true});
  const Plan train_plan = compile(train_graph, {.threads = 1});
  for (const Step& step : train_plan.schedule().steps) EXPECT_LT(step.affine, 0);
}

TEST(RuntimeCheckNumerics, InjectedNanNamesOpNodeShapesAndStatistics) {
  Graph forward = models::build_model("resnet_tiny", {.batch = 2, .seed = 1, .training = true});
  const Graph g = autodiff::grad_parameters(forward).graph;
  TensorMap weights = initialize_parameters(g);
  const TensorMap inputs = random_inputs(g, 4, 3);
  // One NaN weight in the first convolution of the first block.
  std::string poisoned;
  for (auto& [name, tensor] : weights)
    if (name.find("conv") != std::string::npos && tensor.rank() == 4 && name.find("stem") == std::string::npos) {
      tensor.data<float>()[1] = std::numeric_limits<float>::quiet_NaN();
      poisoned = name;
      break;
    }
  ASSERT_FALSE(poisoned.empty());
  ValueId poisoned_id = g.at(poisoned);
  std::string consumer;
  for (const Node& node : g.nodes())
    for (ValueId in : node.inputs)
      if (in == poisoned_id && consumer.empty() && !node.backward) consumer = node.name;
  ASSERT_FALSE(consumer.empty());

  // Without the check the run goes through (relu maps NaN to 0, so the loss may even look fine).
  EXPECT_NO_THROW(run(compile(g, {.threads = 2}), feeds_from({&weights, &inputs})));

  const Plan plan = compile(g, {.threads = 2, .check_numerics = true});
  try {
    run(plan, feeds_from({&weights, &inputs}));
    FAIL() << "expected a check-numerics error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_THAT(msg, HasSubstr("check-numerics"));
    EXPECT_THAT(msg, HasSubstr("op 'conv2d'"));
    EXPECT_THAT(msg, HasSubstr("node '" + consumer + "'"));
    EXPECT_THAT(msg, HasSubstr("NaN or Inf"));
    EXPECT_THAT(msg, HasSubstr("f32[2,"));       // the output and input shapes
    EXPECT_THAT(msg, HasSubstr("non-finite 1"));  // the poisoned weight's statistics
    EXPECT_THAT(msg, HasSubstr("'" + poisoned + "'"));
    EXPECT_THAT(msg, HasSubstr("min "));
    EXPECT_THAT(msg, HasSubstr("mean "));
  }
  // Clean weights pass the check.
  const TensorMap clean = initialize_parameters(g);
  EXPECT_NO_THROW(run(plan, feeds_from({&clean, &inputs})));
}

}  // namespace
}  // namespace dagrad::runtime
