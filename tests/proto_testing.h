#pragma once
// Shared by the proto_*_test.cc files: small models built from the elementwise ops, and
// comparisons of graphs and models that report the first difference.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "graph/model.h"
#include "graph/op.h"
#include "ops/ops.h"
#include "proto/model_file.h"
#include "runtime/runtime.h"

namespace dagrad::testing {

// x f32[2,3] (input) * w (parameter) + c (constant, broadcast) -> relu -> * s (state) -> sum = loss.
inline Model small_model(std::uint64_t seed = 7) {
  Model model;
  Graph& g = model.graph;
  Value x = g.input("x", {DType::f32, {2, 3}});
  Value w = g.parameter("w", {DType::f32, {2, 3}}, {.kind = "he_normal", .fan_in = 3, .seed = seed});
  Value c = g.constant("c", Tensor::from<float>({3}, {0.5f, -0.25f, 1.0f}));
  Value s = g.state("s", {DType::f32, {3}}, {.kind = "ones"});
  Value h = ops::relu(ops::add(ops::mul(x, w), ops::broadcast_to(c, {2, 3})));
  h.graph().mark_output(h);
  Value y = ops::scale(ops::mul(h, ops::broadcast_to(s, {2, 3})), 0.5);
  g.set_loss(ops::reduce_sum(y, {0, 1}));
  TensorMap init = runtime::initialize_parameters(g);
  for (auto& [name, tensor] : init) {
    if (g.value(g.at(name)).kind == ValueKind::parameter) model.parameters.emplace(name, std::move(tensor));
    else model.state.emplace(name, std::move(tensor));
  }
  model.metadata["model"] = "small";
  return model;
}

// Splits runtime::initialize_parameters into the model's parameters and state.
inline void initialize(Model& model) {
  for (auto& [name, tensor] : runtime::initialize_parameters(model.graph)) {
    if (model.graph.value(model.graph.at(name)).kind == ValueKind::parameter)
      model.parameters.insert_or_assign(name, std::move(tensor));
    else
      model.state.insert_or_assign(name, std::move(tensor));
  }
}

inline bool same_initializer(const Initializer& a, const Initializer& b) {
  return a.kind == b.kind && a.value == b.value && a.fan_in == b.fan_in && a.seed == b.seed;
}

inline void expect_same_graph(const Graph& a, const Graph& b) {
  ASSERT_EQ(a.values().size(), b.values().size());
  for (std::size_t i = 0; i < a.values().size(); ++i) {
    const ValueInfo &va = a.values()[i], &vb = b.values()[i];
    SCOPED_TRACE("value " + std::to_string(i) + " '" + va.name + "'");
    EXPECT_EQ(va.name, vb.name);
    EXPECT_EQ(va.type, vb.type);
    EXPECT_EQ(va.kind, vb.kind);
    EXPECT_EQ(va.producer, vb.producer);
    EXPECT_EQ(va.output_index, vb.output_index);
    if (va.kind == ValueKind::parameter || va.kind == ValueKind::state) {
      EXPECT_TRUE(same_initializer(va.init, vb.init));
    }
    if (va.kind == ValueKind::constant) {
      ASSERT_TRUE(va.constant && vb.constant);
      EXPECT_TRUE(bitwise_equal(*va.constant, *vb.constant));
    }
  }
  ASSERT_EQ(a.nodes().size(), b.nodes().size());
  for (std::size_t i = 0; i < a.nodes().size(); ++i) {
    const Node &na = a.nodes()[i], &nb = b.nodes()[i];
    SCOPED_TRACE("node " + std::to_string(i) + " '" + na.name + "'");
    EXPECT_EQ(na.name, nb.name);
    EXPECT_EQ(na.op, nb.op);
    EXPECT_EQ(na.op_version, nb.op_version);
    EXPECT_EQ(na.attrs, nb.attrs);
    EXPECT_EQ(na.inputs, nb.inputs);
    EXPECT_EQ(na.outputs, nb.outputs);
    EXPECT_EQ(na.backward, nb.backward);
  }
  EXPECT_EQ(a.outputs(), b.outputs());
  EXPECT_EQ(a.loss(), b.loss());
  EXPECT_EQ(a.state_updates(), b.state_updates());
  EXPECT_EQ(a.gradients(), b.gradients());
}

inline void expect_same_tensors(const TensorMap& a, const TensorMap& b) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, tensor] : a) {
    auto it = b.find(name);
    ASSERT_NE(it, b.end()) << name;
    EXPECT_TRUE(bitwise_equal(tensor, it->second)) << name;
  }
}

inline void expect_same_model(const Model& a, const Model& b) {
  expect_same_graph(a.graph, b.graph);
  expect_same_tensors(a.parameters, b.parameters);
  expect_same_tensors(a.state, b.state);
  EXPECT_EQ(a.metadata, b.metadata);
  ASSERT_EQ(a.training.has_value(), b.training.has_value());
  if (a.training) {
    EXPECT_EQ(a.training->optimizer, b.training->optimizer);
    EXPECT_EQ(a.training->hyperparameters, b.training->hyperparameters);
    expect_same_tensors(a.training->buffers, b.training->buffers);
    EXPECT_EQ(a.training->step, b.training->step);
    EXPECT_EQ(a.training->epoch, b.training->epoch);
    EXPECT_EQ(a.training->rng_seed, b.training->rng_seed);
    EXPECT_EQ(a.training->rng_state, b.training->rng_state);
  }
}

// A fresh, empty folder under the build tree.
inline std::string scratch_dir(const std::string& name) {
  std::filesystem::path dir = std::filesystem::path(DAGRAD_BINARY_DIR) / "proto_test_files" / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

}  // namespace dagrad::testing
