// ONNX export: every zoo model (small configurations) exported at opset 13 and 17 in inference
// and training form passes ONNX's full check, re-imports and runs bitwise equal to the original
// (outputs, loss, batch-norm running statistics, parameter gradients), with parameter and node
// names kept; the symbolic batch re-imports at another batch; and the error rows.
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <random>
#include <set>
#include <unistd.h>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "autodiff/grad.h"
#include "interop/onnx.h"
#include "models/zoo.h"
#include "onnx/onnx_pb.h"
#include "runtime/runtime.h"

namespace dagrad::interop {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// Small configurations of every zoo model: the reducible ones at width/8, the others on small
// images (AlexNet needs 64x64 to keep its three 3x3/2 pools non-empty).
models::ModelOptions small_options(const std::string& name, std::int64_t batch, bool training) {
  models::ModelOptions o{.batch = batch, .seed = 11, .training = training, .classes = 5};
  const models::ZooEntry& entry = models::zoo_entry(name);
  if (entry.reducible) o.width_divisor = 8;
  if (entry.input_shape.at(1) >= 64) o.input_shape = {entry.input_shape[0], name == "alexnet" ? 64 : 32, name == "alexnet" ? 64 : 32};
  return o;
}

Model make_model(const std::string& name, std::int64_t batch, bool training) {
  Model m;
  m.graph = models::build_model(name, small_options(name, batch, training));
  m.metadata["model"] = name;
  // Parameters and state drawn at random (not the initializers' ones and zeros), so that running
  // statistics and biases take part in the comparison.
  std::mt19937_64 rng(5);
  std::normal_distribution<double> normal(0, 0.3);
  std::uniform_real_distribution<double> positive(0.5, 1.5);
  for (ValueId id : m.graph.values_of_kind(ValueKind::parameter)) {
    const ValueInfo& v = m.graph.value(id);
    Tensor t = initialize(v.init, v.type);
    if (v.init.kind == "zeros" || v.init.kind == "ones")
      for (float& x : t.data<float>()) x = static_cast<float>(x + normal(rng));
    m.parameters.emplace(v.name, std::move(t));
  }
  for (ValueId id : m.graph.values_of_kind(ValueKind::state)) {
    const ValueInfo& v = m.graph.value(id);
    Tensor t(v.type.dtype, v.type.shape);
    const bool variance = v.name.ends_with("running_var");
    for (float& x : t.data<float>()) x = static_cast<float>(variance ? positive(rng) : normal(rng));
    m.state.emplace(v.name, std::move(t));
  }
  return m;
}

// The model with its batch norms updating the running variance with the population variance, as
// ONNX does (dagrad's default is PyTorch's unbiased rule, which ONNX has no attribute for: such a
// model exports anyway, and its re-import follows ONNX). The graph is rebuilt node by node.
Model with_population_running_var(const Model& model) {
  const Graph& g = model.graph;
  Model out = model;
  out.graph = Graph();
  Graph& r = out.graph;
  std::vector<ValueId> map(g.values().size(), kNoValue);
  for (std::size_t id = 0; id < g.values().size(); ++id) {
    const ValueInfo& v = g.values()[id];
    switch (v.kind) {
      case ValueKind::input: map[id] = r.input(v.name, v.type).id(); break;
      case ValueKind::parameter: map[id] = r.parameter(v.name, v.type, v.init).id(); break;
      case ValueKind::state: map[id] = r.state(v.name, v.type, v.init).id(); break;
      case ValueKind::constant: map[id] = r.constant(v.name, *v.constant).id(); break;
      case ValueKind::result: break;
    }
  }
  for (const Node& n : g.nodes()) {
    AttrMap attrs = n.attrs;
    if (n.op == "batch_norm") attrs["running_var_unbiased"] = false;
    std::vector<ValueId> inputs;
    for (ValueId id : n.inputs) inputs.push_back(id == kNoValue ? kNoValue : map.at(id));
    const std::vector<ValueId> outs = r.add_node_ids(n.op, inputs, attrs, n.name, n.backward);
    for (std::size_t i = 0; i < outs.size(); ++i) {
      map.at(n.outputs[i]) = outs[i];
      if (r.value(outs[i]).name != g.value(n.outputs[i]).name) r.rename_value(outs[i], g.value(n.outputs[i]).name);
    }
  }
  for (ValueId id : g.outputs()) r.mark_output(r.handle(map[id]));
  if (g.loss() != kNoValue) r.set_loss(r.handle(map[g.loss()]));
  for (auto [state, next] : g.state_updates()) r.add_state_update(map[state], map[next]);
  return out;
}

TensorMap random_inputs(const Graph& g, std::uint64_t seed) {
  TensorMap inputs;
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0, 1);
  const std::int64_t classes = g.value(g.at("logits")).type.shape.at(1);
  for (ValueId id : g.values_of_kind(ValueKind::input)) {
    const ValueInfo& v = g.value(id);
    Tensor t(v.type.dtype, v.type.shape);
    if (v.type.dtype == DType::i64) {
      for (std::int64_t& x : t.data<std::int64_t>()) x = static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(classes));
    } else if (v.type.dtype == DType::f64) {
      for (double& x : t.data<double>()) x = normal(rng);
    } else {
      for (float& x : t.data<float>()) x = static_cast<float>(normal(rng));
    }
    inputs.emplace(v.name, std::move(t));
  }
  return inputs;
}

