// Defines a small ResNet in the dagrad DSL, trains it for a few steps on a synthetic dataset of
// its own (the Dataset interface), saves it, loads it back and checks the reload predicts the same.
// Usage: small_resnet [OUT_FILE]   (exit 0 on success)
#include <cmath>
#include <cstdio>
#include <string>

#include "models/layers.h"
#include "proto/model_file.h"
#include "runtime/runtime.h"
#include "train/trainer.h"

using namespace dagrad;
using models::Builder;

// conv-BN-ReLU-conv-BN plus a shortcut (projected when the shape changes), then ReLU.
Value residual_block(Builder& b, Value x, std::int64_t channels, std::int64_t stride) {
  Value y = ops::relu(models::batch_norm(b, models::conv2d(b, x, channels, {.kernel = 3, .stride = stride, .pad = 1})));
  y = models::batch_norm(b, models::conv2d(b, y, channels, {.kernel = 3, .pad = 1}));
  Value shortcut = x;
  if (stride != 1 || x.dim(1) != channels) {
    Scope scope(b.graph, "shortcut");
    shortcut = models::batch_norm(b, models::conv2d(b, x, channels, {.kernel = 1, .stride = stride}));
  }
  return ops::relu(ops::add(y, shortcut));
}

Graph small_resnet(std::int64_t batch) {
  Graph g;
  Builder b{.graph = g, .seed = 7};
  Value image = g.input("image", {DType::f32, {batch, 1, 12, 12}});
  Value label = g.input("label", {DType::i64, {batch}});
  Value x;
  {
    Scope s(g, "stem");
    x = ops::relu(models::batch_norm(b, models::conv2d(b, image, 8, {.kernel = 3, .pad = 1})));
  }
  {
    Scope s(g, "block1");
    x = residual_block(b, x, 8, 1);
  }
  {
    Scope s(g, "block2");
    x = residual_block(b, x, 16, 2);
  }
  Value logits;
  {
    Scope s(g, "head");
    logits = models::dense(b, ops::global_avg_pool(x), 4);
  }
  models::classifier_loss(b, logits, label);
  return g;
}

// Four classes: a bright quadrant of a 12x12 image, plus noise.
class Quadrants : public train::Dataset {
 public:
  std::int64_t size() const override { return 256; }
  Shape sample_shape() const override { return {1, 12, 12}; }
  std::int64_t classes() const override { return 4; }
  std::int64_t get(std::int64_t index, std::span<float> sample) const override {
    std::int64_t label = index % 4;
    for (int r = 0; r < 12; ++r)
      for (int c = 0; c < 12; ++c) {
        bool lit = (r < 6) == (label < 2) && (c < 6) == (label % 2 == 0);
        std::uint32_t h = static_cast<std::uint32_t>(index * 144 + r * 12 + c) * 2654435761u;
        sample[r * 12 + c] = (lit ? 1.0f : 0.0f) + 0.2f * static_cast<float>(h >> 8) / 16777216.0f;
      }
    return label;
  }
};

int main(int argc, char** argv) {
  std::string path = argc > 1 ? argv[1] : "small_resnet.dagrad";
  try {
    Model model;
    model.graph = small_resnet(32);
    for (auto& [name, tensor] : runtime::initialize_parameters(model.graph))
      (model.graph.value(model.graph.at(name)).kind == ValueKind::parameter ? model.parameters : model.state).emplace(name, tensor);

    Quadrants data;
    train::TrainOptions options{.epochs = 3, .batch = 32, .sgd = {.lr = 0.05}, .schedule = "cosine", .threads = 2};
    train::Trainer trainer(model, data, &data, options);
    trainer.run({}, [](const train::EpochMetrics& m, const Model&) {
      std::printf("epoch %lld train loss %.4f test accuracy %.4f\n", static_cast<long long>(m.epoch), m.train_loss, m.test_accuracy);
    });

    save(model, path);
    Model reloaded = load(path);
    train::Evaluation before = train::evaluate(model, data, trainer.normalization());
    train::Evaluation after = train::evaluate(reloaded, data, trainer.normalization());
    std::printf("saved %s; accuracy %.4f before and %.4f after reloading\n", path.c_str(), before.accuracy, after.accuracy);
    bool same = before.accuracy == after.accuracy && before.loss == after.loss;
    bool learned = before.accuracy > 0.5;  // chance is 0.25
    return same && learned ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "small_resnet: %s\n", e.what());
    return 1;
  }
}
