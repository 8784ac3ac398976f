#pragma once
// Layers: the whiteboard DSL. Each layer creates its parameters (named from the graph's scopes,
// filled by seeded initializers) and wires them with the raw ops of ops/ops.h.
//
//   Value y = relu(batch_norm(b, conv2d(b, x, 64, {.kernel = 3, .stride = 2, .pad = 1})));
//
// A layer takes the next free name of its kind in the current scope ("conv1", "conv2", "bn1",
// "fc1", ...), so "stage1.block0.conv1.w" or "stage1.block0.bn1.gamma"; open a Scope to group them.
#include <cstdint>
#include <map>
#include <string>

#include "graph/graph.h"
#include "ops/ops.h"

namespace dagrad::models {

struct Builder {
  Graph& graph;
  std::uint64_t seed = 0;  // every initializer and dropout seed derives from it and the value's name
  bool training = true;    // batch norm uses batch statistics, dropout drops
  DType dtype = DType::f32;
  std::map<std::string, int> layer_counts;  // per scoped kind ("stage1.conv"): layers made so far

  // The seed of the value called `name`: FNV-1a of the name mixed with the builder seed, so a
  // parameter's initial values depend only on (seed, name), not on the order of construction.
  std::uint64_t seed_for(const std::string& name) const;
  // "conv" -> "conv1", "conv2", ... within the current scope.
  std::string next_layer_name(const std::string& kind);
  // A parameter / state value named scoped(local_name) of the builder's dtype.
  Value parameter(const std::string& local_name, Shape shape, Initializer init);
  Value state(const std::string& local_name, Shape shape, Initializer init);
};

struct ConvOptions {
  std::int64_t kernel = 3;
  std::int64_t stride = 1;
  std::int64_t pad = 0;
  bool bias = false;
};

// x [N,C,H,W] -> [N,filters,H',W']; weight [filters,C,k,k] He-normal (fan_in C*k*k), bias zeros.
Value conv2d(Builder& b, Value x, std::int64_t filters, ConvOptions options = {});
// x [N,C,L] -> [N,filters,L']; weight [filters,C,k] He-normal (fan_in C*k), bias zeros.
Value conv1d(Builder& b, Value x, std::int64_t filters, ConvOptions options = {});
// x [N,K] -> [N,units]; weight [K,units] He-normal (fan_in K), bias zeros.
Value dense(Builder& b, Value x, std::int64_t units, bool bias = true);
// Over channel axis 1 of [N,C] or [N,C,H,W]: gamma ones, beta zeros (parameters), running mean
// zeros and running variance ones (state, updated after each run).
Value batch_norm(Builder& b, Value x, double momentum = 0.1, double eps = 1e-5);
Value dropout(Builder& b, Value x, double p);

// Softmax cross-entropy of logits [N,K] against labels i64 [N]; marks the logits as an output and
// makes the mean loss the graph's loss. Returns the loss.
Value classifier_loss(Builder& b, Value logits, Value labels);

}  // namespace dagrad::models
