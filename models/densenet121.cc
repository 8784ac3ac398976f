// DenseNet-121 (Huang et al. 2017) as torchvision 0.14 builds it: growth rate 32, blocks of
// 6/12/24/16 layers, 64 initial features, bottleneck width 4 x 32: 7,978,856 parameters. Every layer
// reads the concatenation of all earlier feature maps of its block.
#include <array>
#include <vector>

#include "models/zoo_blocks.h"

namespace dagrad::models::zoo {
namespace {

Value bn_relu(Builder& b, Value x) { return ops::relu(batch_norm(b, x)); }

// BN-ReLU-1x1 conv to 4 * growth, BN-ReLU-3x3 conv to growth: the layer's new features.
Value dense_layer(Builder& b, Value features, std::int64_t growth) {
  Value y = conv2d(b, bn_relu(b, features), 4 * growth, {.kernel = 1});
  return conv2d(b, bn_relu(b, y), growth, {.kernel = 3, .pad = 1});
}

// Halves the channels (1x1 conv) and the resolution (2x2 average pooling).
Value transition(Builder& b, Value x) {
  Value y = conv2d(b, bn_relu(b, x), x.dim(1) / 2, {.kernel = 1});
  return ops::avg_pool2d(y, {2, 2}, {2, 2});
}

}  // namespace

Value densenet121(Builder& b, Value x, std::int64_t classes) {
  static constexpr std::array<int, 4> block_layers = {6, 12, 24, 16};
  const std::int64_t growth = b.width(32);
  {
    Scope scope(b.graph, "stem");
    x = imagenet_stem(b, x, b.width(64));
  }
  for (std::size_t i = 0; i < block_layers.size(); ++i) {
    Scope block(b.graph, "block" + std::to_string(i + 1));
    std::vector<Value> features = {x};
    for (int l = 0; l < block_layers[i]; ++l) {
      Scope layer(b.graph, "layer" + std::to_string(l + 1));
      Value input = features.size() == 1 ? features[0] : ops::concat(features, 1);
      features.push_back(dense_layer(b, input, growth));
    }
    x = ops::concat(features, 1);
    if (i + 1 < block_layers.size()) {
      Scope scope(b.graph, "transition");
      x = transition(b, x);
    }
  }
  Scope scope(b.graph, "head");
  x = ops::global_avg_pool(bn_relu(b, x));
  return dense(b, x, classes);
}

}  // namespace dagrad::models::zoo
