// Model files: save -> load gives an identical graph and bitwise identical forward and backward
// results, in binary and text form, for the zoo, autodiff graphs and training state; and the
// committed format-1 file keeps loading.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "autodiff/grad.h"
#include "models/zoo.h"
#include "tests/proto_testing.h"

namespace dagrad::testing {
namespace {

using ::testing::HasSubstr;

Model with_training_state(Model model) {
  TrainingState& t = model.training.emplace();
  t.optimizer = "sgd";
  t.hyperparameters = {{"lr", 0.1}, {"momentum", 0.9}, {"weight_decay", 5e-4}, {"nesterov", 1}};
  for (const auto& [name, tensor] : model.parameters) {
    Tensor buffer = tensor;
    buffer.fill(0.125);
    t.buffers.emplace("momentum/" + name, std::move(buffer));
  }
  t.step = 1234;
  t.epoch = 5;
  t.rng_seed = 42;
  t.rng_state = 0xfedcba9876543210ULL;
  return model;
}

TEST(ProtoRoundTrip, SmallModelInMemoryBinaryAndText) {
  Model model = small_model();
  std::string bytes = serialize(model);
  Model loaded = parse(bytes);
  expect_same_model(model, loaded);
  EXPECT_EQ(serialize(loaded), bytes) << "re-serializing a loaded model must give the same bytes";

  Model from_text = parse_text(serialize_text(model));
  expect_same_model(model, from_text);
  EXPECT_EQ(serialize(from_text), bytes);
}

TEST(ProtoRoundTrip, FilesChooseFormatByExtension) {
  std::string dir = scratch_dir("by_extension");
  Model model = with_training_state(small_model());
  save(model, dir + "/m.dagrad");
  save(model, dir + "/m.dagrad.txt");
  expect_same_model(model, load(dir + "/m.dagrad"));
  expect_same_model(model, load(dir + "/m.dagrad.txt"));
  std::ifstream text(dir + "/m.dagrad.txt");
  std::string first_line;
  std::getline(text, first_line);
  EXPECT_EQ(first_line, "magic: \"dagrad.model\"");
  // Binary content under a text name is refused with a parse error, not misread.
  std::filesystem::copy_file(dir + "/m.dagrad", dir + "/wrong.dagrad.txt");
  EXPECT_THROW(load(dir + "/wrong.dagrad.txt"), Error);
  EXPECT_NO_THROW(load(dir + "/wrong.dagrad.txt", {.format = FileFormat::binary}));
}

TEST(ProtoRoundTrip, TrainingStateAndMetadata) {
  Model model = with_training_state(small_model());
  model.metadata["dataset"] = "cifar10";
  model.metadata["note"] = "line one\nline two \"quoted\"";
  Model loaded = parse(serialize(model));
  expect_same_model(model, loaded);
  ASSERT_TRUE(loaded.training);
  EXPECT_EQ(loaded.training->buffers.size(), 1u);
  EXPECT_EQ(loaded.training->step, 1234);
}

TEST(ProtoRoundTrip, AutodiffGraphOfSmallModel) {
  Model model = small_model();
  Model grads{autodiff::grad_parameters(model.graph).graph, model.parameters, model.state, {}, {}};
  ASSERT_FALSE(grads.graph.gradients().empty());
  Model loaded = parse_text(serialize_text(grads));
  expect_same_model(grads, loaded);
  EXPECT_TRUE(loaded.graph.find("grad/w").has_value());
}

TEST(ProtoRoundTrip, Crc32cCheckValue) { EXPECT_EQ(crc32c("123456789"), 0xE3069283u); }

// Every zoo model at batch 1. AlexNet and VGG-16 (60M and 138M parameters, ~25 s together) run
// only with DAGRAD_SLOW_TESTS=1; ResNet-50 (25M) always does.
TEST(ProtoRoundTrip, ZooModelsGraphsAndWeights) {
  const bool slow = std::getenv("DAGRAD_SLOW_TESTS") != nullptr;
  for (const models::ZooEntry& entry : models::zoo_models()) {
    SCOPED_TRACE(entry.name);
    if (!slow && (entry.name == "alexnet" || entry.name == "vgg16")) continue;
    Model model{models::build_model(entry.name, {.batch = 1, .seed = 11}), {}, {}, {}, {{"model", entry.name}}};
    initialize(model);
    std::string bytes = serialize(model);
    Model loaded = parse(bytes, entry.name + ".dagrad");
    expect_same_model(model, loaded);
    EXPECT_EQ(serialize(loaded), bytes);
  }
}

// Deterministic feeds for the zoo's "image" and "label" inputs.
TensorMap zoo_inputs(const Graph& g) {
  TensorMap feeds;
  const TensorType& image = g.value(g.at("image")).type;
  Tensor x(image.dtype, image.shape);
  dispatch_float(x.dtype(), [&]<class T>() {
    auto data = x.data<T>();
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<T>(std::sin(0.37 * static_cast<double>(i)));
  });
  feeds.emplace("image", std::move(x));
  Tensor labels(DType::i64, g.value(g.at("label")).type.shape);
  auto l = labels.data<std::int64_t>();
  for (std::size_t i = 0; i < l.size(); ++i) l[i] = static_cast<std::int64_t>(i % 3);
  feeds.emplace("label", std::move(labels));
  return feeds;
}

void expect_same_run(const Model& a, const Model& b) {
  TensorMap inputs = zoo_inputs(a.graph);
  runtime::Plan plan_a = runtime::compile(a.graph), plan_b = runtime::compile(b.graph);
  ASSERT_EQ(plan_a.fetches(), plan_b.fetches());
  runtime::RunResult ra = runtime::run(plan_a, runtime::feeds_from({&inputs, &a.parameters, &a.state}));
  runtime::RunResult rb = runtime::run(plan_b, runtime::feeds_from({&inputs, &b.parameters, &b.state}));
  ASSERT_FALSE(plan_a.fetches().empty());
  for (ValueId id : plan_a.fetches())
    EXPECT_TRUE(bitwise_equal(ra.at(id), rb.at(id))) << "value '" << a.graph.value(id).name << "' differs";
}

class ProtoRunRoundTrip : public ::testing::TestWithParam<std::string> {};

TEST_P(ProtoRunRoundTrip, ForwardAndBackwardBitwiseIdentical) {
  std::string dir = scratch_dir("run_" + GetParam());
  Model model{models::build_model(GetParam(), {.batch = 2, .seed = 5}), {}, {}, {}, {{"model", GetParam()}}};
  initialize(model);
  Model backward{autodiff::grad_parameters(model.graph).graph, model.parameters, model.state, {}, model.metadata};
  save(model, dir + "/forward.dagrad");
  save(backward, dir + "/backward.dagrad");
  save(backward, dir + "/backward.dagrad.txt");
  Model forward_loaded = load(dir + "/forward.dagrad");
  Model backward_loaded = load(dir + "/backward.dagrad");
  expect_same_model(model, forward_loaded);
  expect_same_model(backward, backward_loaded);
  expect_same_model(backward, load(dir + "/backward.dagrad.txt"));
  expect_same_run(model, forward_loaded);
  expect_same_run(backward, backward_loaded);
  // The autodiff graph of a loaded forward graph is the autodiff graph of the original.
  expect_same_graph(backward.graph, autodiff::grad_parameters(forward_loaded.graph).graph);
}

INSTANTIATE_TEST_SUITE_P(Zoo, ProtoRunRoundTrip, ::testing::Values("resnet_tiny", "resnet_ref"));

// tests/data/compat_v1_resnet_tiny.dagrad was written by format version 1 (dagrad 0.1.0); later
// versions must keep reading it. Its metadata holds the loss it computed on zoo_inputs.
TEST(ProtoCompatibility, FormatVersion1FileLoads) {
  std::string path = std::string(DAGRAD_SOURCE_DIR) + "/tests/data/compat_v1_resnet_tiny.dagrad";
  Model model = load(path);
  EXPECT_EQ(model.metadata.at("model"), "resnet_tiny");
  EXPECT_EQ(model.metadata.at("format_version"), "1");
  ASSERT_NE(model.graph.loss(), kNoValue);
  EXPECT_FALSE(model.graph.gradients().empty()) << "the compat file holds the autodiff graph";
  ASSERT_TRUE(model.training);
  EXPECT_EQ(model.training->optimizer, "sgd");
  TensorMap inputs = zoo_inputs(model.graph);
  runtime::RunResult r = runtime::run(runtime::compile(model.graph),
                                      runtime::feeds_from({&inputs, &model.parameters, &model.state}));
  double loss = r.at(model.graph.loss()).at(0);
  double expected = std::stod(model.metadata.at("expected_loss"));
  EXPECT_NEAR(loss, expected, 1e-5 * std::abs(expected));
}

// Writes the compatibility file; run by hand once per format version:
//   DAGRAD_WRITE_COMPAT=1 dagrad_tests --gtest_filter=ProtoCompatibility.*
TEST(ProtoCompatibility, WriteFormatVersion1File) {
  if (!std::getenv("DAGRAD_WRITE_COMPAT")) GTEST_SKIP() << "set DAGRAD_WRITE_COMPAT=1 to rewrite the file";
  Model model{models::build_model("resnet_tiny", {.batch = 2, .seed = 2024}), {}, {}, {}, {}};
  initialize(model);
  model = with_training_state(
      Model{autodiff::grad_parameters(model.graph).graph, model.parameters, model.state, {}, {}});
  TensorMap inputs = zoo_inputs(model.graph);
  runtime::RunResult r = runtime::run(runtime::compile(model.graph),
                                      runtime::feeds_from({&inputs, &model.parameters, &model.state}));
  char loss[64];
  std::snprintf(loss, sizeof loss, "%.17g", r.at(model.graph.loss()).at(0));
  model.metadata = {{"model", "resnet_tiny"}, {"format_version", "1"}, {"expected_loss", loss}};
  save(model, std::string(DAGRAD_SOURCE_DIR) + "/tests/data/compat_v1_resnet_tiny.dagrad");
}

}  // namespace
}  // namespace dagrad::testing
