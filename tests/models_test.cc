// The layer DSL and the model zoo: parameter counts against the published architectures,
// deterministic seeded builds, batch-norm state, a whole-model float64 gradient check and a
// forward/backward run of the reference ResNet.
#include <cmath>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <variant>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "autodiff/grad.h"
#include "autodiff/gradcheck.h"
#include "models/layers.h"
#include "models/zoo.h"
#include "runtime/runtime.h"

namespace dagrad::models {
namespace {

using ::testing::HasSubstr;

const ValueInfo& info(const Graph& g, const std::string& name) { return g.value(g.at(name)); }

std::int64_t state_elements(const Graph& g) {
  std::int64_t n = 0;
  for (ValueId id : g.values_of_kind(ValueKind::state)) n += element_count(g.value(id).type.shape);
  return n;
}

// Counted by hand from the architectures; the ImageNet ones equal torchvision's
// sum(p.numel() for p in model.parameters()).
TEST(Zoo, ParameterCounts) {
  const std::map<std::string, std::int64_t> expected = {
      {"resnet_ref", 174'970},     {"resnet20", 272'474},       {"resnet32", 466'906},
      {"resnet56", 855'770},       {"resnet18", 11'689'512},    {"resnet34", 21'797'672},
      {"resnet50", 25'557'032},    {"alexnet", 61'100'840},     {"vgg16", 138'357'544},
      {"lenet", 61'706},           {"resnet_tiny", 1'051},      {"mobilenet_v2", 3'504'872},
      {"densenet121", 7'978'856},  {"resnext50_32x4d", 25'028'904}, {"squeezenet1_1", 1'235'496},
  };
  ASSERT_EQ(zoo_models().size(), expected.size());
  for (const ZooEntry& entry : zoo_models()) {
    SCOPED_TRACE(entry.name);
    ASSERT_TRUE(expected.count(entry.name));
    EXPECT_EQ(build_model(entry.name).parameter_count(), expected.at(entry.name));
  }
}

TEST(Zoo, EveryModelHasImageLabelLogitsAndLoss) {
  for (const ZooEntry& entry : zoo_models()) {
    SCOPED_TRACE(entry.name);
    Graph g = build_model(entry.name, {.batch = 3});
    Shape image = {3};
    image.insert(image.end(), entry.input_shape.begin(), entry.input_shape.end());
    EXPECT_EQ(info(g, "image").type, (TensorType{DType::f32, image}));
    EXPECT_EQ(info(g, "image").kind, ValueKind::input);
    EXPECT_EQ(info(g, "label").type, (TensorType{DType::i64, {3}}));
    EXPECT_EQ(info(g, "logits").type, (TensorType{DType::f32, {3, entry.classes}}));
    EXPECT_THAT(g.outputs(), ::testing::Contains(g.at("logits")));
    ASSERT_NE(g.loss(), kNoValue);
    EXPECT_EQ(g.value(g.loss()).name, "loss");
    EXPECT_TRUE(g.value(g.loss()).type.shape.empty());
  }
}

TEST(Zoo, UnknownNameListsTheValidOnes) {
  try {
    build_model("resnet19");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("unknown model 'resnet19'"));
    for (const ZooEntry& entry : zoo_models()) EXPECT_THAT(e.what(), HasSubstr(entry.name));
  }
}

TEST(Zoo, RejectsBadOptions) {
  EXPECT_THROW(build_model("lenet", {.batch = 0}), Error);
  EXPECT_THROW(build_model("lenet", {.dtype = DType::i64}), Error);
}

TEST(Zoo, BuildsAreDeterministicPerSeed) {
  for (const char* name : {"resnet_ref", "lenet", "alexnet"}) {
    SCOPED_TRACE(name);
    Graph small = build_model(name, {.seed = 7});
    if (small.parameter_count() > 1'000'000) continue;  // alexnet: only the naming below
    TensorMap a = runtime::initialize_parameters(small);
    TensorMap b = runtime::initialize_parameters(build_model(name, {.seed = 7}));
    TensorMap c = runtime::initialize_parameters(build_model(name, {.seed = 8}));
    ASSERT_EQ(a.size(), b.size());
    for (const auto& [key, tensor] : a) {
      SCOPED_TRACE(key);
      EXPECT_TRUE(bitwise_equal(tensor, b.at(key)));
      // He-normal weights change with the seed; ones/zeros (batch norm, biases) do not.
      if (small.value(small.at(key)).init.kind == "he_normal") {
        EXPECT_FALSE(bitwise_equal(tensor, c.at(key)));
      }
    }
  }
}

TEST(Zoo, ParametersHaveScopedNamesAndInitializers) {
  Graph g = build_model("resnet_ref");
  const ValueInfo& w = info(g, "stage1.block0.conv1.w");
  EXPECT_EQ(w.kind, ValueKind::parameter);
  EXPECT_EQ(w.type.shape, (Shape{16, 16, 3, 3}));
  EXPECT_EQ(w.init.kind, "he_normal");
  EXPECT_EQ(w.init.fan_in, 16 * 9);
  EXPECT_EQ(info(g, "stem.conv1.w").type.shape, (Shape{16, 1, 3, 3}));
  EXPECT_EQ(info(g, "stage2.block0.shortcut.conv1.w").type.shape, (Shape{32, 16, 1, 1}));
  EXPECT_FALSE(g.find("stage2.block1.shortcut.conv1.w").has_value());  // identity shortcut
  EXPECT_EQ(info(g, "stage1.block0.bn2.gamma").init.kind, "ones");
  EXPECT_EQ(info(g, "stage1.block0.bn2.beta").init.kind, "zeros");
  const ValueInfo& fc = info(g, "head.fc1.w");
  EXPECT_EQ(fc.type.shape, (Shape{64, 10}));
  EXPECT_EQ(fc.init.fan_in, 64);
  EXPECT_EQ(info(g, "head.fc1.b").init.kind, "zeros");
  // Seeds depend on the names, so distinct weights start from distinct streams.
  EXPECT_NE(w.init.seed, info(g, "stage1.block0.conv2.w").init.seed);
}

TEST(Zoo, BatchNormStateIsNotCountedAsParameters) {
  Graph g = build_model("resnet_ref");
  // stem 1 + 6 blocks x 2 + 2 projection shortcuts = 15 batch norms over 16/32/64 channels.
  const std::int64_t bn_channels = 16 + 2 * 2 * 16 + (2 * 2 + 1) * 32 + (2 * 2 + 1) * 64;
  EXPECT_EQ(g.values_of_kind(ValueKind::state).size(), 30u);
  EXPECT_EQ(g.state_updates().size(), 30u);
  EXPECT_EQ(state_elements(g), 2 * bn_channels);
  const ValueInfo& mean = info(g, "stage3.block0.shortcut.bn1.running_mean");
  const ValueInfo& var = info(g, "stage3.block0.shortcut.bn1.running_var");
  EXPECT_EQ(mean.kind, ValueKind::state);
  EXPECT_EQ(mean.init.kind, "zeros");
  EXPECT_EQ(var.init.kind, "ones");
  EXPECT_EQ(mean.type.shape, (Shape{64}));
  // ImageNet ResNet-50: 53 batch norms, none of them in the torchvision count.
  Graph r50 = build_model("resnet50");
  EXPECT_EQ(r50.values_of_kind(ValueKind::state).size(), 2u * 53u);
  EXPECT_EQ(r50.parameter_count(), 25'557'032);
}

TEST(Zoo, TrainingFlagReachesBatchNormAndDropout) {
  for (bool training : {true, false}) {
    Graph g = build_model("alexnet", {.training = training});
    int dropouts = 0;
    for (const Node& node : g.nodes()) {
      if (node.op == "dropout") {
        ++dropouts;
        EXPECT_EQ(std::get<bool>(node.attrs.at("training")), training);
      }
    }
    EXPECT_EQ(dropouts, 2);
    Graph r = build_model("resnet_tiny", {.training = training});
    for (const Node& node : r.nodes()) {
      if (node.op == "batch_norm") {
        EXPECT_EQ(std::get<bool>(node.attrs.at("training")), training);
      }
    }
  }
}

TEST(Layers, ShapesNamesAndSeeds) {
  Graph g;
  Builder b{.graph = g, .seed = 3, .dtype = DType::f64};
  Value x = g.input("x", {DType::f64, {2, 3, 10}});
  Value y;
  {
    Scope scope(g, "enc");
    y = conv1d(b, x, 5, {.kernel = 3, .stride = 2, .pad = 1, .bias = true});
  }
  EXPECT_EQ(y.shape(), (Shape{2, 5, 5}));
  EXPECT_EQ(info(g, "enc.conv1.w").type, (TensorType{DType::f64, {5, 3, 3}}));
  EXPECT_EQ(info(g, "enc.conv1.w").init.fan_in, 9);
  EXPECT_EQ(info(g, "enc.conv1.b").type.shape, (Shape{5}));
  Value z = batch_norm(b, dense(b, ops::flatten(y), 4, /*bias=*/false));
  EXPECT_EQ(z.shape(), (Shape{2, 4}));
  EXPECT_EQ(info(g, "fc1.w").type.shape, (Shape{25, 4}));
  EXPECT_FALSE(g.find("fc1.b").has_value());
  EXPECT_EQ(info(g, "bn1.gamma").type, (TensorType{DType::f64, {4}}));
  EXPECT_EQ(info(g, "bn1.running_var").kind, ValueKind::state);
  EXPECT_EQ(g.state_updates().size(), 2u);
  Value d = dropout(b, z, 0.25);
  EXPECT_EQ(d.shape(), z.shape());
  EXPECT_EQ(b.next_layer_name("fc"), "fc2");
  EXPECT_EQ(b.seed_for("a.w"), (Builder{.graph = g, .seed = 3}).seed_for("a.w"));
  EXPECT_NE(b.seed_for("a.w"), (Builder{.graph = g, .seed = 4}).seed_for("a.w"));
  EXPECT_NE(b.seed_for("a.w"), b.seed_for("b.w"));
}

TEST(Layers, RejectWrongRanks) {
  Graph g;
  Builder b{.graph = g};
  Value x = g.input("x", {DType::f32, {2, 3}});
  try {
    conv2d(b, x, 4);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("conv2d"));
    EXPECT_THAT(e.what(), HasSubstr("[2,3]"));
  }
  EXPECT_THROW(conv1d(b, x, 4), Error);
  EXPECT_THROW(dense(b, g.input("img", {DType::f32, {2, 3, 4, 4}}), 4), Error);
  EXPECT_THROW(batch_norm(b, g.input("seq", {DType::f32, {2, 3, 4}})), Error);
}

TensorMap random_batch(const ZooEntry& entry, std::int64_t batch, DType dtype, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  Shape shape = {batch};
  shape.insert(shape.end(), entry.input_shape.begin(), entry.input_shape.end());
  Tensor image(DType::f64, shape);
  for (double& v : image.data<double>()) v = normal(rng);
  Tensor label(DType::i64, {batch});
  for (std::int64_t& v : label.data<std::int64_t>()) v = static_cast<std::int64_t>(rng() % entry.classes);
  TensorMap feeds;
  feeds.emplace("image", image.to(dtype));
  feeds.emplace("label", std::move(label));
  return feeds;
}

const ZooEntry& entry_of(const std::string& name) {
  for (const ZooEntry& e : zoo_models())
    if (e.name == name) return e;
  throw Error("no zoo entry " + name);
}

TEST(Zoo, ResnetTinyWholeModelGradientCheck) {
  Graph g = build_model("resnet_tiny", {.batch = 4, .dtype = DType::f64, .seed = 11, .training = true});
  TensorMap params = runtime::initialize_parameters(g);
  TensorMap inputs = random_batch(entry_of("resnet_tiny"), 4, DType::f64, 5);
  autodiff::CheckResult result = autodiff::check_graph_gradient(g, inputs, params, 4, 1);
  EXPECT_TRUE(result.passed) << result.detail << " (max abs error " << result.max_abs_error << ")";
  EXPECT_GT(result.max_abs_error, 0.0);  // the check compared something
}

// The large models at a reduced size (channels / 8, 32x32 images), same structure: every
// parameter's gradient against float64 central differences, through depthwise and grouped
// convolutions, concat and ceil-mode pooling.
class ReducedZooModel : public ::testing::TestWithParam<std::string> {};

TEST_P(ReducedZooModel, WholeModelFloat64GradientCheck) {
  const std::string name = GetParam();
  Graph g = build_model(name, {.batch = 4, .dtype = DType::f64, .seed = 7, .training = true, .input_shape = {3, 32, 32},
                               .classes = 5, .width_divisor = 8});
  TensorMap params = runtime::initialize_parameters(g);
  // A generic point: zero biases after ReLUs whose inputs are all zero would put pre-activations
  // exactly on the kink, where no difference quotient is meaningful.
  std::mt19937_64 rng(13);
  std::uniform_real_distribution<double> noise(-0.05, 0.05);
  for (auto& [param_name, tensor] : params)
    for (double& v : tensor.data<double>()) v += noise(rng);
  ZooEntry entry = entry_of(name);
  entry.input_shape = {3, 32, 32};
  entry.classes = 5;
  TensorMap inputs = random_batch(entry, 4, DType::f64, 9);
  autodiff::CheckResult result = autodiff::check_graph_gradient(g, inputs, params, 2, 3);
  EXPECT_TRUE(result.passed) << result.detail << " (max abs error " << result.max_abs_error << ")";
  EXPECT_GT(result.max_abs_error, 0.0);  // the check compared something
  // Kinks inside the step are rare; most entries are compared.
  EXPECT_GT(result.compared, 10 * result.skipped) << result.compared << " compared, " << result.skipped << " skipped";
}

INSTANTIATE_TEST_SUITE_P(Zoo, ReducedZooModel,
                         ::testing::Values("mobilenet_v2", "densenet121", "resnext50_32x4d", "squeezenet1_1"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

TEST(Zoo, ReducedFormKeepsTheStructure) {
  // Same layers, fewer channels: the node count does not depend on the width.
  for (const std::string name : {"mobilenet_v2", "densenet121", "resnext50_32x4d", "squeezenet1_1"}) {
    SCOPED_TRACE(name);
    Graph full = build_model(name);
    Graph reduced = build_model(name, {.input_shape = {3, 64, 64}, .classes = 10, .width_divisor = 8});
    EXPECT_EQ(full.nodes().size(), reduced.nodes().size());
    EXPECT_LT(reduced.parameter_count() * 20, full.parameter_count());
  }
}

TEST(Zoo, AdaptsToOtherInputsAndClasses) {
  Graph g = build_model("resnet18", {.batch = 2, .input_shape = {1, 28, 28}, .classes = 10});
  EXPECT_EQ(info(g, "image").type, (TensorType{DType::f32, {2, 1, 28, 28}}));
  EXPECT_EQ(info(g, "logits").type, (TensorType{DType::f32, {2, 10}}));
  // torchvision's ResNet-18 less the 2 input channels of the stem (64*2*7*7) and 990 classes (990*513).
  EXPECT_EQ(g.parameter_count(), 11'689'512 - 64 * 2 * 7 * 7 - 990 * 513);
  // DenseNet-121 halves a 28x28 image six times: the last transition's pooling has nothing left.
  try {
    build_model("densenet121", {.batch = 2, .input_shape = {1, 28, 28}});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("transition"));
  }
}

TEST(Zoo, RejectsAReducedFormItDoesNotHave) {
  try {
    build_model("resnet18", {.width_divisor = 2});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("'resnet18' has no reduced form (width_divisor 2)"));
    EXPECT_THAT(e.what(), HasSubstr("mobilenet_v2"));
  }
  EXPECT_THROW(build_model("mobilenet_v2", {.width_divisor = 0}), Error);
  EXPECT_THROW(build_model("mobilenet_v2", {.input_shape = {3, 32}}), Error);
}

TEST(Zoo, ResnetRefForwardBackward) {
  Graph g = build_model("resnet_ref", {.batch = 2, .seed = 1});
  autodiff::Gradients grads = autodiff::grad_parameters(g);
  TensorMap params = runtime::initialize_parameters(g);
  TensorMap inputs = random_batch(entry_of("resnet_ref"), 2, DType::f32, 2);
  runtime::RunResult out = runtime::run(runtime::compile(grads.graph), runtime::feeds_from({&inputs, &params}));
  const double loss = out.at(grads.loss).at(0);
  EXPECT_TRUE(std::isfinite(loss));
  // He-initialized logits are not tiny, so the loss is only roughly ln(10) at the start.
  EXPECT_NEAR(loss, std::log(10.0), 1.5);
  const std::vector<ValueId> wrt = g.values_of_kind(ValueKind::parameter);
  ASSERT_EQ(grads.grads.size(), wrt.size());
  double total = 0;
  for (std::size_t i = 0; i < wrt.size(); ++i) {
    SCOPED_TRACE(g.value(wrt[i]).name);
    ASSERT_NE(grads.grads[i], kNoValue);
    const Tensor& grad = out.at(grads.grads[i]);
    EXPECT_EQ(grad.shape(), g.value(wrt[i]).type.shape);
    for (std::int64_t e = 0; e < grad.numel(); ++e) {
      ASSERT_TRUE(std::isfinite(grad.at(e)));
      total += std::abs(grad.at(e));
    }
  }
  EXPECT_GT(total, 0.0);
  // Every running statistic is fetched, finite, and has moved from its initial value toward the batch statistics.
  ASSERT_EQ(grads.graph.state_updates().size(), 30u);
  for (auto [state, next] : grads.graph.state_updates()) {
    SCOPED_TRACE(g.value(state).name);
    ASSERT_EQ(out.values.count(next), 1u);
    const Tensor& updated = out.at(next);
    const Tensor& initial = params.at(g.value(state).name);
    bool moved = false;
    for (std::int64_t e = 0; e < updated.numel(); ++e) {
      EXPECT_TRUE(std::isfinite(updated.at(e)));
      moved = moved || updated.at(e) != initial.at(e);
    }
    EXPECT_TRUE(moved);
  }
}

}  // namespace
}  // namespace dagrad::models
