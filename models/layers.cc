#include "models/layers.h"

#include "ops/clip.h"

namespace dagrad::models {
namespace {

std::uint64_t fnv1a(const std::string& text) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

// splitmix64's finalizer: spreads nearby builder seeds over unrelated streams.
std::uint64_t mix(std::uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

Initializer he_normal(std::int64_t fan_in) { return {.kind = "he_normal", .fan_in = fan_in}; }
Initializer zeros() { return {.kind = "zeros"}; }
Initializer ones() { return {.kind = "ones"}; }

void check_rank(const char* layer, Value x, int rank) {
  if (x.rank() != rank)
    fail(layer, ": expected a rank-", rank, " input, got '", x.name(), "' of shape ", to_string(x.shape()));
}

// The layer's groups must split both channels and filters; checked here so the error names the
// layer before a parameter of a wrong shape exists.
void check_groups(const char* layer, Value x, std::int64_t filters, std::int64_t groups) {
  if (groups < 1 || x.dim(1) % groups != 0 || filters % groups != 0)
    fail(layer, ": groups ", groups, " must be positive and divide both the ", x.dim(1), " channels of '", x.name(),
         "' and the ", filters, " filters");
}

ops::ConvOptions op_options(const ConvOptions& o, std::size_t spatial_dims) {
  return {.stride = ops::Ints(spatial_dims, o.stride),
          .pad = ops::Ints(spatial_dims, o.pad),
          .dilation = ops::Ints(spatial_dims, o.dilation),
          .groups = o.groups};
}

}  // namespace

std::uint64_t Builder::seed_for(const std::string& name) const { return mix(seed ^ mix(fnv1a(name))); }

std::string Builder::next_layer_name(const std::string& kind) {
  return kind + std::to_string(++layer_counts[graph.scoped(kind)]);
}

Value Builder::parameter(const std::string& local_name, Shape shape, Initializer init) {
  std::string name = graph.scoped(local_name);
  init.seed = seed_for(name);
  return graph.parameter(name, {dtype, std::move(shape)}, init);
}

Value Builder::state(const std::string& local_name, Shape shape, Initializer init) {
  std::string name = graph.scoped(local_name);
  init.seed = seed_for(name);
  return graph.state(name, {dtype, std::move(shape)}, init);
}

Value conv2d(Builder& b, Value x, std::int64_t filters, ConvOptions o) {
  check_rank(__func__, x, 4);  // the DSL function, named without a string
  const std::int64_t channels = x.dim(1);
  check_groups(__func__, x, filters, o.groups);
  const std::int64_t group_channels = channels / o.groups;
  Scope scope(b.graph, b.next_layer_name("conv"));
  Value w = b.parameter("w", {filters, group_channels, o.kernel, o.kernel}, he_normal(group_channels * o.kernel * o.kernel));
  Value bias = o.bias ? b.parameter("b", {filters}, zeros()) : Value{};
  return ops::conv2d(x, w, bias, op_options(o, 2));
}

Value depthwise_conv2d(Builder& b, Value x, ConvOptions o, std::int64_t multiplier) {
  check_rank(__func__, x, 4);
  if (multiplier < 1) fail(__func__, ": the channel multiplier must be at least 1, got ", multiplier);
  o.groups = x.dim(1);
  return conv2d(b, x, x.dim(1) * multiplier, o);
}

Value conv1d(Builder& b, Value x, std::int64_t filters, ConvOptions o) {
  check_rank(__func__, x, 3);  // the DSL function, named without a string
  const std::int64_t channels = x.dim(1);
  check_groups(__func__, x, filters, o.groups);
  const std::int64_t group_channels = channels / o.groups;
  Scope scope(b.graph, b.next_layer_name("conv"));
  Value w = b.parameter("w", {filters, group_channels, o.kernel}, he_normal(group_channels * o.kernel));
  Value bias = o.bias ? b.parameter("b", {filters}, zeros()) : Value{};
  return ops::conv1d(x, w, bias, op_options(o, 1));
}

Value conv_transpose2d(Builder& b, Value x, std::int64_t filters, ConvOptions o, std::int64_t output_padding) {
  check_rank(__func__, x, 4);
  const std::int64_t channels = x.dim(1);
  check_groups(__func__, x, filters, o.groups);
  const std::int64_t group_channels = channels / o.groups;
  Scope scope(b.graph, b.next_layer_name("deconv"));
  Value w = b.parameter("w", {channels, filters / o.groups, o.kernel, o.kernel},
                        he_normal(group_channels * o.kernel * o.kernel));
  Value bias = o.bias ? b.parameter("b", {filters}, zeros()) : Value{};
  return ops::conv_transpose2d(x, w, bias, op_options(o, 2), {output_padding, output_padding});
}

Value dense(Builder& b, Value x, std::int64_t units, bool bias) {
  check_rank(__func__, x, 2);  // the DSL function, named without a string
  const std::int64_t fan_in = x.dim(1);
  Scope scope(b.graph, b.next_layer_name("fc"));
  Value w = b.parameter("w", {fan_in, units}, he_normal(fan_in));
  Value bias_value = bias ? b.parameter("b", {units}, zeros()) : Value{};
  return ops::dense(x, w, bias_value);
}

Value batch_norm(Builder& b, Value x, double momentum, double eps) {
  if (x.rank() != 2 && x.rank() != 4)
    fail("batch_norm: expected [N,C] or [N,C,H,W], got '", x.name(), "' of shape ", to_string(x.shape()));
  const std::int64_t channels = x.dim(1);
  Scope scope(b.graph, b.next_layer_name("bn"));
  Value gamma = b.parameter("gamma", {channels}, ones());
  Value beta = b.parameter("beta", {channels}, zeros());
  Value running_mean = b.state("running_mean", {channels}, zeros());
  Value running_var = b.state("running_var", {channels}, ones());
  ops::BatchNormOutputs out = ops::batch_norm(x, gamma, beta, running_mean, running_var, b.training, momentum, eps);
  b.graph.add_state_update(running_mean.id(), out.running_mean.id());
  b.graph.add_state_update(running_var.id(), out.running_var.id());
  return out.y;
}

Value dropout(Builder& b, Value x, double p) {
  Scope scope(b.graph, b.next_layer_name(__func__));
  return ops::dropout(x, p, b.seed_for(b.graph.scoped("mask")), b.training).y;
}

Value relu6(Value x) { return ops::clip(x, 0, 6); }

Value classifier_loss(Builder& b, Value logits, Value labels) {
  if (&logits.graph() != &b.graph)
    fail("classifier_loss: the logits '", logits.name(), "' belong to another graph");
  Value loss = ops::softmax_cross_entropy(logits, labels);
  b.graph.mark_output(logits);
  b.graph.set_loss(loss);
  return loss;
}

}  // namespace dagrad::models
