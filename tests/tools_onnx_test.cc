// The dagrad tool on .onnx files as a user runs it: `run` on .npy and TensorProto .pb inputs with
// the input checks, `convert` round trips between .dagrad, .dagrad.txt and .onnx that run bitwise
// the same, `validate` on a good and a broken file, `train --from m.onnx` on real Fashion-MNIST,
// `dump-grads --input` and the other model tools on an imported classifier without a loss.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "graph/error.h"
#include "interop/onnx.h"
#include "models/layers.h"
#include "onnx/onnx_pb.h"
#include "process.h"
#include "proto/model_file.h"
#include "proto/npy.h"
#include "runtime/runtime.h"

namespace {

namespace fs = std::filesystem;
using namespace dagrad;
using dagrad::testing::describe;
using dagrad::testing::ProcessResult;
using dagrad::testing::run_tool;
using ::testing::HasSubstr;

std::string bytes_of(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

// A small Fashion-MNIST classifier ending in its logits, without a loss (as a model exported from
// PyTorch is): image [N,1,28,28] -> conv -> batch norm -> relu -> max pool -> conv -> relu ->
// global average pool -> dense(10).
Model tiny_classifier(std::int64_t batch, bool training) {
  Model model;
  Graph& g = model.graph;
  models::Builder b{.graph = g, .seed = 7, .training = training};
  Value x = g.input("image", {DType::f32, {batch, 1, 28, 28}});
  x = ops::relu(models::batch_norm(b, models::conv2d(b, x, 4, {.kernel = 3, .stride = 2, .pad = 1})));
  x = ops::max_pool2d(x, {2, 2}, {2, 2});
  x = ops::relu(models::conv2d(b, x, 8, {.kernel = 3, .pad = 1, .bias = true}));
  Value logits = models::dense(b, ops::global_avg_pool(x), 10);
  g.rename_value(logits.id(), "logits");
  g.mark_output(logits);
  for (auto& [name, tensor] : runtime::initialize_parameters(g))
    (g.value(g.at(name)).kind == ValueKind::parameter ? model.parameters : model.state).emplace(name, std::move(tensor));
  // Running statistics that are not the initial ones, so inference exercises them.
  for (auto& [name, tensor] : model.state)
    for (std::int64_t i = 0; i < tensor.numel(); ++i) tensor.data<float>()[static_cast<std::size_t>(i)] = name.ends_with("var") ? 1.5f + 0.25f * i : 0.1f * i;
  return model;
}

Tensor images(std::int64_t batch) {
  Tensor t(DType::f32, {batch, 1, 28, 28});
  for (std::int64_t i = 0; i < t.numel(); ++i) t.data<float>()[static_cast<std::size_t>(i)] = static_cast<float>((i * 37 % 101) / 50.0 - 1.0);
  return t;
}

class ToolsOnnx : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = dagrad::testing::fresh_scratch_dir("tools_onnx_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    Model model = tiny_classifier(2, false);
    save(model, path("m.dagrad"));
    interop::export_onnx(model, path("m.onnx"));
    save_npy(images(2), path("x.npy"));
    interop::write_onnx_tensor_file(images(2), "image", path("x.pb"));
    save_npy(Tensor::from<std::int64_t>({2}, {3, 7}), path("y.npy"));
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  ProcessResult tool(std::vector<std::string> args) const { return run_tool(std::move(args)); }

  fs::path dir_;
};

TEST_F(ToolsOnnx, RunWritesEveryOutputFromNpyAndPbInputs) {
  ProcessResult r = tool({"run", path("m.onnx"), "--input", "image=" + path("x.npy"), "--out", path("npy_out")});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_THAT(r.out, HasSubstr("logits"));
  EXPECT_THAT(r.out, HasSubstr("f32[2,10]"));
  r = tool({"run", path("m.onnx"), "--input", "image=" + path("x.pb"), "--out", path("pb_out")});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  r = tool({"run", path("m.dagrad"), "--input", "image=" + path("x.npy"), "--out", path("dagrad_out")});
  ASSERT_EQ(r.exit_code, 0) << describe(r);

  const nlohmann::json index = nlohmann::json::parse(bytes_of(dir_ / "npy_out" / "index.json"));
  ASSERT_EQ(index.size(), 1u) << index.dump();
  EXPECT_EQ(index[0]["name"], "logits");
  EXPECT_EQ(index[0]["file"], "logits.npy");
  EXPECT_EQ(index[0]["dtype"], "f32");
  EXPECT_EQ(index[0]["shape"], nlohmann::json::array({2, 10}));
  // The same logits from the .pb input, and bitwise dagrad's own model's (the round trip contract).
  const Tensor from_npy = load_npy(path("npy_out/logits.npy"));
  EXPECT_TRUE(bitwise_equal(from_npy, load_npy(path("pb_out/logits.npy"))));
  EXPECT_TRUE(bitwise_equal(from_npy, load_npy(path("dagrad_out/logits.npy"))));
  // And what the runtime computes in this process.
  Model model = tiny_classifier(2, false);
  TensorMap feeds_in{{"image", images(2)}};
  runtime::Plan plan = runtime::compile(model.graph, {.threads = 1}, {model.graph.at("logits")});
  runtime::RunResult expected = runtime::run(plan, runtime::feeds_from({&feeds_in, &model.parameters, &model.state}));
  EXPECT_TRUE(bitwise_equal(from_npy, expected.at(model.graph.at("logits"))));
}

TEST_F(ToolsOnnx, RunJsonFormatAndTheBatchOfTheInputs) {
  save_npy(images(5), path("x5.npy"));
  ProcessResult r = tool({"run", path("m.onnx"), "--input", "image=" + path("x5.npy"), "--format", "json"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const nlohmann::json report = nlohmann::json::parse(r.out);
  ASSERT_EQ(report["outputs"].size(), 1u);
  EXPECT_EQ(report["outputs"][0]["shape"], nlohmann::json::array({5, 10}));  // the symbolic batch follows the input
  EXPECT_EQ(report["outputs"][0]["nan"], 0);
}

TEST_F(ToolsOnnx, RunRefusesMissingExtraAndMisShapedInputs) {
  save_npy(Tensor(DType::f32, {2, 1, 32, 32}), path("x32.npy"));
  save_npy(Tensor(DType::f64, {2, 1, 28, 28}), path("x64.npy"));
  save_npy(images(4), path("x4.npy"));
  struct Case {
    std::vector<std::string> args;
    int exit_code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"run", path("m.onnx"), "--input", "image=" + path("x32.npy")}, 2, "--input image: expected f32[2,1,28,28], got f32[2,1,32,32]"},
      {{"run", path("m.onnx"), "--input", "image=" + path("x64.npy")}, 2, "--input image: expected f32[2,1,28,28], got f64[2,1,28,28] (the dtype differs)"},
      {{"run", path("m.dagrad"), "--input", "image=" + path("x4.npy")}, 2, "expected f32[2,1,28,28], got f32[4,1,28,28] (only the batch differs: pass --batch 4)"},
      {{"run", path("m.onnx"), "--batch", "3", "--input", "image=" + path("x.npy")}, 2, "expected f32[3,1,28,28], got f32[2,1,28,28]"},
      {{"run", path("m.onnx")}, 2, "missing --input image=FILE: the model needs input 'image' f32[1,1,28,28]; its inputs are: image f32[1,1,28,28]"},
      {{"run", path("m.onnx"), "--input", "image=" + path("x.npy"), "--input", "mask=" + path("x.npy")}, 2,
       "--input mask: the model has no input named 'mask'; its inputs are: image f32[2,1,28,28]"},
      {{"run", path("m.onnx"), "--input", path("x.npy")}, 2, "--input must be NAME=FILE"},
      {{"run", path("m.onnx"), "--input", "image=" + path("x.npy"), "--input", "image=" + path("x.pb")}, 2, "--input 'image' is given twice"},
      {{"run", path("m.onnx"), "--input", "image=" + path("nope.npy")}, 1, "--input image=" + path("nope.npy") + ": " + path("nope.npy") + ": cannot open"},
      {{"run", path("m.onnx"), "--input", "image=" + path("m.dagrad")}, 1, "neither an .npy file"},
      {{"run", path("m.onnx"), "--input", "image=" + path("x.npy"), "--format", "yaml"}, 2, "unknown --format 'yaml'"},
      {{"run", path("m.onnx"), "--input", "image=" + path("x.npy"), "--out", path("x.npy")}, 2, "is a file, not a folder"},
  };
  for (const Case& c : cases) {
    ProcessResult r = tool(c.args);
    EXPECT_EQ(r.exit_code, c.exit_code) << describe(r);
    EXPECT_THAT(r.err, HasSubstr(c.message)) << describe(r);
  }
}

// Names that are not file names are sanitized, and the loss is written when its labels are given.
TEST_F(ToolsOnnx, RunWritesTheLossWhenTheLabelsAreGiven) {
  ProcessResult r = tool({"run", "--model", "resnet_tiny", "--input", "image=" + path("x.npy"), "--out", path("no_label")});
  EXPECT_EQ(r.exit_code, 2) << describe(r);  // resnet_tiny takes 2-channel 6x6 images
  save_npy(Tensor(DType::f32, {2, 2, 6, 6}), path("rgb.npy"));
  save_npy(Tensor::from<std::int64_t>({2}, {0, 2}), path("y3.npy"));
  r = tool({"run", "--model", "resnet_tiny", "--input", "image=" + path("rgb.npy")});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_THAT(r.out, HasSubstr("(loss 'loss' not computed: it needs the labels, input 'label')"));
  r = tool({"run", "--model", "resnet_tiny", "--input", "image=" + path("rgb.npy"), "--input", "label=" + path("y3.npy"), "--out", path("o")});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const nlohmann::json index = nlohmann::json::parse(bytes_of(dir_ / "o" / "index.json"));
  ASSERT_EQ(index.size(), 2u) << index.dump();
  EXPECT_EQ(index[1]["kind"], "loss");
  EXPECT_EQ(load_npy(path("o/loss.npy")).shape(), Shape{});
}

// How a conformance case is run by hand: its model and its input_K.pb files; the output matches
// output_0.pb.
TEST_F(ToolsOnnx, RunsAConformanceCaseOnItsPbFiles) {
  const fs::path c = "/usr/share/libonnx-testdata/data/node/test_conv_with_strides_padding";
  const fs::path data = c / "test_data_set_0";
  ProcessResult r = tool({"run", (c / "model.onnx").string(), "--input", "x=" + (data / "input_0.pb").string(), "--input",
                          "W=" + (data / "input_1.pb").string(), "--out", path("case")});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  std::string name;
  const Tensor expected = interop::read_onnx_tensor_file((data / "output_0.pb").string(), &name);
  const Tensor got = load_npy(path("case/" + name + ".npy"));
  ASSERT_EQ(got.shape(), expected.shape());
  for (std::int64_t i = 0; i < got.numel(); ++i) EXPECT_NEAR(got.at(i), expected.at(i), 1e-4 * std::abs(expected.at(i))) << i;
  // The file's inputs are fixed-size: a wrong one is named with both shapes.
  r = tool({"run", (c / "model.onnx").string(), "--input", "x=" + (data / "input_1.pb").string(), "--input", "W=" + (data / "input_1.pb").string()});
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("--input x: expected f32[1,1,7,5], got f32[1,1,3,3]"));
}

TEST_F(ToolsOnnx, ConvertRoundTripsBetweenAllThreeFormats) {
  const std::vector<std::pair<std::string, std::string>> steps = {
      {"m.dagrad", "a.onnx"}, {"a.onnx", "b.dagrad.txt"}, {"b.dagrad.txt", "c.onnx"}, {"c.onnx", "d.dagrad"}, {"d.dagrad", "e13.onnx"}, {"e13.onnx", "f.onnx"}};
  for (const auto& [in, out] : steps) {
    std::vector<std::string> args = {"convert", path(in), path(out)};
    if (out == "e13.onnx") args.insert(args.end(), {"--opset", "13"});
    if (in.ends_with(".onnx")) args.insert(args.end(), {"--batch", "2"});  // the symbolic batch, else 1
    ProcessResult r = tool(args);
    ASSERT_EQ(r.exit_code, 0) << in << " -> " << out << ": " << describe(r);
  }
  const std::string reference = [&] {
    EXPECT_EQ(tool({"run", path("m.dagrad"), "--input", "image=" + path("x.npy"), "--out", path("ref")}).exit_code, 0);
    return bytes_of(dir_ / "ref" / "logits.npy");
  }();
  for (const std::string file : {"a.onnx", "b.dagrad.txt", "c.onnx", "d.dagrad", "e13.onnx", "f.onnx"}) {
    ProcessResult r = tool({"run", path(file), "--input", "image=" + path("x.npy"), "--out", path("out_" + file)});
    ASSERT_EQ(r.exit_code, 0) << file << ": " << describe(r);
    EXPECT_EQ(bytes_of(dir_ / ("out_" + file) / "logits.npy"), reference) << file << " runs differently";
  }
  // Names and weights survive: the parameters of d.dagrad are m.dagrad's, bitwise.
  Model original = load(path("m.dagrad")), back = load(path("d.dagrad"));
  ASSERT_EQ(original.parameters.size(), back.parameters.size());
  for (const auto& [name, t] : original.parameters) {
    ASSERT_TRUE(back.parameters.count(name)) << name;
    EXPECT_TRUE(bitwise_equal(t, back.parameters.at(name))) << name;
  }
  for (const auto& [name, t] : original.state) EXPECT_TRUE(back.state.count(name) && bitwise_equal(t, back.state.at(name))) << name;

  ProcessResult r = tool({"convert", path("m.dagrad"), path("g.onnx"), "--opset", "12"});
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("--opset must be 13 or 17, got 12"));
  EXPECT_FALSE(fs::exists(path("g.onnx")));
}