// Every fetched value of a run (outputs, loss, state updates, gradients) by name.
TensorMap run_named(const Graph& g, const Model& model, const TensorMap& inputs) {
  runtime::Plan plan = runtime::compile(g, {.threads = 2});
  runtime::RunResult r = runtime::run(plan, runtime::feeds_from({&inputs, &model.parameters, &model.state}), 3);
  TensorMap named;
  for (ValueId id : plan.fetches()) named.emplace(g.value(id).name, r.at(id));
  // State updates and gradients under the name of what they update or differentiate.
  for (auto [state, next] : g.state_updates()) named.emplace("next/" + g.value(state).name, r.at(next));
  for (auto [wrt, grad] : g.gradients()) named.emplace("grad/" + g.value(wrt).name, r.at(grad));
  return named;
}

void expect_bitwise(const TensorMap& original, const TensorMap& imported, const std::vector<std::string>& names) {
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(original.count(name)) << "original run lacks " << name;
    ASSERT_TRUE(imported.count(name)) << "imported run lacks " << name;
    const Tensor& a = original.at(name);
    const Tensor& b = imported.at(name);
    ASSERT_EQ(a.shape(), b.shape());
    if (bitwise_equal(a, b)) continue;
    double worst = 0;
    std::int64_t at = 0;
    for (std::int64_t i = 0; i < a.numel(); ++i)
      if (std::abs(a.at(i) - b.at(i)) > worst) worst = std::abs(a.at(i) - b.at(i)), at = i;
    ADD_FAILURE() << name << " differs: worst |diff| " << worst << " at " << at << " (" << a.at(at) << " vs " << b.at(at) << ")";
  }
}

struct RoundTrip {
  std::string model;
  int opset;
  bool training;
};
std::string row_name(const ::testing::TestParamInfo<RoundTrip>& info) {
  return info.param.model + "_opset" + std::to_string(info.param.opset) + (info.param.training ? "_training" : "_inference");
}

class OnnxExportRoundTrip : public ::testing::TestWithParam<RoundTrip> {};

