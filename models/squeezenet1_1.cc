// SqueezeNet 1.1 (Iandola et al. 2016; torchvision 0.14): 1,235,496 parameters. Fire modules squeeze
// with 1x1 convolutions and expand with 1x1 and 3x3 ones side by side, joined by concat; the
// classifier is a 1x1 convolution to the classes, averaged over the map. Every conv has a bias.
#include "models/zoo_blocks.h"

namespace dagrad::models::zoo {
namespace {

Value fire(Builder& b, Value x, std::int64_t squeeze, std::int64_t expand) {
  Value s = ops::relu(conv2d(b, x, squeeze, {.kernel = 1, .bias = true}));
  Value e1 = ops::relu(conv2d(b, s, expand, {.kernel = 1, .bias = true}));
  Value e3 = ops::relu(conv2d(b, s, expand, {.kernel = 3, .pad = 1, .bias = true}));
  return ops::concat({e1, e3}, 1);
}

// torchvision's MaxPool2d(3, 2, ceil_mode=True): the last partial window counts.
Value pool(Value x) { return ops::max_pool2d(x, {3, 3}, {2, 2}, {0, 0}, {.ceil_mode = true}); }

}  // namespace

Value squeezenet1_1(Builder& b, Value x, std::int64_t classes) {
  struct FireSize {
    std::int64_t squeeze, expand;
  };
  auto fires = [&](std::initializer_list<FireSize> sizes) {
    for (FireSize f : sizes) {
      Scope scope(b.graph, b.next_layer_name("fire"));
      x = fire(b, x, b.width(f.squeeze), b.width(f.expand));
    }
  };
  {
    Scope scope(b.graph, "features");
    x = pool(ops::relu(conv2d(b, x, b.width(64), {.kernel = 3, .stride = 2, .bias = true})));
    fires({{16, 64}, {16, 64}});
    x = pool(x);
    fires({{32, 128}, {32, 128}});
    x = pool(x);
    fires({{48, 192}, {48, 192}, {64, 256}, {64, 256}});
  }
  Scope scope(b.graph, "classifier");
  x = ops::relu(conv2d(b, dropout(b, x, 0.5), classes, {.kernel = 1, .bias = true}));
  return ops::global_avg_pool(x);
}

}  // namespace dagrad::models::zoo