TEST_F(ToolsOnnx, ValidateRunsTheOnnxCheckerAndTheImport) {
  ProcessResult r = tool({"validate", path("m.onnx")});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_THAT(r.out, HasSubstr("onnx checker: OK\ndagrad import: OK\nOK " + path("m.onnx") + ": "));

  // Truncated: neither the checker nor the import can read it.
  const std::string bytes = bytes_of(path("m.onnx"));
  std::ofstream(path("truncated.onnx"), std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  r = tool({"validate", path("truncated.onnx")});
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_THAT(r.out, HasSubstr("onnx checker: FAILED: "));
  EXPECT_THAT(r.out, HasSubstr("dagrad import: FAILED: "));
  EXPECT_THAT(r.out, HasSubstr("INVALID "));

  // An op no schema knows: the checker says so, and the import lists it.
  onnx::ModelProto proto;
  ASSERT_TRUE(proto.ParseFromString(bytes));
  ASSERT_GT(proto.graph().node_size(), 0);
  proto.mutable_graph()->mutable_node(0)->set_op_type("NoSuchOp");
  std::ofstream(path("unknown_op.onnx"), std::ios::binary) << proto.SerializeAsString();
  r = tool({"validate", path("unknown_op.onnx")});
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_THAT(r.out, HasSubstr("onnx checker: FAILED: "));
  EXPECT_THAT(r.out, HasSubstr("NoSuchOp"));
  EXPECT_THAT(r.out, HasSubstr("\nINVALID "));
}

// An imported classifier without a loss gets the label input and softmax cross-entropy: dump-grads
// on given tensors writes the same gradients for the .onnx file as for dagrad's own file.
TEST_F(ToolsOnnx, DumpGradsOnGivenInputsOfAnImportedClassifier) {
  Model training_form = tiny_classifier(2, true);
  save(training_form, path("t.dagrad"));
  interop::export_onnx(training_form, path("t.onnx"));
  for (const std::string model : {"t.onnx", "t.dagrad"}) {
    ProcessResult r = tool({"dump-grads", path(model), "--input", "image=" + path("x.npy"), "--input", "label=" + path("y.npy"),
                            "--out", path("grads_" + model), "--threads", "1"});
    ASSERT_EQ(r.exit_code, 0) << model << ": " << describe(r);
    EXPECT_THAT(r.out, HasSubstr("conv1.w"));
  }
  const nlohmann::json index = nlohmann::json::parse(bytes_of(dir_ / "grads_t.onnx" / "index.json"));
  EXPECT_EQ(index.size(), training_form.parameters.size()) << index.dump();
  for (const auto& [name, t] : training_form.parameters) {
    ASSERT_TRUE(index.contains("grad:" + name)) << name;
    const std::string file = index["grad:" + name];
    EXPECT_EQ(load_npy(path("grads_t.onnx/" + file)).shape(), t.shape()) << name;
    EXPECT_EQ(bytes_of(dir_ / "grads_t.onnx" / file), bytes_of(dir_ / "grads_t.dagrad" / file)) << name;
  }
  ProcessResult r = tool({"dump-grads", path("t.onnx"), "--input", "image=" + path("x.npy")});
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("missing --input label=FILE"));
}

