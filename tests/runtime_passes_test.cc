// The compiler's passes one at a time (runtime/passes.h), on small graphs whose right answer is
// visible by hand.
#include <algorithm>
#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

#include "models/zoo.h"
#include "ops/ops.h"
#include "runtime/passes.h"
#include "runtime/runtime.h"

namespace dagrad::runtime {
namespace {

// The passes up to (not including) fusion.
Schedule analysed(const Graph& g, std::vector<ValueId> fetch) {
  Schedule s;
  select_fetches(s, g, std::move(fetch));
  prune(s, g);
  liveness(s, g);
  return s;
}

TEST(RuntimePasses, PruneKeepsOnlyWhatTheFetchesNeed) {
  Graph g;
  Value x = g.input("x", {DType::f32, {4}});
  Value y = g.input("y", {DType::f32, {4}});
  Value a = ops::relu(x);
  Value unused = ops::scale(y, 2.0);
  Value b = ops::scale(a, 3.0);
  Schedule s = analysed(g, {b.id()});
  ASSERT_EQ(s.order.size(), 2u);
  EXPECT_EQ(g.node(s.order[0]).op, "relu");
  EXPECT_EQ(g.node(s.order[1]).op, "scale");
  EXPECT_EQ(s.feeds, std::vector<ValueId>{x.id()});  // y feeds only the pruned node
  EXPECT_EQ(s.steps.size(), 2u);
  (void)unused;
}

TEST(RuntimePasses, LivenessRecordsLastReadersAndKeptValues) {
  Graph g;
  Value x = g.input("x", {DType::f32, {4}});
  Value a = ops::relu(x);
  Value b = ops::scale(a, 2.0);
  Value c = ops::add(a, b);
  Schedule s = analysed(g, {c.id()});
  EXPECT_EQ(s.values[x.id()].last_reader, 0);
  EXPECT_EQ(s.values[a.id()].last_reader, 2);
  EXPECT_EQ(s.values[b.id()].last_reader, 2);
  EXPECT_TRUE(s.values[c.id()].kept);
  EXPECT_FALSE(s.values[a.id()].kept);
}

TEST(RuntimePasses, AssignSlotsWritesInPlaceOnlyOverADyingInput) {
  Graph g;
  Value x = g.input("x", {DType::f32, {8}});
  Value a = ops::scale(x, 2.0);  // x is fed: a needs a slot of its own
  Value b = ops::relu(a);        // a dies here: b takes its slot
  Value c = ops::scale(b, 3.0);  // b is read again below: c needs another slot
  Value d = ops::add(b, c);
  Schedule s = analysed(g, {d.id()});
  describe_steps(s, g);
  assign_slots(s, g);
  EXPECT_EQ(s.values[a.id()].slot, s.values[b.id()].slot);
  EXPECT_NE(s.values[c.id()].slot, s.values[b.id()].slot);
  EXPECT_EQ(s.values[d.id()].slot, -1);  // fetched: a fresh tensor for the caller
  EXPECT_EQ(s.slot_types.size(), 2u);
  EXPECT_EQ(s.slot_bytes, 2 * 8 * 4);
}

TEST(RuntimePasses, MeasurePeakCountsLiveResults) {
  Graph g;
  Value x = g.input("x", {DType::f64, {10}});
  Value a = ops::relu(x);
  Value b = ops::scale(a, 2.0);
  Value c = ops::scale(b, 2.0);
  Schedule s = analysed(g, {c.id()});
  measure_peak(s, g);
  EXPECT_EQ(s.peak_bytes, 2 * 10 * 8);  // a value and the one made from it
}

TEST(RuntimePasses, FuseInferenceEpiloguesFoldsBatchNormAndReluIntoTheConvolution) {
  Graph g = models::build_model("resnet_ref", {.batch = 2, .seed = 1, .training = false});
  std::vector<ValueId> logits;  // not the running statistics, which a fused batch norm does not write
  for (ValueId out : g.outputs())
    if (g.value(out).name == "logits") logits.push_back(out);
  Schedule s = analysed(g, logits);
  fuse_inference_epilogues(s, g);
  int heads = 0, fused_away = 0;
  for (const Step& step : s.steps) {
    fused_away += step.fused_away;
    if (!step.fused()) continue;
    ++heads;
    EXPECT_TRUE(g.node(step.node).def->forward_with_epilogue);
    EXPECT_TRUE(s.steps[static_cast<std::size_t>(step.affine)].fused_away);
    EXPECT_TRUE(g.node(s.order[static_cast<std::size_t>(step.affine)]).def->is_channel_affine);
    if (step.activation_step >= 0) {
      EXPECT_EQ(step.activation, Activation::relu);
    }
  }
  EXPECT_GE(heads, 15);
  EXPECT_GE(fused_away, 15 + 7);
  // A fused step reads the batch norm's parameters and writes the last member's output.
  describe_steps(s, g);
  for (const Step& step : s.steps)
    if (step.fused()) {
      const Node& bn = g.node(s.order[static_cast<std::size_t>(step.affine)]);
      EXPECT_NE(std::find(step.reads.begin(), step.reads.end(), bn.inputs[1]), step.reads.end());
      EXPECT_EQ(std::find(step.reads.begin(), step.reads.end(), bn.inputs[0]), step.reads.end());
    }
}

TEST(RuntimePasses, NoFusionInTrainingOrWhenTheIntermediateIsFetched) {
  Graph train = models::build_model("resnet_ref", {.batch = 2, .seed = 1, .training = true});
  Schedule s = analysed(train, {});
  fuse_inference_epilogues(s, train);
  EXPECT_TRUE(std::none_of(s.steps.begin(), s.steps.end(), [](const Step& step) { return step.fused_away; }));

  Graph g;
  Value x = g.input("x", {DType::f32, {1, 2, 4, 4}});
  const TensorType channels{DType::f32, {3}};
  Value w = g.parameter("w", {DType::f32, {3, 2, 3, 3}}, {});
  Value conv = ops::conv2d(x, w, {}, {1, 1}, {1, 1});
  ops::BatchNormOutputs bn = ops::batch_norm(conv, g.parameter("gamma", channels, {}), g.parameter("beta", channels, {}),
                                             g.state("mean", channels, {}), g.state("var", channels, {}), false);
  Value y = ops::relu(bn.y);
  Schedule fused = analysed(g, {y.id()});
  fuse_inference_epilogues(fused, g);
  EXPECT_EQ(fused.steps[0].affine, 1);
  EXPECT_EQ(fused.steps[0].activation_step, 2);
  Schedule conv_fetched = analysed(g, {y.id(), conv.id()});
  fuse_inference_epilogues(conv_fetched, g);
  EXPECT_FALSE(conv_fetched.steps[0].fused());
}

TEST(RuntimePasses, DependencyEdgesOrderReadersBeforeTheSlotsNextWriter) {
  Graph g;
  Value x = g.input("x", {DType::f32, {8}});
  Value a = ops::scale(x, 2.0);   // slot 0
  Value b = ops::scale(a, 3.0);   // reads a; a dies
  Value c = ops::scale(x, 4.0);   // may reuse a's slot: must wait for b's read
  Value d = ops::add(b, c);
  Schedule s = analysed(g, {d.id()});
  describe_steps(s, g);
  assign_slots(s, g);
  dependency_edges(s);
  // Positions by the value each node writes.
  auto pos = [&](Value v) {
    for (std::size_t p = 0; p < s.order.size(); ++p)
      if (g.node(s.order[p]).outputs[0] == v.id()) return p;
    return s.order.size();
  };
  auto waits_for = [&](Value after, Value before) {
    const auto& next = s.steps[pos(before)].successors;
    return std::find(next.begin(), next.end(), static_cast<std::int32_t>(pos(after))) != next.end();
  };
  EXPECT_TRUE(waits_for(b, a));  // data
  EXPECT_TRUE(waits_for(d, b) && waits_for(d, c));
  EXPECT_FALSE(waits_for(c, a));  // independent but for a shared slot
  if (s.values[c.id()].slot == s.values[a.id()].slot && pos(c) > pos(b)) {
    EXPECT_TRUE(waits_for(c, b));  // buffer reuse: c overwrites what b reads
  }
  EXPECT_EQ(s.steps[pos(a)].predecessor_count, 0);
}

}  // namespace
}  // namespace dagrad::runtime
