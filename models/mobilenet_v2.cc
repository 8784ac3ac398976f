// MobileNetV2 (Sandler et al. 2018) as torchvision 0.14 builds it with width 1.0: 3,504,872
// parameters. Inverted residual blocks: 1x1 expansion, 3x3 depthwise, linear 1x1 projection.
#include <array>

#include "models/zoo_blocks.h"

namespace dagrad::models::zoo {
namespace {

// conv -> batch norm -> ReLU6, torchvision's Conv2dNormActivation.
Value conv_bn_relu6(Builder& b, Value x, std::int64_t filters, ConvOptions conv) {
  return relu6(batch_norm(b, conv2d(b, x, filters, conv)));
}

Value inverted_residual(Builder& b, Value x, std::int64_t out, std::int64_t stride, std::int64_t expand) {
  const std::int64_t in = x.dim(1);
  const std::int64_t hidden = in * expand;
  Value y = x;
  if (expand != 1) y = conv_bn_relu6(b, y, hidden, {.kernel = 1});
  y = conv_bn_relu6(b, y, hidden, {.kernel = 3, .stride = stride, .pad = 1, .groups = hidden});
  y = batch_norm(b, conv2d(b, y, out, {.kernel = 1}));
  // The residual only where the block keeps the shape.
  return stride == 1 && in == out ? ops::add(x, y) : y;
}

struct Stage {
  std::int64_t expand, channels, blocks, stride;
};

}  // namespace

Value mobilenet_v2(Builder& b, Value x, std::int64_t classes) {
  static constexpr std::array<Stage, 7> stages = {
      {{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2}, {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}}};
  {
    Scope scope(b.graph, "stem");
    x = conv_bn_relu6(b, x, b.width(32), {.kernel = 3, .stride = 2, .pad = 1});
  }
  for (std::size_t s = 0; s < stages.size(); ++s) {
    Scope stage(b.graph, "stage" + std::to_string(s + 1));
    for (std::int64_t i = 0; i < stages[s].blocks; ++i) {
      Scope block(b.graph, "block" + std::to_string(i));
      x = inverted_residual(b, x, b.width(stages[s].channels), i == 0 ? stages[s].stride : 1, stages[s].expand);
    }
  }
  {
    Scope scope(b.graph, "last");
    x = conv_bn_relu6(b, x, b.width(1280), {.kernel = 1});
  }
  Scope scope(b.graph, "classifier");
  return dense(b, dropout(b, ops::global_avg_pool(x), 0.2), classes);
}

}  // namespace dagrad::models::zoo
