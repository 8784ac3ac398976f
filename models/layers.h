#pragma once
// Layers: the whiteboard DSL. Each layer creates its parameters (named from the graph's scopes,
// filled by seeded initializers) and wires them with the raw ops of ops/ops.h.
//
//   Value y = relu(batch_norm(b, conv2d(b, x, 64, {.kernel = 3, .stride = 2, .pad = 1})));
//
// A layer takes the next free name of its kind in the current scope ("conv1", "conv2", "bn1",
// "fc1", ...), so "stage1.block0.conv1.w" or "stage1.block0.bn1.gamma"; open a Scope to group them.
#include <algorithm>
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
  // Zoo models built at a reduced size (float64 gradient checks) divide their channel counts by
  // this; width() applies it.
  std::int64_t width_divisor = 1;

  // channels / width_divisor, at least 1.
  std::int64_t width(std::int64_t channels) const { return std::max<std::int64_t>(1, channels / width_divisor); }

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
  std::int64_t groups = 1;    // groups == channels: depthwise
  std::int64_t dilation = 1;
};

// x [N,C,H,W] -> [N,filters,H',W']; weight [filters,C/groups,k,k] He-normal (fan_in C/groups*k*k),
// bias zeros.
Value conv2d(Builder& b, Value x, std::int64_t filters, ConvOptions options = {});
// A depthwise conv2d: one filter per channel (times multiplier), groups == channels.
Value depthwise_conv2d(Builder& b, Value x, ConvOptions options = {}, std::int64_t multiplier = 1);
// x [N,C,L] -> [N,filters,L']; weight [filters,C/groups,k] He-normal (fan_in C/groups*k), bias zeros.
Value conv1d(Builder& b, Value x, std::int64_t filters, ConvOptions options = {});
// x [N,C,H,W] -> [N,filters,(H-1)*stride-2*pad+dilation*(k-1)+output_padding+1,...] (upsampling
// decoders); weight [C,filters/groups,k,k] (PyTorch's layout) He-normal with fan_in C/groups*k*k.
Value conv_transpose2d(Builder& b, Value x, std::int64_t filters, ConvOptions options = {},
                       std::int64_t output_padding = 0);
// x [N,K] -> [N,units]; weight [K,units] He-normal (fan_in K), bias zeros.
Value dense(Builder& b, Value x, std::int64_t units, bool bias = true);
// Over channel axis 1 of [N,C] or [N,C,H,W]: gamma ones, beta zeros (parameters), running mean
// zeros and running variance ones (state, updated after each run).
Value batch_norm(Builder& b, Value x, double momentum = 0.1, double eps = 1e-5);
Value dropout(Builder& b, Value x, double p);
// min(max(x, 0), 6), MobileNet's activation: the op clip(0, 6).
Value relu6(Value x);

// Softmax cross-entropy of logits [N,K] against labels i64 [N]; marks the logits as an output and
// makes the mean loss the graph's loss. Returns the loss.
Value classifier_loss(Builder& b, Value logits, Value labels);

}  // namespace dagrad::models