TEST_F(ToolsOnnx, ModelToolsShowImportedNamesUnchanged) {
  ProcessResult r = tool({"summary", path("m.onnx")});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  Model model = interop::import_onnx(path("m.onnx"));
  for (const Node& node : model.graph.nodes()) EXPECT_THAT(r.out, HasSubstr(node.name)) << r.out;
  for (const auto& [name, t] : model.parameters) EXPECT_TRUE(tiny_classifier(1, false).parameters.count(name)) << name;
  r = tool({"dump-graph", path("m.onnx")});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_THAT(r.out, HasSubstr("conv1.w"));
  // The tools that differentiate add the classifier loss to the loss-free import.
  r = tool({"dump-graph", path("m.onnx"), "--backward"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_THAT(r.out, HasSubstr("softmax_cross_entropy"));
  r = tool({"profile", path("m.onnx"), "--batch", "2", "--iterations", "1", "--threads", "1"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_THAT(r.out, HasSubstr("backward"));
}

// A model as PyTorch exports one: input "input" [N,1,28,28] with a symbolic batch, no loss, and
// GlobalAveragePool (which the importer makes a pool and a reshape to [N,C,1,1]) -> Flatten -> Gemm.
void write_torch_like_onnx(const std::string& path) {
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.add_opset_import()->set_version(13);
  onnx::GraphProto& g = *model.mutable_graph();
  g.set_name("torch_like");
  auto add_value = [](onnx::ValueInfoProto* v, const std::string& name, std::vector<std::int64_t> dims) {
    v->set_name(name);
    auto* t = v->mutable_type()->mutable_tensor_type();
    t->set_elem_type(onnx::TensorProto::FLOAT);
    for (std::int64_t d : dims) {
      auto* dim = t->mutable_shape()->add_dim();
      if (d < 0) dim->set_dim_param("N");
      else dim->set_dim_value(d);
    }
  };
  add_value(g.add_input(), "input", {-1, 1, 28, 28});
  add_value(g.add_output(), "out", {-1, 10});
  auto add_initializer = [&](const std::string& name, std::vector<std::int64_t> dims) {
    onnx::TensorProto* t = g.add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    std::int64_t n = 1;
    for (std::int64_t d : dims) t->add_dims(d), n *= d;
    for (std::int64_t i = 0; i < n; ++i) t->add_float_data(0.1f * static_cast<float>(i % 7) - 0.3f);
  };
  add_initializer("fc.weight", {10, 1});
  add_initializer("fc.bias", {10});
  auto add_node = [&](const std::string& op, const std::string& name, std::vector<std::string> in, std::string out) {
    onnx::NodeProto* n = g.add_node();
    n->set_op_type(op);
    n->set_name(name);
    for (const auto& i : in) n->add_input(i);
    n->add_output(out);
    return n;
  };
  add_node("GlobalAveragePool", "/pool/GlobalAveragePool", {"input"}, "pooled");
  add_node("Flatten", "/flatten/Flatten", {"pooled"}, "flat");
  onnx::NodeProto* gemm = add_node("Gemm", "/fc/Gemm", {"flat", "fc.weight", "fc.bias"}, "out");
  onnx::AttributeProto* trans_b = gemm->add_attribute();
  trans_b->set_name("transB");
  trans_b->set_type(onnx::AttributeProto::INT);
  trans_b->set_i(1);
  std::ofstream(path, std::ios::binary) << model.SerializeAsString();
}

// Imported reshapes carry the batch; the tools make them re-batchable, so evaluate (with a last
// batch of another size) and train run on such a model, its input found though not named "image".
TEST_F(ToolsOnnx, EvaluateAndTrainRebatchATorchLikeImport) {
  write_torch_like_onnx(path("torch_like.onnx"));
  ProcessResult r = tool({"validate", path("torch_like.onnx")});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  r = tool({"evaluate", path("torch_like.onnx"), "--limit", "70", "--batch", "32"});  // batches of 32, 32 and 6
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_THAT(r.out, HasSubstr("/70)"));
  r = tool({"train", "--from", path("torch_like.onnx"), "--out", path("t.dagrad"), "--epochs", "1", "--batch", "16", "--limit-train", "64",
            "--limit-test", "40", "--threads", "1"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  Model tuned = load(path("t.dagrad"));
  EXPECT_TRUE(tuned.parameters.count("fc.weight"));
  r = tool({"run", path("t.dagrad"), "--batch", "2", "--input", "input=" + path("x.npy")});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
}

// Output names that are not file names: sanitized, collisions numbered, all listed in index.json.
TEST_F(ToolsOnnx, RunSanitizesOutputFileNames) {
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.add_opset_import()->set_version(13);
  onnx::GraphProto& g = *model.mutable_graph();
  g.set_name("names");
  auto value = [](onnx::ValueInfoProto* v, const std::string& name) {
    v->set_name(name);
    auto* t = v->mutable_type()->mutable_tensor_type();
    t->set_elem_type(onnx::TensorProto::FLOAT);
    t->mutable_shape()->add_dim()->set_dim_value(2);
    t->mutable_shape()->add_dim()->set_dim_value(3);
  };
  value(g.add_input(), "x");
  const std::vector<std::pair<std::string, std::string>> outputs = {{"Relu", "a/b"}, {"Sigmoid", "a_b"}, {"Neg", ".."}, {"Tanh", "../../etc/passwd"}};
  for (const auto& [op, name] : outputs) {
    onnx::NodeProto* n = g.add_node();
    n->set_op_type(op);
    n->set_name(op);
    n->add_input("x");
    n->add_output(name);
    value(g.add_output(), name);
  }
  std::ofstream(path("names.onnx"), std::ios::binary) << model.SerializeAsString();
  save_npy(Tensor::from<float>({2, 3}, {-1, 0, 1, 2, -3, 4}), path("x23.npy"));
  ProcessResult r = tool({"run", path("names.onnx"), "--input", "x=" + path("x23.npy"), "--out", path("names")});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const nlohmann::json index = nlohmann::json::parse(bytes_of(dir_ / "names" / "index.json"));
  ASSERT_EQ(index.size(), 4u) << index.dump();
  const std::vector<std::string> files = {"a_b.npy", "a_b_2.npy", "_...npy", ".._.._etc_passwd.npy"};
  for (std::size_t i = 0; i < files.size(); ++i) {
    EXPECT_EQ(index[i]["name"], outputs[i].second);
    EXPECT_EQ(index[i]["file"], files[i]);
    EXPECT_TRUE(fs::is_regular_file(dir_ / "names" / files[i])) << files[i];
  }
  EXPECT_EQ(load_npy(path("names/a_b.npy")).at(3), 2);     // relu
  EXPECT_EQ(load_npy(path("names/_...npy")).at(4), 3);     // neg
}

// The usual Fashion-MNIST flow on an imported model: a short fine-tuning run, then evaluate and
// validate the result; batch norms train, their running statistics move as state.
TEST_F(ToolsOnnx, TrainFromOnnxFineTunesOnFashionMnist) {
  ProcessResult r = tool({"train", "--from", path("m.onnx"), "--out", path("tuned.dagrad"), "--epochs", "1", "--batch", "32",
                          "--limit-train", "128", "--limit-test", "64", "--lr", "0.05", "--threads", "2"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_THAT(r.out, HasSubstr("training m.onnx on fashion-mnist"));
  Model tuned = load(path("tuned.dagrad"));
  Model original = tiny_classifier(1, false);
  ASSERT_EQ(tuned.parameters.size(), original.parameters.size());
  for (const auto& [name, t] : original.parameters) {
    ASSERT_TRUE(tuned.parameters.count(name)) << name;
    EXPECT_FALSE(bitwise_equal(t, tuned.parameters.at(name))) << name << " did not train";
  }
  ASSERT_EQ(tuned.state.size(), original.state.size());
  for (const auto& [name, t] : original.state) {
    ASSERT_TRUE(tuned.state.count(name)) << name;
    EXPECT_FALSE(bitwise_equal(t, tuned.state.at(name))) << name << " running statistic did not move";
  }
  r = tool({"evaluate", path("tuned.dagrad"), "--limit", "64"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_THAT(r.out, HasSubstr("test accuracy"));
  r = tool({"evaluate", path("m.onnx"), "--limit", "64"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_THAT(r.out, HasSubstr("test accuracy"));
  // The fine-tuned model goes back out to ONNX and passes the checker.
  r = tool({"convert", path("tuned.dagrad"), path("tuned.onnx")});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  r = tool({"validate", path("tuned.onnx")});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
}

}  // namespace