TEST_P(OnnxExportRoundTrip, ChecksReimportsAndRunsBitwiseEqual) {
  const RoundTrip& row = GetParam();
  const Model original = with_population_running_var(make_model(row.model, 2, row.training));
  const std::string bytes = export_onnx_bytes(original, {.opset = row.opset});

  onnx::ModelProto proto;
  ASSERT_TRUE(proto.ParseFromString(bytes));
  EXPECT_EQ(proto.opset_import(0).version(), row.opset);
  EXPECT_EQ(proto.ir_version(), row.opset == 17 ? 8 : 7);
  EXPECT_EQ(proto.producer_name(), "dagrad");
  EXPECT_EQ(proto.graph().input(0).type().tensor_type().shape().dim(0).dim_param(), "N");
  std::set<std::string> onnx_nodes;
  for (const auto& n : proto.graph().node()) onnx_nodes.insert(n.name());
  for (const Node& n : original.graph.nodes())
    if (!n.backward) {
      EXPECT_TRUE(onnx_nodes.count(n.name)) << "ONNX node for " << n.name;
    }

  const Model imported = import_onnx_bytes(bytes, row.model + ".onnx", "", {.batch = 2, .training = row.training});
  // Names kept: every parameter and state tensor, with its value.
  for (const auto& [name, tensor] : original.parameters) {
    ASSERT_TRUE(imported.parameters.count(name)) << "parameter " << name;
    EXPECT_TRUE(bitwise_equal(tensor, imported.parameters.at(name))) << name;
  }
  for (const auto& [name, tensor] : original.state) {
    ASSERT_TRUE(imported.state.count(name)) << "state " << name;
    EXPECT_TRUE(bitwise_equal(tensor, imported.state.at(name))) << name;
  }
  std::set<std::string> imported_nodes;
  for (const Node& n : imported.graph.nodes()) imported_nodes.insert(n.name);
  // Attributes ONNX holds as float32 (batch norm's eps 1e-5 and momentum 0.9 = 1 - 0.1, dropout's
  // ratio) come back as dagrad's doubles: a widened float would change the last bits.
  for (const Node& n : original.graph.nodes()) {
    if (n.backward || (n.op != "batch_norm" && n.op != "dropout")) continue;
    const auto it = std::find_if(imported.graph.nodes().begin(), imported.graph.nodes().end(),
                                 [&](const Node& m) { return m.name == n.name; });
    if (it == imported.graph.nodes().end()) continue;  // reported above
    for (const char* attr : {"eps", "momentum", "p"}) {
      if (!n.attrs.count(attr)) continue;
      EXPECT_EQ(std::get<double>(it->attrs.at(attr)), std::get<double>(n.attrs.at(attr)))
          << n.name << " " << attr << " " << std::setprecision(17) << std::get<double>(it->attrs.at(attr));
    }
  }
  for (const Node& n : original.graph.nodes())
    if (!n.backward) {
      EXPECT_TRUE(imported_nodes.count(n.name)) << "imported node " << n.name;
    }
  ASSERT_NE(imported.graph.loss(), kNoValue);
  EXPECT_EQ(imported.graph.value(imported.graph.loss()).name, original.graph.value(original.graph.loss()).name);

  const TensorMap inputs = random_inputs(original.graph, 17);
  std::vector<std::string> compared = {"logits", original.graph.value(original.graph.loss()).name};
  if (row.training)
    for (auto [state, next] : original.graph.state_updates()) compared.push_back("next/" + original.graph.value(state).name);
  expect_bitwise(run_named(original.graph, original, inputs), run_named(imported.graph, imported, inputs), compared);

  // Gradients: autodiff of both graphs gives the same parameter gradients.
  if (row.training) {
    const Graph original_grads = autodiff::grad_parameters(original.graph).graph;
    const Graph imported_grads = autodiff::grad_parameters(imported.graph).graph;
    std::vector<std::string> grads;
    for (const auto& [name, tensor] : original.parameters) grads.push_back("grad/" + name);
    expect_bitwise(run_named(original_grads, original, inputs), run_named(imported_grads, imported, inputs), grads);
  }
}

std::vector<RoundTrip> all_rows() {
  std::vector<RoundTrip> rows;
  for (const models::ZooEntry& entry : models::zoo_models())
    for (int opset : {13, 17})
      for (bool training : {false, true}) rows.push_back({entry.name, opset, training});
  return rows;
}
INSTANTIATE_TEST_SUITE_P(OnnxZoo, OnnxExportRoundTrip, ::testing::ValuesIn(all_rows()), row_name);

