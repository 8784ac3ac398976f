// Focused tests of the ONNX importer on hand-made ModelProtos: names kept, initializers listed as
// graph inputs, the symbolic batch, one error for every unsupported op, external data confined
// to the model's folder, the opset differences, folded shape arithmetic and tensor files.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "interop/onnx.h"
#include "onnx/onnx_pb.h"
#include "runtime/runtime.h"

namespace fs = std::filesystem;
using namespace dagrad;

namespace {

struct OnnxBuilder {
  onnx::ModelProto model;
  onnx::GraphProto* g;
  explicit OnnxBuilder(int opset, int ir_version = 8) {
    model.set_ir_version(ir_version);
    auto* imp = model.add_opset_import();
    imp->set_domain("");
    imp->set_version(opset);
    g = model.mutable_graph();
    g->set_name("test");
  }
  static void set_type(onnx::ValueInfoProto* v, const std::string& name, int elem, const std::vector<std::string>& dims) {
    v->set_name(name);
    auto* tt = v->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(elem);
    auto* shape = tt->mutable_shape();
    for (const auto& d : dims) {
      auto* dim = shape->add_dim();
      if (!d.empty() && (std::isdigit(static_cast<unsigned char>(d[0])))) dim->set_dim_value(std::stoll(d));
      else if (!d.empty()) dim->set_dim_param(d);
    }
  }
  void input(const std::string& name, const std::vector<std::string>& dims, int elem = onnx::TensorProto_DataType_FLOAT) {
    set_type(g->add_input(), name, elem, dims);
  }
  void output(const std::string& name, const std::vector<std::string>& dims = {}, int elem = onnx::TensorProto_DataType_FLOAT) {
    auto* v = g->add_output();
    v->set_name(name);
    v->mutable_type()->mutable_tensor_type()->set_elem_type(elem);
    (void)dims;
  }
  onnx::TensorProto* initializer(const std::string& name, const std::vector<std::int64_t>& dims, const std::vector<float>& values) {
    auto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto_DataType_FLOAT);
    for (auto d : dims) t->add_dims(d);
    for (float v : values) t->add_float_data(v);
    return t;
  }
  void initializer_i64(const std::string& name, const std::vector<std::int64_t>& values) {
    auto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto_DataType_INT64);
    t->add_dims(static_cast<std::int64_t>(values.size()));
    for (auto v : values) t->add_int64_data(v);
  }
  onnx::NodeProto* node(const std::string& op, const std::vector<std::string>& inputs, const std::vector<std::string>& outputs,
                        const std::string& name = "") {
    auto* n = g->add_node();
    n->set_op_type(op);
    n->set_name(name);
    for (const auto& i : inputs) n->add_input(i);
    for (const auto& o : outputs) n->add_output(o);
    return n;
  }
  static void attr_int(onnx::NodeProto* n, const std::string& name, std::int64_t v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto_AttributeType_INT);
    a->set_i(v);
  }
  static void attr_float(onnx::NodeProto* n, const std::string& name, float v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto_AttributeType_FLOAT);
    a->set_f(v);
  }
  static void attr_ints(onnx::NodeProto* n, const std::string& name, const std::vector<std::int64_t>& v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto_AttributeType_INTS);
    for (auto x : v) a->add_ints(x);
  }
  std::string bytes() const { return model.SerializeAsString(); }
  Model import(const interop::OnnxImportOptions& options = {}, const std::string& base_dir = "") const {
    return interop::import_onnx_bytes(bytes(), "test.onnx", base_dir, options);
  }
};

