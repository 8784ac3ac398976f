// batch_norm's running_var_unbiased = false: ONNX BatchNormalization's training form updates the
// running variance with the population (biased) batch variance.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "autodiff/gradcheck.h"
#include "ops/ops.h"
#include "proto/model_file.h"
#include "tests/op_cases.h"

namespace dagrad::testing {
namespace {

using ::testing::HasSubstr;

std::vector<Tensor> bn_inputs(const Tensor& x) {
  return {x, Tensor::from<double>({1}, {1.0}), Tensor::from<double>({1}, {0.0}), Tensor::from<double>({1}, {0.5}),
          Tensor::from<double>({1}, {2.0})};
}

TEST(BatchNormPopulationVariance, RunningVarianceUsesThePopulationVariance) {
  // One channel holding 1, 2, 3, 6: mean 3, population variance 3.5. ONNX momentum 0.9 is dagrad's 0.1.
  Tensor x = Tensor::from<double>({4, 1}, {1, 2, 3, 6});
  std::vector<Tensor> out =
      autodiff::run_op("batch_norm", {{"training", true}, {"momentum", 0.1}, {"running_var_unbiased", false}}, bn_inputs(x));
  EXPECT_DOUBLE_EQ(out[3].at(0), 0.9 * 0.5 + 0.1 * 3.0);
  EXPECT_DOUBLE_EQ(out[4].at(0), 0.9 * 2.0 + 0.1 * 3.5);
  // The default keeps PyTorch's unbiased update (14/3).
  out = autodiff::run_op("batch_norm", {{"training", true}}, bn_inputs(x));
  EXPECT_DOUBLE_EQ(out[4].at(0), 0.9 * 2.0 + 0.1 * 14.0 / 3.0);
}

TEST(BatchNormPopulationVariance, OneValuePerChannelIsAllowedOnlyWithoutBesselsCorrection) {
  Tensor x = Tensor::from<double>({1, 1}, {4});
  std::vector<Tensor> out = autodiff::run_op("batch_norm", {{"training", true}, {"running_var_unbiased", false}}, bn_inputs(x));
  EXPECT_DOUBLE_EQ(out[4].at(0), 0.9 * 2.0);  // variance 0
  EXPECT_THAT(error_of([&] { autodiff::run_op("batch_norm", {{"training", true}}, bn_inputs(x)); }),
              HasSubstr("training with running_var_unbiased needs more than one value per channel"));
}

TEST(BatchNormPopulationVariance, AttributeIsSavedAndOldNodesDefaultToUnbiased) {
  Graph g;
  Value x = g.input("x", {DType::f32, {4, 3}});
  Value c = g.parameter("gamma", {DType::f32, {3}}, {.kind = "ones"});
  Value b = g.parameter("beta", {DType::f32, {3}}, {.kind = "zeros"});
  Value rm = g.state("rm", {DType::f32, {3}}, {.kind = "zeros"});
  Value rv = g.state("rv", {DType::f32, {3}}, {.kind = "ones"});
  ops::BatchNormOutputs population = ops::batch_norm(x, c, b, rm, rv, true, 0.1, 1e-5, false);
  ops::BatchNormOutputs unbiased = ops::batch_norm(x, c, b, rm, rv, true);
  const Node& p = g.node(g.value(population.y.id()).producer);
  const Node& u = g.node(g.value(unbiased.y.id()).producer);
  EXPECT_EQ(std::get<bool>(p.attrs.at("running_var_unbiased")), false);
  EXPECT_EQ(std::get<bool>(u.attrs.at("running_var_unbiased")), true);
  // A node written before the attribute existed parses with the old behaviour.
  Graph old;
  Value ox = old.input("x", {DType::f64, {4, 1}});
  std::vector<Value> outs;
  for (const char* name : {"gamma", "beta", "rm", "rv"}) outs.push_back(old.input(name, {DType::f64, {1}}));
  std::vector<ValueId> ids = old.add_node_ids("batch_norm", {ox.id(), outs[0].id(), outs[1].id(), outs[2].id(), outs[3].id()},
                                              {{"training", true}, {"momentum", 0.1}, {"eps", 1e-5}}, "old_bn");
  EXPECT_EQ(std::get<bool>(old.node(old.value(ids[0]).producer).attrs.at("running_var_unbiased")), true);
}

}  // namespace
}  // namespace dagrad::testing
