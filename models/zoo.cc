#include "models/zoo.h"

#include <functional>

#include "models/layers.h"
#include "models/signature.h"
#include "models/zoo_blocks.h"
#include "ops/ops.h"

namespace dagrad::models {
namespace zoo {

Value conv_bn(Builder& b, Value x, std::int64_t filters, ConvOptions conv) { return batch_norm(b, conv2d(b, x, filters, conv)); }

Value shortcut(Builder& b, Value x, std::int64_t filters, std::int64_t stride) {
  if (stride == 1 && x.dim(1) == filters) return x;
  Scope scope(b.graph, "shortcut");
  return conv_bn(b, x, filters, {.kernel = 1, .stride = stride});
}

Value bottleneck(Builder& b, Value x, std::int64_t width, std::int64_t out, std::int64_t stride, std::int64_t groups) {
  Value y = ops::relu(conv_bn(b, x, width, {.kernel = 1}));
  y = ops::relu(conv_bn(b, y, width, {.kernel = 3, .stride = stride, .pad = 1, .groups = groups}));
  y = conv_bn(b, y, out, {.kernel = 1});
  return ops::relu(ops::add(y, shortcut(b, x, out, stride)));
}

Value imagenet_stem(Builder& b, Value x, std::int64_t filters) {
  x = ops::relu(conv_bn(b, x, filters, {.kernel = 7, .stride = 2, .pad = 3}));
  return ops::max_pool2d(x, {3, 3}, {2, 2}, {1, 1});
}

}  // namespace zoo

namespace {

using zoo::conv_bn;
using zoo::shortcut;

using ops::add;
using ops::flatten;
using ops::global_avg_pool;
using ops::max_pool2d;
using ops::relu;

Value basic_block(Builder& b, Value x, std::int64_t filters, std::int64_t stride) {
  Value y = relu(conv_bn(b, x, filters, {.kernel = 3, .stride = stride, .pad = 1}));
  y = conv_bn(b, y, filters, {.kernel = 3, .pad = 1});
  return relu(add(y, shortcut(b, x, filters, stride)));
}

// torchvision's v1.5 bottleneck: the stride sits on the 3x3 conv; output has 4x `width` channels.
Value bottleneck_block(Builder& b, Value x, std::int64_t width, std::int64_t stride) {
  return zoo::bottleneck(b, x, width, 4 * width, stride, 1);
}

using Block = Value (*)(Builder&, Value, std::int64_t, std::int64_t);

// Stages "stage1", "stage2", ... of blocks "block0", ...; every stage after the first halves the
// resolution in its first block.
Value residual_stages(Builder& b, Value x, Block block, const std::vector<std::int64_t>& widths,
                      const std::vector<int>& blocks) {
  for (std::size_t s = 0; s < widths.size(); ++s) {
    Scope stage(b.graph, "stage" + std::to_string(s + 1));
    for (int i = 0; i < blocks[s]; ++i) {
      Scope scope(b.graph, "block" + std::to_string(i));
      x = block(b, x, widths[s], i == 0 && s > 0 ? 2 : 1);
    }
  }
  return x;
}

Value classifier_head(Builder& b, Value features, std::int64_t classes) {
  Scope scope(b.graph, "head");
  return dense(b, global_avg_pool(features), classes);
}

// He et al. 2015 section 4.2: 3x3 stem with 16 channels, three stages of n basic blocks with
// 16/32/64 channels. resnet_ref is this network with n = 2 on 1x28x28 images.
Value small_resnet(Builder& b, Value x, int n, std::int64_t classes) {
  {
    Scope scope(b.graph, "stem");
    x = relu(conv_bn(b, x, 16, {.kernel = 3, .pad = 1}));
  }
  x = residual_stages(b, x, basic_block, {16, 32, 64}, {n, n, n});
  return classifier_head(b, x, classes);
}

Value imagenet_resnet(Builder& b, Value x, Block block, const std::vector<int>& blocks, std::int64_t classes) {
  {
    Scope scope(b.graph, "stem");
    x = zoo::imagenet_stem(b, x, 64);
  }
  x = residual_stages(b, x, block, {64, 128, 256, 512}, blocks);
  return classifier_head(b, x, classes);
}

Value alexnet(Builder& b, Value x, std::int64_t classes) {
  {
    Scope scope(b.graph, "features");
    x = max_pool2d(relu(conv2d(b, x, 64, {.kernel = 11, .stride = 4, .pad = 2, .bias = true})), {3, 3}, {2, 2});
    x = max_pool2d(relu(conv2d(b, x, 192, {.kernel = 5, .pad = 2, .bias = true})), {3, 3}, {2, 2});
    x = relu(conv2d(b, x, 384, {.kernel = 3, .pad = 1, .bias = true}));
    x = relu(conv2d(b, x, 256, {.kernel = 3, .pad = 1, .bias = true}));
    x = relu(conv2d(b, x, 256, {.kernel = 3, .pad = 1, .bias = true}));
    x = max_pool2d(x, {3, 3}, {2, 2});
  }
  // torchvision's AdaptiveAvgPool2d((6, 6)) is the identity on the 6x6 map of a 224x224 image.
  Scope scope(b.graph, "classifier");
  x = relu(dense(b, dropout(b, flatten(x), 0.5), 4096));
  x = relu(dense(b, dropout(b, x, 0.5), 4096));
  return dense(b, x, classes);
}

Value vgg16(Builder& b, Value x, std::int64_t classes) {
  {
    Scope scope(b.graph, "features");
    const std::vector<std::pair<std::int64_t, int>> stages = {{64, 2}, {128, 2}, {256, 3}, {512, 3}, {512, 3}};
    for (auto [filters, convs] : stages) {
      for (int i = 0; i < convs; ++i) x = relu(conv2d(b, x, filters, {.kernel = 3, .pad = 1, .bias = true}));
      x = max_pool2d(x, {2, 2}, {2, 2});
    }
  }
  // The 7x7 adaptive average pool is the identity for 224x224 images.
  Scope scope(b.graph, "classifier");
  x = dropout(b, relu(dense(b, flatten(x), 4096)), 0.5);
  x = dropout(b, relu(dense(b, x, 4096)), 0.5);
  return dense(b, x, classes);
}

Value lenet(Builder& b, Value x, std::int64_t classes) {
  x = max_pool2d(relu(conv2d(b, x, 6, {.kernel = 5, .pad = 2, .bias = true})), {2, 2}, {2, 2});
  x = max_pool2d(relu(conv2d(b, x, 16, {.kernel = 5, .bias = true})), {2, 2}, {2, 2});
  x = relu(dense(b, flatten(x), 120));
  x = relu(dense(b, x, 84));
  return dense(b, x, classes);
}

// Small enough for a float64 central-difference check of every parameter: a batch-norm stem and
// one strided block with a projection shortcut.
Value resnet_tiny(Builder& b, Value x, std::int64_t classes) {
  {
    Scope scope(b.graph, "stem");
    x = relu(conv_bn(b, x, 4, {.kernel = 3, .pad = 1}));
  }
  {
    Scope scope(b.graph, "block0");
    x = basic_block(b, x, 8, 2);
  }
  return classifier_head(b, x, classes);
}

struct ZooModel {
  ZooEntry entry;
  std::function<Value(Builder&, Value image, std::int64_t classes)> body;
};

const std::vector<ZooModel>& models() {
  static const std::vector<ZooModel> list = {
      {{"resnet_ref", "the reference ResNet of the peer benchmark (3 stages x 2 basic blocks, 16/32/64)", {1, 28, 28}, 10},
       [](Builder& b, Value x, std::int64_t k) { return small_resnet(b, x, 2, k); }},
      {{"resnet20", "CIFAR ResNet-20 (3 stages x 3 basic blocks, projection shortcuts)", {3, 32, 32}, 10},
       [](Builder& b, Value x, std::int64_t k) { return small_resnet(b, x, 3, k); }},
      {{"resnet32", "CIFAR ResNet-32 (3 stages x 5 basic blocks, projection shortcuts)", {3, 32, 32}, 10},
       [](Builder& b, Value x, std::int64_t k) { return small_resnet(b, x, 5, k); }},
      {{"resnet56", "CIFAR ResNet-56 (3 stages x 9 basic blocks, projection shortcuts)", {3, 32, 32}, 10},
       [](Builder& b, Value x, std::int64_t k) { return small_resnet(b, x, 9, k); }},
      {{"resnet18", "ImageNet ResNet-18 (torchvision layout)", {3, 224, 224}, 1000},
       [](Builder& b, Value x, std::int64_t k) { return imagenet_resnet(b, x, basic_block, {2, 2, 2, 2}, k); }},
      {{"resnet34", "ImageNet ResNet-34 (torchvision layout)", {3, 224, 224}, 1000},
       [](Builder& b, Value x, std::int64_t k) { return imagenet_resnet(b, x, basic_block, {3, 4, 6, 3}, k); }},
      {{"resnet50", "ImageNet ResNet-50 (torchvision v1.5 bottlenecks)", {3, 224, 224}, 1000},
       [](Builder& b, Value x, std::int64_t k) { return imagenet_resnet(b, x, bottleneck_block, {3, 4, 6, 3}, k); }},
      {{"alexnet", "AlexNet (torchvision layout)", {3, 224, 224}, 1000}, alexnet},
      {{"vgg16", "VGG-16 without batch norm (torchvision layout)", {3, 224, 224}, 1000}, vgg16},
      {{"lenet", "LeNet-5 style: two 5x5 conv + max pool, three dense layers", {1, 28, 28}, 10}, lenet},
      {{"resnet_tiny", "a tiny residual net for whole-model gradient checks", {2, 6, 6}, 3}, resnet_tiny},
      {{"mobilenet_v2", "MobileNetV2 (torchvision layout): inverted residuals, depthwise 3x3, ReLU6", {3, 224, 224}, 1000, true},
       zoo::mobilenet_v2},
      {{"densenet121", "DenseNet-121 (torchvision layout): growth 32, blocks 6/12/24/16, concat", {3, 224, 224}, 1000, true},
       zoo::densenet121},
      {{"resnext50_32x4d", "ResNeXt-50 32x4d (torchvision layout): grouped 3x3 bottlenecks", {3, 224, 224}, 1000, true},
       zoo::resnext50_32x4d},
      {{"squeezenet1_1", "SqueezeNet 1.1 (torchvision layout): fire modules, concat, ceil-mode pooling", {3, 224, 224}, 1000, true},
       zoo::squeezenet1_1},
  };
  return list;
}

std::string reducible_names() {
  std::string names;
  for (const ZooModel& m : models())
    if (m.entry.reducible) names += (names.empty() ? "" : ", ") + m.entry.name;
  return names;
}

const ZooModel& find_model(const std::string& name) {
  std::string valid;
  for (const ZooModel& m : models()) {
    if (m.entry.name == name) return m;
    valid += (valid.empty() ? "" : ", ") + m.entry.name;
  }
  fail("unknown model '", name, "'; valid models: ", valid);
}

}  // namespace

const std::vector<ZooEntry>& zoo_models() {
  static const std::vector<ZooEntry> entries = [] {
    std::vector<ZooEntry> list;
    for (const ZooModel& m : models()) list.push_back(m.entry);
    return list;
  }();
  return entries;
}

const ZooEntry& zoo_entry(const std::string& name) { return find_model(name).entry; }

Graph build_model(const std::string& name, const ModelOptions& options) {
  const ZooModel* model = &find_model(name);
  if (options.batch < 1) fail("model '", name, "': batch must be at least 1, got ", options.batch);
  if (!is_float(options.dtype)) fail("model '", name, "': dtype must be f32 or f64, got ", dtype_name(options.dtype));
  if (options.width_divisor < 1) fail("model '", name, "': width_divisor must be at least 1, got ", options.width_divisor);
  if (!model->entry.reducible && options.width_divisor != 1)
    fail("model '", name, "' has no reduced form (width_divisor ", options.width_divisor, "); models that have one: ",
         reducible_names());
  const Shape& sample = options.input_shape.empty() ? model->entry.input_shape : options.input_shape;
  if (sample.size() != 3 || sample[0] < 1 || sample[1] < 1 || sample[2] < 1)
    fail("model '", name, "': the input shape must be [C,H,W] with positive dims, got ", to_string(sample));
  if (options.classes < 0) fail("model '", name, "': classes must be at least 1, got ", options.classes);
  const std::int64_t classes = options.classes ? options.classes : model->entry.classes;

  Graph graph;
  Builder b{.graph = graph, .seed = options.seed, .training = options.training, .dtype = options.dtype,
            .width_divisor = options.width_divisor};
  Shape image_shape = {options.batch};
  image_shape.insert(image_shape.end(), sample.begin(), sample.end());
  Value image = graph.input(kImageInput, {options.dtype, image_shape});
  Value label = graph.input(kLabelInput, {DType::i64, {options.batch}});
  Value logits = model->body(b, image, classes);
  graph.rename_value(logits.id(), kLogitsName);
  Value loss = classifier_loss(b, logits, label);
  graph.rename_value(loss.id(), kLossName);
  return graph;
}

}  // namespace dagrad::models