std::string import_error(const OnnxBuilder& b, const std::string& base_dir = "") {
  try {
    b.import({}, base_dir);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::vector<float> iota(std::int64_t n, float scale = 0.1f, float offset = -0.5f) {
  std::vector<float> v(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = offset + scale * static_cast<float>(i);
  return v;
}

Tensor run_one(const Model& m, const std::string& input, const Tensor& x, const std::string& output) {
  const ValueId out = m.graph.at(output);
  const runtime::Plan plan = runtime::compile(m.graph, {}, {out});
  runtime::Feeds feeds = runtime::feeds_from({&m.parameters, &m.state});
  feeds[input] = &x;
  return runtime::run(plan, feeds).at(out);
}

// x [N,3,5,5] -> Conv(features.0, 4 filters 3x3, pad 1) -> Relu -> y
OnnxBuilder conv_relu_model(int ir_version = 8) {
  OnnxBuilder b(13, ir_version);
  b.input("x", {"N", "3", "5", "5"});
  b.initializer("features.0.weight", {4, 3, 3, 3}, iota(108, 0.01f));
  b.initializer("features.0.bias", {4}, {0.1f, -0.2f, 0.3f, 0.0f});
  auto* conv = b.node("Conv", {"x", "features.0.weight", "features.0.bias"}, {"conv_out"}, "features.0");
  OnnxBuilder::attr_ints(conv, "pads", {1, 1, 1, 1});
  OnnxBuilder::attr_ints(conv, "kernel_shape", {3, 3});
  b.node("Relu", {"conv_out"}, {"y"}, "features.1");
  b.output("y");
  return b;
}

}  // namespace

TEST(OnnxImport, NamesOfNodesParametersAndOutputsAreKept) {
  const Model m = conv_relu_model().import();
  const Graph& g = m.graph;
  ASSERT_EQ(g.nodes().size(), 2u);
  EXPECT_EQ(g.nodes()[0].name, "features.0");
  EXPECT_EQ(g.nodes()[1].name, "features.1");
  EXPECT_EQ(g.value(g.at("features.0.weight")).kind, ValueKind::parameter);
  EXPECT_EQ(g.value(g.at("features.0.bias")).kind, ValueKind::parameter);
  EXPECT_EQ(m.parameters.count("features.0.weight"), 1u);
  EXPECT_EQ(g.value(g.at("conv_out")).producer, 0);
  ASSERT_EQ(g.outputs().size(), 1u);
  EXPECT_EQ(g.value(g.outputs()[0]).name, "y");
  EXPECT_EQ(g.value(g.at("x")).kind, ValueKind::input);
}

TEST(OnnxImport, UnnamedNodesAreNamedByOpTypeAndIndex) {
  OnnxBuilder b(13);
  b.input("x", {"2", "3"});
  b.node("Relu", {"x"}, {"a"});
  b.node("Sigmoid", {"a"}, {"y"});
  b.output("y");
  const Model m = b.import();
  EXPECT_EQ(m.graph.nodes()[0].name, "Relu_0");
  EXPECT_EQ(m.graph.nodes()[1].name, "Sigmoid_1");
}

TEST(OnnxImport, InitializersListedAsGraphInputsAreParameters) {
  OnnxBuilder b = conv_relu_model(3);  // IR 3: initializers are graph inputs too
  OnnxBuilder::set_type(b.g->add_input(), "features.0.weight", onnx::TensorProto_DataType_FLOAT, {"4", "3", "3", "3"});
  OnnxBuilder::set_type(b.g->add_input(), "features.0.bias", onnx::TensorProto_DataType_FLOAT, {"4"});
  const Model m = b.import();
  EXPECT_EQ(m.graph.values_of_kind(ValueKind::input).size(), 1u);
  EXPECT_EQ(m.graph.value(m.graph.at("features.0.weight")).kind, ValueKind::parameter);
}

TEST(OnnxImport, SymbolicBatchIsFixedAtImport) {
  const Model m = conv_relu_model().import({.batch = 8});
  EXPECT_EQ(m.graph.value(m.graph.at("x")).type.shape, (Shape{8, 3, 5, 5}));
  EXPECT_EQ(m.graph.value(m.graph.at("y")).type.shape, (Shape{8, 4, 5, 5}));
  OnnxBuilder b(13);
  b.input("x", {"N", "C"});
  b.node("Relu", {"x"}, {"y"});
  b.output("y");
  EXPECT_NE(import_error(b).find("dim 1 ('C') is symbolic"), std::string::npos) << import_error(b);
}

TEST(OnnxImport, OneErrorListsEveryUnsupportedOpAndAttribute) {
  OnnxBuilder b(13);
  b.input("x", {"1", "3", "4"});
  b.initializer("W", {1, 8, 4}, iota(32));
  b.initializer("R", {1, 8, 2}, iota(16));
  b.initializer("w3", {2, 1, 1, 1, 1}, {1.f, 2.f});
  b.node("LSTM", {"x", "W", "R"}, {"a"}, "rnn");
  auto* conv = b.node("Conv", {"a", "w3"}, {"c"}, "conv3d");
  OnnxBuilder::attr_ints(conv, "kernel_shape", {1, 1, 1});
  auto* pool = b.node("MaxPool", {"c"}, {"p"}, "p");
  OnnxBuilder::attr_ints(pool, "kernel_shape", {2, 2});
  OnnxBuilder::attr_int(pool, "storage_order", 1);
  b.node("Sin", {"p"}, {"y"});
  b.output("y");
  const std::string error = import_error(b);
  EXPECT_NE(error.find("cannot import 4 items"), std::string::npos) << error;
  EXPECT_NE(error.find("LSTM (node 'rnn', opset 13): not supported"), std::string::npos) << error;
  EXPECT_NE(error.find("Conv 'conv3d': 3-D windows"), std::string::npos) << error;
  EXPECT_NE(error.find("MaxPool 'p': storage_order=1 not supported"), std::string::npos) << error;
  EXPECT_NE(error.find("Sin (node 'Sin_3', opset 13): not supported"), std::string::npos) << error;
}

TEST(OnnxImport, UnsupportedElementTypesAreNamed) {
  OnnxBuilder b(13);
  b.input("x", {"2"}, onnx::TensorProto_DataType_INT32);
  b.node("Relu", {"x"}, {"y"});
  b.output("y", {}, onnx::TensorProto_DataType_INT32);
  const std::string error = import_error(b);
  EXPECT_NE(error.find("graph input 'x': unsupported element type INT32"), std::string::npos) << error;
  EXPECT_NE(error.find("graph output 'y': unsupported element type INT32"), std::string::npos) << error;
}

TEST(OnnxImport, BadBytesAndOpsetsGiveClearErrors) {
  EXPECT_THROW(interop::import_onnx_bytes("\x08\x96\x01garbage\xff\xff", "bad.onnx", ""), Error);
  try {
    interop::import_onnx_bytes(std::string("\x0a\xff\xff\xff\x0f", 5), "trunc.onnx", "");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("trunc.onnx"), std::string::npos);
  }
  OnnxBuilder b(18);
  b.input("x", {"2"});
  b.node("Relu", {"x"}, {"y"});
  b.output("y");
  EXPECT_NE(import_error(b).find("18 is not supported"), std::string::npos) << import_error(b);
}

TEST(OnnxImport, ExternalDataIsReadOnlyFromTheModelsFolder) {
  const fs::path dir = fs::temp_directory_path() / ("dagrad_onnx_ext_" + std::to_string(::getpid()));
  fs::create_directories(dir / "model");
  const std::vector<float> weights = iota(108, 0.01f);
  {
    std::ofstream out(dir / "model" / "weights.bin", std::ios::binary);
    const std::string pad(16, '\0');
    out.write(pad.data(), 16);  // the data starts at offset 16
    out.write(reinterpret_cast<const char*>(weights.data()), static_cast<std::streamsize>(weights.size() * 4));
  }
  std::ofstream(dir / "secret.bin", std::ios::binary) << std::string(432, 'x');
  auto model_with_location = [&](const std::string& location) {
    OnnxBuilder b = conv_relu_model();
    auto* w = b.g->mutable_initializer(0);
    w->clear_float_data();
    w->set_data_location(onnx::TensorProto_DataLocation_EXTERNAL);
    auto add = [&](const char* key, const std::string& value) {
      auto* e = w->add_external_data();
      e->set_key(key);
      e->set_value(value);
    };
    add("location", location);
    add("offset", "16");
    add("length", "432");
    return b;
  };
  {
    OnnxBuilder b = model_with_location("weights.bin");
    const std::string path = (dir / "model" / "m.onnx").string();
    std::ofstream(path, std::ios::binary) << b.bytes();
    const Model m = interop::import_onnx(path);
    const Tensor& w = m.parameters.at("features.0.weight");
    EXPECT_EQ(w.shape(), (Shape{4, 3, 3, 3}));
    EXPECT_EQ(w.data<float>()[5], weights[5]);
    EXPECT_NE(import_error(b, "").find("weights.bin"), std::string::npos);  // from bytes without a folder: refused
  }
  for (const std::string& escape : std::vector<std::string>{"../secret.bin", (dir / "secret.bin").string(), "sub/../../secret.bin"}) {
    OnnxBuilder b = model_with_location(escape);
    const std::string error = import_error(b, (dir / "model").string());
    EXPECT_TRUE(error.find("'..' part") != std::string::npos || error.find("absolute path") != std::string::npos)
        << escape << ": " << error;
  }
  {
    fs::create_symlink(dir / "secret.bin", dir / "model" / "link.bin");
    const std::string error = import_error(model_with_location("link.bin"), (dir / "model").string());
    EXPECT_NE(error.find("outside the model's folder"), std::string::npos) << error;
  }
  fs::remove_all(dir);
}

TEST(OnnxImport, SoftmaxBeforeOpset13FlattensAtTheAxis) {
  const Tensor x = Tensor::from<float>({2, 3, 4}, iota(24, 0.3f, -3.0f));
  for (int opset : {11, 13}) {
    OnnxBuilder b(opset);
    b.input("x", {"2", "3", "4"});
    OnnxBuilder::attr_int(b.node("Softmax", {"x"}, {"y"}, "sm"), "axis", 1);
    b.output("y");
    const Tensor y = run_one(b.import(), "x", x, "y");
    // opset 11: one softmax over the 12 values of each batch row; 13: over the 3 of dim 1.
    double row_sum = 0;
    for (int i = 0; i < 12; ++i) row_sum += y.at(i);
    double column_sum = y.at(0) + y.at(4) + y.at(8);
    if (opset == 11) EXPECT_NEAR(row_sum, 1.0, 1e-5);
    else EXPECT_NEAR(column_sum, 1.0, 1e-5);
    EXPECT_EQ(y.shape(), x.shape());
  }
}

TEST(OnnxImport, ClipBoundsAreAttributesBeforeOpset11AndInputsAfter) {
  const Tensor x = Tensor::from<float>({4}, {-2.f, -0.5f, 0.5f, 2.f});
  OnnxBuilder old(10);
  old.input("x", {"4"});
  auto* n = old.node("Clip", {"x"}, {"y"});
  OnnxBuilder::attr_float(n, "min", -1.f);
  OnnxBuilder::attr_float(n, "max", 1.f);
  old.output("y");
  Tensor y = run_one(old.import(), "x", x, "y");
  EXPECT_EQ(y.at(0), -1.0);
  EXPECT_EQ(y.at(3), 1.0);
  OnnxBuilder now(13);
  now.input("x", {"4"});
  now.initializer("lo", {}, {0.f});
  now.node("Clip", {"x", "lo", ""}, {"y"});  // no max: +inf
  now.output("y");
  y = run_one(now.import(), "x", x, "y");
  EXPECT_EQ(y.at(0), 0.0);
  EXPECT_EQ(y.at(3), 2.0);
}

TEST(OnnxImport, ShapeArithmeticIsFoldedIntoTheReshape) {
  OnnxBuilder b(13);
  b.input("x", {"N", "2", "3"});
  b.initializer_i64("zero", {0});
  b.initializer_i64("minus_one", {-1});
  b.node("Shape", {"x"}, {"shape"});
  auto* gather = b.node("Gather", {"shape", "zero"}, {"batch"});
  OnnxBuilder::attr_int(gather, "axis", 0);
  auto* concat = b.node("Concat", {"batch", "minus_one"}, {"target"});
  OnnxBuilder::attr_int(concat, "axis", 0);
  b.node("Reshape", {"x", "target"}, {"y"}, "flat");
  b.output("y");
  Model m = b.import({.batch = 5});
  ASSERT_EQ(m.graph.nodes().size(), 1u);
  EXPECT_EQ(m.graph.nodes()[0].name, "flat");
  EXPECT_EQ(m.graph.value(m.graph.at("y")).type.shape, (Shape{5, 6}));
  // The folded target follows the symbolic batch (-1 there), so the graph takes another batch.
  EXPECT_EQ(std::get<std::vector<std::int64_t>>(m.graph.nodes()[0].attrs.at("shape")), (std::vector<std::int64_t>{-1, 6}));
  m.graph.reshape_inputs({{"x", {3, 2, 3}}});
  EXPECT_EQ(m.graph.value(m.graph.at("y")).type.shape, (Shape{3, 6}));
}

TEST(OnnxImport, ReshapesOfAFixedBatchStayFixed) {
  // No symbolic dim: the file's batch is its own, and its reshape targets are kept as written.
  OnnxBuilder b(13);
  b.input("x", {"4", "2", "3"});
  b.initializer_i64("target", {4, 6});
  b.node("Reshape", {"x", "target"}, {"y"}, "flat");
  b.output("y");
  const Model m = b.import({.batch = 5});
  EXPECT_EQ(std::get<std::vector<std::int64_t>>(m.graph.nodes()[0].attrs.at("shape")), (std::vector<std::int64_t>{4, 6}));
}

TEST(OnnxImport, BatchNormStatisticsAreStateUpdatedInTrainingForm) {
  OnnxBuilder b(14);
  b.input("x", {"N", "2", "3", "3"});
  b.initializer("bn.weight", {2}, {1.f, 2.f});
  b.initializer("bn.bias", {2}, {0.f, 1.f});
  b.initializer("bn.running_mean", {2}, {0.f, 0.f});
  b.initializer("bn.running_var", {2}, {1.f, 1.f});
  auto* bn = b.node("BatchNormalization", {"x", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"},
                    {"y", "mean_out", "var_out"}, "bn");
  OnnxBuilder::attr_int(bn, "training_mode", 1);
  OnnxBuilder::attr_float(bn, "momentum", 0.9f);
  b.output("y");
  const Model m = b.import({.batch = 4});
  EXPECT_EQ(m.graph.value(m.graph.at("bn.running_mean")).kind, ValueKind::state);
  EXPECT_EQ(m.graph.value(m.graph.at("bn.weight")).kind, ValueKind::parameter);
  EXPECT_EQ(m.state.count("bn.running_var"), 1u);
  EXPECT_EQ(m.graph.state_updates().size(), 2u);
  const Node& node = m.graph.nodes().at(0);
  EXPECT_NEAR(std::get<double>(node.attrs.at("momentum")), 0.1, 1e-7);  // 1 - ONNX's momentum
  EXPECT_TRUE(std::get<bool>(node.attrs.at("training")));
  if (node.attrs.count("running_var_unbiased")) {
    EXPECT_FALSE(std::get<bool>(node.attrs.at("running_var_unbiased")));
  }
}

TEST(OnnxImport, RandomTrainingDropoutIsRefusedClearly) {
  OnnxBuilder b(13);
  b.input("x", {"2", "3"});
  b.initializer("ratio", {}, {0.5f});
  auto* t = b.g->add_initializer();
  t->set_name("train");
  t->set_data_type(onnx::TensorProto_DataType_INT64);  // BOOL is out of scope; an INT64 flag still says "training"
  t->add_int64_data(1);
  b.node("Dropout", {"x", "ratio", "train"}, {"y"}, "drop");
  b.output("y");
  EXPECT_NE(import_error(b).find("random and not supported"), std::string::npos) << import_error(b);
}

TEST(OnnxImport, SeededTrainingDropoutImportsAsDagradDropout) {
  // dagrad's exporter writes its mask seed as Dropout's seed attribute; a float32 ratio reads as written.
  OnnxBuilder b(13);
  b.model.set_producer_name("dagrad");
  b.input("x", {"2", "3"});
  b.initializer("ratio", {}, {0.2f});
  b.initializer_i64("train", {1});
  OnnxBuilder::attr_int(b.node("Dropout", {"x", "ratio", "train"}, {"y"}, "drop"), "seed", 7);
  b.output("y");
  const Model model = b.import({.training = true});
  b.model.set_producer_name("backend-test");  // another producer's generator: refused
  EXPECT_NE(import_error(b).find("random and not supported"), std::string::npos) << import_error(b);
  bool found = false;
  for (const Node& node : model.graph.nodes()) {
    if (node.op != "dropout") continue;
    found = true;
    EXPECT_EQ(node.name, "drop");
    EXPECT_EQ(std::get<double>(node.attrs.at("p")), 0.2);
    EXPECT_EQ(std::get<std::int64_t>(node.attrs.at("seed")), 7);
    EXPECT_TRUE(std::get<bool>(node.attrs.at("training")));
  }
  EXPECT_TRUE(found);
}

TEST(OnnxTensorFile, RoundTripsBitwiseAndRefusesOtherTypes) {
  const fs::path dir = fs::temp_directory_path();
  const std::string path = (dir / ("dagrad_tensor_" + std::to_string(::getpid()) + ".pb")).string();
  const Tensor t = Tensor::from<double>({2, 3}, {1, -2, 3.5, 1e300, -0.0, 7});
  interop::write_onnx_tensor_file(t, "input_0", path);
  std::string name;
  const Tensor back = interop::read_onnx_tensor_file(path, &name);
  EXPECT_EQ(name, "input_0");
  EXPECT_TRUE(bitwise_equal(t, back));
  onnx::TensorProto bad;
  bad.set_data_type(onnx::TensorProto_DataType_INT32);
  bad.add_dims(2);
  bad.add_int32_data(1);
  bad.add_int32_data(2);
  std::ofstream(path, std::ios::binary) << bad.SerializeAsString();
  try {
    interop::read_onnx_tensor_file(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unsupported element type INT32"), std::string::npos) << e.what();
  }
  onnx::TensorProto short_data;
  short_data.set_data_type(onnx::TensorProto_DataType_FLOAT);
  short_data.add_dims(3);
  short_data.set_raw_data(std::string(8, '\0'));
  std::ofstream(path, std::ios::binary | std::ios::trunc) << short_data.SerializeAsString();
  try {
    interop::read_onnx_tensor_file(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("raw_data holds 8 bytes"), std::string::npos) << e.what();
  }
  fs::remove(path);
}

TEST(OnnxImport, MultiNodeTranslationsNameTheirExtraNodesAfterTheOnnxNode) {
  OnnxBuilder b(13);
  b.input("x", {"N", "4"});
  b.input("labels", {"N"}, onnx::TensorProto_DataType_INT64);
  b.initializer("fc.weight", {3, 4}, iota(12));
  b.initializer("fc.bias", {3}, {0.1f, 0.2f, 0.3f});
  b.initializer("class_weight", {3}, {1.f, 2.f, 0.5f});
  OnnxBuilder::attr_int(b.node("Gemm", {"x", "fc.weight", "fc.bias"}, {"logits"}, "fc"), "transB", 1);  // PyTorch's Linear
  auto* sce = b.node("SoftmaxCrossEntropyLoss", {"logits", "labels", "class_weight"}, {"loss"}, "criterion");
  auto* r = sce->add_attribute();
  r->set_name("reduction");
  r->set_type(onnx::AttributeProto_AttributeType_STRING);
  r->set_s("sum");
  b.output("loss");
  const Model m = b.import({.batch = 2});
  std::vector<std::pair<std::string, std::string>> nodes;
  for (const Node& n : m.graph.nodes()) nodes.emplace_back(n.name, n.op);
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"fc/matmul", "matmul"}, {"fc", "add"}, {"criterion/log_softmax", "log_softmax"}, {"criterion", "nll_loss"}};
  EXPECT_EQ(nodes, expected);
  EXPECT_EQ(m.graph.value(m.graph.at("logits")).producer, 1);  // the last node carries the ONNX output name
  ASSERT_NE(m.graph.loss(), kNoValue);
  EXPECT_EQ(m.graph.value(m.graph.loss()).name, "loss");
  // The plain Gemm (no transposes, alpha = beta = 1, bias [M]) is dagrad's dense.
  OnnxBuilder plain(13);
  plain.input("x", {"N", "4"});
  plain.initializer("w", {4, 3}, iota(12));
  plain.initializer("b", {3}, {0.f, 0.f, 0.f});
  plain.node("Gemm", {"x", "w", "b"}, {"y"}, "dense");
  plain.output("y");
  const Model d = plain.import();
  ASSERT_EQ(d.graph.nodes().size(), 1u);
  EXPECT_EQ(d.graph.nodes()[0].op, "dense");
}

TEST(OnnxImport, BoolTrainingModeFlagsAreReadAtImportTime) {
  // PyTorch's training export of a model whose dropout has p = 0: Dropout(x, 0.0, true).
  auto model = [](float ratio) {
    OnnxBuilder b(13);
    b.input("x", {"2", "3"});
    b.initializer("ratio", {}, {ratio});
    auto* flag = b.node("Constant", {}, {"train"}, "flag");
    auto* a = flag->add_attribute();
    a->set_name("value");
    a->set_type(onnx::AttributeProto_AttributeType_TENSOR);
    a->mutable_t()->set_data_type(onnx::TensorProto_DataType_BOOL);
    a->mutable_t()->add_int32_data(1);
    b.node("Dropout", {"x", "ratio", "train"}, {"y"}, "drop");
    b.output("y");
    return b;
  };
  const Model m = model(0.f).import();
  ASSERT_EQ(m.graph.nodes().size(), 1u);
  EXPECT_EQ(m.graph.nodes()[0].name, "drop");
  EXPECT_NE(import_error(model(0.5f)).find("random and not supported"), std::string::npos) << import_error(model(0.5f));
}
