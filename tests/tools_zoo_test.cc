// The newer zoo models (MobileNetV2, DenseNet-121, ResNeXt-50, SqueezeNet 1.1) through the tools a
// user reaches them with: a few training steps on real Fashion-MNIST without divergence, summary,
// dump-graph and bench.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>

#include "process.h"
#include "proto/model_file.h"

namespace {

namespace fs = std::filesystem;
using dagrad::testing::describe;
using dagrad::testing::run_tool;

class NewZooModel : public ::testing::TestWithParam<std::string> {};

// The zoo model is built for the data (1x28x28, 10 classes). Training stops with an error on the
// first non-finite loss or gradient, so exit 0 means every step stayed finite. DenseNet-121 halves
// its input six times and needs at least 32x32 images: it trains on the images padded to 32x32
// (--image-size), which evaluate then applies by itself.
TEST_P(NewZooModel, TrainsAFewStepsOnFashionMnist) {
  const std::string name = GetParam();
  fs::path dir = dagrad::testing::fresh_scratch_dir("zoo_train_" + name);
  std::vector<std::string> args = {"train", "--model", name, "--epochs", "1", "--batch", "16", "--limit-train", "48",
                                   "--limit-test", "16", "--lr", "0.01", "--threads", "2", "--out", "m.dagrad"};
  if (name == "densenet121") args.insert(args.end(), {"--image-size", "32"});
  auto r = run_tool(args, {.cwd = dir.string()});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  dagrad::Model model = dagrad::load((dir / "m.dagrad").string());
  EXPECT_EQ(model.metadata.at("model"), name);
  for (const auto& [tensor_name, tensor] : model.parameters)
    for (std::int64_t i = 0; i < tensor.numel(); ++i) ASSERT_TRUE(std::isfinite(tensor.at(i))) << tensor_name;
  auto eval = run_tool({"evaluate", (dir / "m.dagrad").string(), "--limit", "16"});
  ASSERT_EQ(eval.exit_code, 0) << describe(eval);
  EXPECT_NE(eval.out.find("/16)"), std::string::npos) << eval.out;  // "test accuracy 12.50% (2/16), ..."
  fs::remove_all(dir);
}

TEST(DagradTrainImageSize, DenseNetOn28PixelImagesSaysWhatIsTooSmall) {
  fs::path dir = dagrad::testing::fresh_scratch_dir("zoo_train_small");
  auto r = run_tool({"train", "--model", "densenet121", "--epochs", "1", "--batch", "4", "--limit-train", "8", "--out", "m.dagrad"},
                    {.cwd = dir.string()});
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_NE(r.err.find("transition"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "m.dagrad"));
  fs::remove_all(dir);
}

TEST_P(NewZooModel, SummaryDumpGraphAndBench) {
  const std::string name = GetParam();
  auto summary = run_tool({"summary", "--model", name});
  ASSERT_EQ(summary.exit_code, 0) << describe(summary);
  EXPECT_NE(summary.out.find("parameters"), std::string::npos) << summary.out;

  fs::path dir = dagrad::testing::fresh_scratch_dir("zoo_graph_" + name);
  auto dot = run_tool({"dump-graph", "--model", name, "--format", "dot", "-o", (dir / "g.dot").string()});
  ASSERT_EQ(dot.exit_code, 0) << describe(dot);
  EXPECT_GT(fs::file_size(dir / "g.dot"), 1000u);
  fs::remove_all(dir);

  auto bench = run_tool({"bench", "--model", name, "--batch", "1", "--steps", "1", "--warmup", "0", "--json"});
  ASSERT_EQ(bench.exit_code, 0) << describe(bench);
  EXPECT_NE(bench.out.find(name), std::string::npos) << bench.out;
}

INSTANTIATE_TEST_SUITE_P(Zoo, NewZooModel, ::testing::Values("mobilenet_v2", "densenet121", "resnext50_32x4d", "squeezenet1_1"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