// Every op with an ONNX form that the zoo does not use, with non-default attributes, round-trips
// bitwise at both opsets.
TEST(OnnxExport, EveryExportableOpRoundTripsBitwise) {
  Model m;
  m.metadata["model"] = "ops";
  Graph& g = m.graph;
  std::uint64_t seed = 1;
  auto param = [&](const std::string& name, Shape shape) {
    Value v = g.parameter(name, {DType::f32, shape}, {.kind = "uniform", .value = 0.5, .seed = seed++});
    m.parameters.emplace(name, initialize(g.value(v.id()).init, g.value(v.id()).type));
    return v;
  };
  int count = 0;
  auto op = [&](const std::string& name, std::vector<Value> inputs, AttrMap attrs = {}) {
    std::vector<Value> outs = g.add_node(name, std::move(inputs), std::move(attrs), "layer" + std::to_string(count++) + "." + name);
    g.mark_output(outs[0]);
    return outs;
  };
  auto op1 = [&](const std::string& name, std::vector<Value> inputs, AttrMap attrs = {}) { return op(name, std::move(inputs), std::move(attrs))[0]; };
  Value x = g.input("x", {DType::f32, {2, 3, 8, 8}});
  Value labels = g.input("labels", {DType::i64, {2}});
  Value c = op1("conv2d", {x, param("c.w", {4, 3, 3, 3}), param("c.b", {4})},
                {{"stride", Shape{2, 1}}, {"pad", Shape{1, 0, 2, 1}}, {"dilation", Shape{1, 2}}});
  op1("conv_transpose2d", {c, param("ct.w", {4, 2, 3, 3})}, {{"stride", Shape{2, 2}}, {"pad", Shape{1, 1}}, {"output_padding", Shape{1, 1}}});
  op1("conv2d", {x, param("g.w", {6, 1, 3, 3})}, {{"groups", std::int64_t{3}}, {"pad", Shape{1, 1}}});
  Value x3 = op1("reshape", {x}, {{"shape", Shape{2, 3, 64}}});
  op1("conv1d", {x3, param("c1.w", {5, 3, 3})}, {{"stride", std::int64_t{2}}, {"pad", std::int64_t{1}}, {"pad_end", std::int64_t{2}}});
  op1("max_pool1d", {x3}, {{"window", std::int64_t{3}}, {"stride", std::int64_t{2}}, {"pad", std::int64_t{1}}, {"dilation", std::int64_t{2}}});
  op1("leaky_relu", {x}, {{"alpha", 0.2}});
  op1("elu", {x}, {{"alpha", 0.5}});
  const std::string hardswish = op1("hardswish", {x}).name();
  op1("silu", {x});
  op1("clip", {x}, {{"min", -0.5}, {"max", 0.7}});
  Value scaled = op1("scale", {x}, {{"factor", 0.3}});
  op1("div", {op1("sub", {x, scaled}), op1("exp", {op1("neg", {scaled})})});
  op1("sqrt", {op1("exp", {x})});
  op1("log", {op1("sigmoid", {x})});
  op1("tanh", {x});
  op1("avg_pool2d", {x}, {{"window", Shape{3, 3}}, {"stride", Shape{2, 2}}, {"pad", Shape{1, 1}}, {"ceil_mode", true}, {"count_include_pad", false}});
  op1("max_pool2d_with_indices", {x}, {{"window", Shape{2, 3}}, {"stride", Shape{2, 1}}, {"pad", Shape{1, 1}}, {"dilation", Shape{2, 1}}});
  op1("global_max_pool", {x});
  op1("adaptive_avg_pool2d", {x}, {{"output_size", Shape{4, 2}}});
  op1("adaptive_avg_pool2d", {x}, {{"output_size", Shape{8, 8}}});
  op1("transpose", {x}, {{"perm", Shape{0, 2, 3, 1}}});
  op1("pad", {x}, {{"pads", Shape{0, 0, 1, 2, 0, 0, 2, 1}}, {"mode", std::string("reflect")}});
  op1("pad", {x}, {{"pads", Shape{0, 1, 1, 0, 0, 0, -1, 2}}, {"value", 0.5}});
  op1("pad", {x}, {{"pads", Shape{0, 0, 3, 0, 0, 0, 0, 3}}, {"mode", std::string("edge")}});
  op1("slice", {x}, {{"starts", Shape{1, 0}}, {"ends", Shape{3, 7}}, {"axes", Shape{1, 3}}, {"steps", Shape{1, 2}}});
  std::vector<Value> pieces = op("split", {x}, {{"sizes", Shape{1, 2}}, {"axis", std::int64_t{1}}});
  g.mark_output(pieces[1]);
  op1("concat", {pieces[1], pieces[0], x}, {{"axis", std::int64_t{1}}});
  op1("reduce_mean", {x}, {{"axes", Shape{2, 3}}, {"keepdims", true}});
  op1("reduce_max", {x}, {{"axes", Shape{-1}}});
  op1("reduce_sum", {x}, {{"axes", Shape{1}}});
  op1("reduce_mean", {x}, {{"axes", Shape{}}});
  op1("softmax", {x}, {{"axis", std::int64_t{1}}});
  Value flat = op1("flatten", {x});
  op1("log_softmax", {flat});
  op1("matmul", {flat, param("mm.w", {192, 10})});
  op1("matmul", {flat, param("mmt.w", {10, 192})}, {{"transpose_b", true}});
  op1("matmul", {x, x}, {{"transpose_a", true}});
  Value bn = g.add_node("batch_norm", {flat, param("bn.gamma", {192}), param("bn.beta", {192}), g.state("bn.mean", {DType::f32, {192}}, {}),
                                       g.state("bn.var", {DType::f32, {192}}, {.kind = "ones"})},
                        {{"training", false}, {"eps", static_cast<double>(1e-3f)}})[0];
  m.state.emplace("bn.mean", Tensor::from<float>({192}, std::vector<float>(192, 0.25f)));
  m.state.emplace("bn.var", Tensor::from<float>({192}, std::vector<float>(192, 2.0f)));
  Value dropped = g.add_node("dropout", {bn}, {{"p", 0.25}, {"training", false}})[0];
  Value logits = op1("dense", {dropped, param("fc.w", {192, 7})});
  g.set_loss(g.add_node("softmax_cross_entropy", {logits, labels}, {{"ignore_index", std::int64_t{1}}})[0]);

  // log_softmax + nll_loss: what the importer makes of a SoftmaxCrossEntropyLoss with weights.
  Value log_probs = op1("log_softmax", {logits}, {{"axis", std::int64_t{1}}});
  op1("nll_loss", {log_probs, labels, param("class_weight", {7})}, {{"reduction", std::string("sum")}, {"ignore_index", std::int64_t{4}}});
  op1("nll_loss", {log_probs, labels}, {{"reduction", std::string("none")}});

  TensorMap inputs;
  inputs.emplace("x", Tensor(DType::f32, {2, 3, 8, 8}));
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<float> uniform(-2, 2);
  for (float& v : inputs.at("x").data<float>()) v = uniform(rng);
  inputs.emplace("labels", Tensor::from<std::int64_t>({2}, {1, 4}));
  std::vector<std::string> compared = {g.value(g.loss()).name};
  for (ValueId id : g.outputs()) compared.push_back(g.value(id).name);
  const TensorMap expected = run_named(g, m, inputs);
  for (int opset : {13, 17}) {
    SCOPED_TRACE(opset);
    const Model imported = import_onnx_bytes(export_onnx_bytes(m, {.opset = opset}), "ops.onnx", "", {.batch = 2});
    const TensorMap got = run_named(imported.graph, imported, inputs);
    if (opset >= 14) {
      expect_bitwise(expected, got, compared);
      continue;
    }
    // Opset 13 has no HardSwish: x * HardSigmoid(x) is the same function, rounded in two steps.
    std::vector<std::string> exact = compared;
    std::erase(exact, hardswish);
    expect_bitwise(expected, got, exact);
    const Tensor &a = expected.at(hardswish), &b = got.at(hardswish);
    for (std::int64_t i = 0; i < a.numel(); ++i) EXPECT_NEAR(a.at(i), b.at(i), 1e-6 * (1 + std::abs(a.at(i)))) << i;
  }
}

