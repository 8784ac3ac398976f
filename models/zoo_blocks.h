#pragma once
// Building blocks shared by the zoo's model files (models/zoo.cc and one file per newer family).
// Internal to models/: the public entry point is models/zoo.h.
#include <cstdint>

#include "models/layers.h"

namespace dagrad::models::zoo {

// conv -> batch norm, the unit every ResNet is made of.
Value conv_bn(Builder& b, Value x, std::int64_t filters, ConvOptions conv);

// A 1x1 conv + batch norm projection where the shape changes (option B), the identity otherwise.
Value shortcut(Builder& b, Value x, std::int64_t filters, std::int64_t stride);

// torchvision's v1.5 bottleneck: 1x1 to `width` channels, 3x3 (carrying the stride, `groups`
// groups), 1x1 to `out` channels, plus the shortcut. ResNet-50: width = planes, out = 4 * planes,
// groups 1; ResNeXt-50 32x4d: width = 2 * planes, groups 32.
Value bottleneck(Builder& b, Value x, std::int64_t width, std::int64_t out, std::int64_t stride, std::int64_t groups);

// The ImageNet stem: 7x7/2 conv with batch norm and ReLU, then 3x3/2 max pooling.
Value imagenet_stem(Builder& b, Value x, std::int64_t filters);

// The newer families, each in its own file; torchvision 0.14's layouts and parameter counts.
Value mobilenet_v2(Builder& b, Value x, std::int64_t classes);
Value densenet121(Builder& b, Value x, std::int64_t classes);
Value resnext50_32x4d(Builder& b, Value x, std::int64_t classes);
Value squeezenet1_1(Builder& b, Value x, std::int64_t classes);

}  // namespace dagrad::models::zoo
