// Trainer::step, the step `dagrad bench` times, is the very step train_epoch takes: an epoch of one
// batch and one step on that batch (same samples, same order) leave bitwise the same weights.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>

#include "graph/error.h"
#include "models/layers.h"
#include "train/random.h"
#include "train/trainer.h"

namespace {

using namespace dagrad;
using namespace dagrad::train;

// Samples whose label is the brightest of three horizontal bands, plus a little structure.
class Bands : public Dataset {
 public:
  std::int64_t size() const override { return 6; }
  Shape sample_shape() const override { return {2, 6, 6}; }
  std::int64_t classes() const override { return 3; }
  std::int64_t get(std::int64_t index, std::span<float> sample) const override {
    const std::int64_t label = index % 3;
    for (std::size_t i = 0; i < sample.size(); ++i) {
      const std::int64_t row = static_cast<std::int64_t>(i % 36) / 6;
      sample[i] = (row / 2 == label ? 1.0f : 0.0f) + 0.01f * static_cast<float>((index * 7 + static_cast<std::int64_t>(i)) % 5);
    }
    return label;
  }
};

Model tiny() {
  Model model;
  models::Builder b{.graph = model.graph, .seed = 5};
  Value x = model.graph.input("image", {DType::f32, {6, 2, 6, 6}});
  Value labels = model.graph.input("label", {DType::i64, {6}});
  x = ops::relu(models::batch_norm(b, models::conv2d(b, x, 4, {.kernel = 3, .pad = 1})));
  models::classifier_loss(b, models::dense(b, ops::global_avg_pool(x), 3), labels);
  return model;
}

TrainOptions recipe() {
  TrainOptions o;
  o.epochs = 1;
  o.batch = 6;
  o.sgd = {.lr = 0.1, .momentum = 0.9, .weight_decay = 5e-4};
  o.schedule = "constant";
  o.threads = 1;
  return o;
}

void expect_same(const TensorMap& a, const TensorMap& b) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) {
    ASSERT_TRUE(b.count(name)) << name;
    ASSERT_EQ(t.nbytes(), b.at(name).nbytes()) << name;
    EXPECT_EQ(0, std::memcmp(t.raw(), b.at(name).raw(), t.nbytes())) << name;
  }
}

}  // namespace

TEST(TrainerStep, IsTheStepOfAnEpoch) {
  Bands data;
  Model by_epoch = tiny(), by_step = tiny();
  Trainer epoch_trainer(by_epoch, data, nullptr, recipe());
  Trainer step_trainer(by_step, data, nullptr, recipe());
  // The epoch's batch: the samples in the order the epoch shuffles them, normalized as it does.
  SplitMix64 rng(by_step.training->rng_state);
  BatchLoader loader(data, random_permutation(data.size(), rng), 6, step_trainer.normalization());
  const Batch batch = loader.make(0);

  const EpochMetrics m = epoch_trainer.train_epoch();
  const Trainer::StepResult r = step_trainer.step(batch);
  EXPECT_EQ(r.loss, m.train_loss);
  EXPECT_EQ(static_cast<double>(r.correct) / 6, m.train_accuracy);
  EXPECT_EQ(by_step.training->step, 1);
  expect_same(by_epoch.parameters, by_step.parameters);
  expect_same(by_epoch.state, by_step.state);
  expect_same(by_epoch.training->buffers, by_step.training->buffers);
}

TEST(TrainerStep, RejectsABatchOfAnotherSize) {
  Bands data;
  Model model = tiny();
  Trainer trainer(model, data, nullptr, recipe());
  Batch small{.images = Tensor(DType::f32, {2, 2, 6, 6}), .labels = Tensor(DType::i64, {2})};
  EXPECT_THAT([&] { trainer.step(small); }, ::testing::ThrowsMessage<Error>(::testing::HasSubstr("a step takes batches of 6 images, got 2")));
}
