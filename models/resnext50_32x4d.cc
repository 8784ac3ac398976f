// ResNeXt-50 32x4d (Xie et al. 2017; torchvision 0.14): ResNet-50's bottlenecks with the 3x3
// convolution split into 32 groups of 4 channels per 64 planes (width 2 x planes): 25,028,904
// parameters.
#include <array>

#include "models/zoo_blocks.h"

namespace dagrad::models::zoo {

Value resnext50_32x4d(Builder& b, Value x, std::int64_t classes) {
  static constexpr std::array<int, 4> blocks = {3, 4, 6, 3};
  static constexpr std::array<std::int64_t, 4> planes = {64, 128, 256, 512};
  const std::int64_t groups = b.width(32);
  {
    Scope scope(b.graph, "stem");
    x = imagenet_stem(b, x, b.width(64));
  }
  for (std::size_t s = 0; s < blocks.size(); ++s) {
    Scope stage(b.graph, "stage" + std::to_string(s + 1));
    for (int i = 0; i < blocks[s]; ++i) {
      Scope scope(b.graph, "block" + std::to_string(i));
      x = bottleneck(b, x, b.width(2 * planes[s]), b.width(4 * planes[s]), i == 0 && s > 0 ? 2 : 1, groups);
    }
  }
  Scope scope(b.graph, "head");
  return dense(b, ops::global_avg_pool(x), classes);
}

}  // namespace dagrad::models::zoo