// Ops whose ONNX form the importer does not map back to them (Expand, ReduceSum + Reshape) and
// the plain max_pool2d op still export into files that pass the full check.
TEST(OnnxExport, ExportOnlyOpsPassTheChecker) {
  Model m;
  Graph& g = m.graph;
  Value x = g.input("x", {DType::f32, {2, 3, 4, 4}});
  Value mean = g.add_node("reduce_mean", {x}, {{"axes", Shape{2, 3}}, {"keepdims", true}}, "mean")[0];
  g.mark_output(g.add_node("broadcast_to", {mean}, {{"shape", Shape{2, 3, 4, 4}}}, "expand")[0]);
  g.mark_output(g.add_node("sum_to", {x}, {{"shape", Shape{3, 1, 4}}}, "sum_rows")[0]);
  g.mark_output(g.add_node("sum_to", {x}, {{"shape", Shape{2, 1, 4, 1}}}, "sum_batched")[0]);
  g.mark_output(g.add_node("max_pool2d", {x}, {{"window", Shape{2, 2}}, {"stride", Shape{2, 2}}}, "pool")[0]);
  for (int opset : {13, 17}) {
    onnx::ModelProto proto;
    ASSERT_TRUE(proto.ParseFromString(export_onnx_bytes(m, {.opset = opset})));
    std::vector<std::string> types;
    for (const auto& n : proto.graph().node()) types.push_back(n.op_type());
    EXPECT_THAT(types, ::testing::UnorderedElementsAre("ReduceMean", "Expand", "ReduceSum", "Reshape", "ReduceSum", "Reshape", "MaxPool"));
    // The batch stays symbolic through Expand and the Reshape after ReduceSum.
    EXPECT_EQ(proto.graph().output(0).type().tensor_type().shape().dim(0).dim_param(), "N");
    EXPECT_EQ(proto.graph().output(2).type().tensor_type().shape().dim(0).dim_param(), "N");
  }
}

// The symbolic batch: a file exported at batch 2 imports at batch 3 and computes what the model
// built at batch 3 computes.
TEST(OnnxExport, SymbolicBatchReimportsAtAnotherBatch) {
  for (const char* name : {"resnet_tiny", "squeezenet1_1", "densenet121"}) {
    SCOPED_TRACE(name);
    const Model at2 = make_model(name, 2, false);
    Model at3 = make_model(name, 3, false);
    at3.parameters = at2.parameters;
    at3.state = at2.state;
    const Model imported = import_onnx_bytes(export_onnx_bytes(at2), "m.onnx", "", {.batch = 3});
    const TensorMap inputs = random_inputs(at3.graph, 23);
    EXPECT_EQ(imported.graph.value(imported.graph.at("logits")).type.shape, (Shape{3, 5}));
    expect_bitwise(run_named(at3.graph, at3, inputs), run_named(imported.graph, imported, inputs), {"logits", "loss"});
  }
}

// A float64 model exports as DOUBLE tensors and comes back the same.
TEST(OnnxExport, Float64ModelRoundTrips) {
  for (bool training : {false, true}) {
    Model m;
    m.graph = models::build_model("resnet_tiny", {.batch = 2, .dtype = DType::f64, .training = training});
    m.graph = with_population_running_var(m).graph;
    for (auto& [name, tensor] : runtime::initialize_parameters(m.graph))
      (m.graph.value(m.graph.at(name)).kind == ValueKind::parameter ? m.parameters : m.state).emplace(name, tensor);
    onnx::ModelProto proto;
    const std::string bytes = export_onnx_bytes(m, {.opset = 13});
    ASSERT_TRUE(proto.ParseFromString(bytes));
    EXPECT_EQ(proto.graph().initializer(0).data_type(), onnx::TensorProto_DataType_DOUBLE);
    const Model imported = import_onnx_bytes(bytes, "tiny.onnx", "", {.batch = 2, .training = training});
    const TensorMap inputs = random_inputs(m.graph, 31);
    std::vector<std::string> compared = {"logits", "loss"};
    if (training)
      for (auto [state, next] : m.graph.state_updates()) compared.push_back("next/" + m.graph.value(state).name);
    expect_bitwise(run_named(m.graph, m, inputs), run_named(imported.graph, imported, inputs), compared);
  }
}

TEST(OnnxExport, FixedBatchWhenNotSymbolic) {
  const Model m = make_model("lenet", 2, false);
  onnx::ModelProto proto;
  ASSERT_TRUE(proto.ParseFromString(export_onnx_bytes(m, {.opset = 17, .symbolic_batch = false})));
  EXPECT_EQ(proto.graph().input(0).type().tensor_type().shape().dim(0).dim_value(), 2);
  EXPECT_EQ(proto.graph().output(0).type().tensor_type().shape().dim(0).dim_value(), 2);
}

TEST(OnnxExport, GradientsAndOptimizerStateAreNotExported) {
  Model m = make_model("resnet_tiny", 2, true);
  m.graph = autodiff::grad_parameters(m.graph).graph;
  const Model forward_only = make_model("resnet_tiny", 2, true);
  onnx::ModelProto with_grads, plain;
  ASSERT_TRUE(with_grads.ParseFromString(export_onnx_bytes(m)));
  ASSERT_TRUE(plain.ParseFromString(export_onnx_bytes(forward_only)));
  EXPECT_EQ(with_grads.graph().node_size(), plain.graph().node_size());
  EXPECT_EQ(with_grads.graph().initializer_size(), plain.graph().initializer_size());
  for (const auto& n : with_grads.graph().node()) EXPECT_FALSE(n.name().starts_with("grad")) << n.name();
}

TEST(OnnxExport, OpsWithoutAnOnnxFormAreListedTogether) {
  Model m;
  Value x = m.graph.input("x", {DType::f32, {2, 4}});
  Value labels = m.graph.input("labels", {DType::i64, {2}});
  Value y = m.graph.add_node("relu_grad", {x, x}, {}, "odd_grad")[0];
  Value z = m.graph.add_node("adaptive_avg_pool2d", {m.graph.add_node("reshape", {y}, {{"shape", Shape{2, 1, 2, 2}}})[0]},
                             {{"output_size", Shape{3, 3}}}, "upsample")[0];
  Value loss = m.graph.add_node("softmax_cross_entropy", {m.graph.add_node("flatten", {z})[0], labels},
                                {{"label_smoothing", 0.1}}, "smoothed")[0];
  m.graph.mark_output(z);
  m.graph.set_loss(loss);
  try {
    export_onnx_bytes(m);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("3 node(s) have no ONNX form"));
    EXPECT_THAT(e.what(), HasSubstr("node 'odd_grad' (op 'relu_grad')"));
    EXPECT_THAT(e.what(), HasSubstr("node 'upsample' (op 'adaptive_avg_pool2d'): output_size [3,3] does not divide"));
    EXPECT_THAT(e.what(), HasSubstr("node 'smoothed' (op 'softmax_cross_entropy'): label_smoothing 0.1"));
  }
}

TEST(OnnxExport, OnlyOpsets13And17) {
  const Model m = make_model("lenet", 2, false);
  for (int opset : {12, 18, 0}) {
    try {
      export_onnx_bytes(m, {.opset = opset});
      FAIL() << "opset " << opset << " accepted";
    } catch (const Error& e) {
      EXPECT_THAT(e.what(), HasSubstr("model 'lenet': opset " + std::to_string(opset) +
                                      " is not supported; dagrad exports opset 13 or 17"));
    }
  }
}

TEST(OnnxExport, WritesAFileTheCheckerAccepts) {
  const fs::path dir = fs::temp_directory_path() / ("dagrad_onnx_export_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const Model m = make_model("mobilenet_v2", 2, false);
  const std::string path = (dir / "m.onnx").string();
  export_onnx(m, path, {.opset = 13});
  EXPECT_NO_THROW(check_onnx_file(path));
  EXPECT_TRUE(is_onnx_path(path));
  // A truncated copy and a missing file fail with the file's name.
  const std::string truncated = (dir / "cut.onnx").string();
  {
    std::ifstream in(path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() / 3);
  }
  try {
    check_onnx_file(truncated);
    FAIL() << "truncated file accepted";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("cut.onnx"));
  }
  EXPECT_THROW(check_onnx_file((dir / "absent.onnx").string()), Error);
  // Writing into a folder that does not exist fails and leaves nothing behind.
  EXPECT_THROW(export_onnx(m, (dir / "no" / "m.onnx").string()), Error);
  fs::remove_all(dir);
}

// A model ONNX's checker rejects (a dangling graph output) fails check_onnx_file with its message.
TEST(OnnxExport, CheckerFailuresNameTheFileAndTheProblem) {
  const fs::path dir = fs::temp_directory_path() / ("dagrad_onnx_check_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  onnx::ModelProto proto;
  ASSERT_TRUE(proto.ParseFromString(export_onnx_bytes(make_model("lenet", 2, false))));
  proto.mutable_graph()->mutable_node(0)->set_input(0, "nowhere");
  const std::string path = (dir / "bad.onnx").string();
  std::ofstream(path, std::ios::binary) << proto.SerializeAsString();
  try {
    check_onnx_file(path);
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("bad.onnx: ONNX checker"));
    EXPECT_THAT(e.what(), HasSubstr("nowhere"));
  }
  // An output declared with a shape that inference contradicts: the strict shape inference's error.
  ASSERT_TRUE(proto.ParseFromString(export_onnx_bytes(make_model("lenet", 2, false))));
  proto.mutable_graph()->mutable_output(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(1)->set_dim_value(11);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << proto.SerializeAsString();
  try {
    check_onnx_file(path);
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("bad.onnx: ONNX strict shape inference"));
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace dagrad::interop
