// The trainer on tiny models and synthetic data: learning, evaluation, errors, and resuming from a
// checkpoint file giving bitwise the same final weights as an uninterrupted run.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "models/layers.h"
#include "models/zoo.h"
#include "proto/model_file.h"
#include "train/trainer.h"

namespace dagrad::train {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

// Class k has a bright k-th horizontal band (of three) on a deterministic noise background.
class BandsDataset : public Dataset {
 public:
  BandsDataset(std::int64_t n, Shape shape, std::uint64_t seed) : n_(n), shape_(std::move(shape)), seed_(seed) {}
  std::int64_t size() const override { return n_; }
  Shape sample_shape() const override { return shape_; }
  std::int64_t classes() const override { return 3; }
  std::int64_t get(std::int64_t index, std::span<float> sample) const override {
    const std::int64_t label = index % 3;
    const std::int64_t channels = shape_[0], rows = shape_[1], cols = shape_[2];
    std::uint64_t h = seed_ * 0x9e3779b97f4a7c15ULL + static_cast<std::uint64_t>(index);
    for (std::int64_t c = 0; c < channels; ++c)
      for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t x = 0; x < cols; ++x) {
          h = h * 6364136223846793005ULL + 1442695040888963407ULL;
          float noise = static_cast<float>(h >> 40) / static_cast<float>(1 << 24);
          bool band = r * 3 / rows == label;
          sample[static_cast<std::size_t>((c * rows + r) * cols + x)] = 0.3f * noise + (band ? 0.7f : 0.0f);
        }
    return label;
  }

 private:
  std::int64_t n_;
  Shape shape_;
  std::uint64_t seed_;
};

Model tiny_resnet() {
  Model model;
  model.graph = models::build_model("resnet_tiny", {.batch = 4, .seed = 3});
  return model;
}

// conv - batch norm - relu - dropout - global pool - dense: exercises dropout's per-step seeds.
Model tiny_dropout_net() {
  Model model;
  models::Builder b{.graph = model.graph, .seed = 11};
  Value x = model.graph.input("image", {DType::f32, {4, 2, 6, 6}});
  Value labels = model.graph.input("label", {DType::i64, {4}});
  x = ops::relu(models::batch_norm(b, models::conv2d(b, x, 4, {.kernel = 3, .pad = 1})));
  x = models::dropout(b, x, 0.25);
  x = models::dense(b, ops::global_avg_pool(x), 3);
  models::classifier_loss(b, x, labels);
  return model;
}

TrainOptions small_recipe(std::int64_t epochs) {
  TrainOptions o;
  o.epochs = epochs;
  o.batch = 8;  // 30 samples: three full batches and a partial one of 6
  o.sgd = {.lr = 0.1, .momentum = 0.9, .weight_decay = 5e-4};
  o.schedule = "cosine";
  o.seed = 42;
  o.threads = 1;
  o.eval_batch = 7;
  return o;
}

void expect_same_tensors(const TensorMap& a, const TensorMap& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (const auto& [name, tensor] : a) {
    ASSERT_TRUE(b.count(name)) << what << " " << name;
    EXPECT_TRUE(bitwise_equal(tensor, b.at(name))) << what << " '" << name << "' differs";
  }
}

class TrainerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("dagrad_train_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(TrainerTest, LearnsTheBandsAndEvaluates) {
  BandsDataset train(30, {2, 6, 6}, 1), test(12, {2, 6, 6}, 2);
  Model model = tiny_resnet();
  Trainer trainer(model, train, &test, small_recipe(4));
  std::int64_t batches_seen = 0;
  trainer.run([&](const BatchProgress& p) {
    ++batches_seen;
    EXPECT_LE(p.batch, p.batches);
    EXPECT_EQ(p.batches, 4);
  });
  EXPECT_EQ(batches_seen, 16);
  ASSERT_EQ(trainer.history().size(), 4u);
  EXPECT_LT(trainer.history().back().train_loss, trainer.history().front().train_loss);
  EXPECT_EQ(model.training->step, 16);
  EXPECT_EQ(model.training->epoch, 4);
  EXPECT_EQ(model.training->buffers.size(), model.parameters.size());

  Evaluation e = evaluate(model, test, trainer.normalization(), {.batch = 5});
  EXPECT_EQ(e.samples, 12);
  std::int64_t total = 0, diagonal = 0;
  for (std::size_t k = 0; k < e.confusion.size(); ++k)
    for (std::size_t j = 0; j < e.confusion.size(); ++j) {
      total += e.confusion[k][j];
      diagonal += k == j ? e.confusion[k][j] : 0;
    }
  EXPECT_EQ(total, 12);
  EXPECT_DOUBLE_EQ(e.accuracy, static_cast<double>(diagonal) / 12.0);
  EXPECT_DOUBLE_EQ(e.accuracy, trainer.history().back().test_accuracy);  // the eval batch size does not matter
  EXPECT_GE(e.accuracy, 0.75);
  EXPECT_EQ(e.class_accuracy().size(), 3u);
}

// Trains `epochs` epochs, saving a checkpoint file after epoch `checkpoint_epoch`.
Model train_with_checkpoint(Model model, const Dataset& train, const Dataset& test, std::int64_t epochs,
                            std::int64_t checkpoint_epoch, const std::string& path, int threads) {
  TrainOptions o = small_recipe(epochs);
  o.threads = threads;
  Trainer trainer(model, train, &test, o);
  trainer.run({}, [&](const EpochMetrics& m, const Model& current) {
    if (m.epoch == checkpoint_epoch) save(current, path);
  });
  return model;
}

void expect_resume_is_bitwise(Model fresh, const fs::path& dir) {
  BandsDataset train(30, {2, 6, 6}, 1), test(9, {2, 6, 6}, 2);
  const std::string checkpoint = (dir / "after_epoch_1.dagrad").string();
  Model uninterrupted = train_with_checkpoint(fresh, train, test, 3, 1, checkpoint, 1);

  Model resumed = load(checkpoint);
  ASSERT_TRUE(resumed.training.has_value());
  EXPECT_EQ(resumed.training->epoch, 1);
  EXPECT_EQ(resumed.training->step, 4);
  // Resume with another thread count: results must not depend on it either.
  Trainer trainer(resumed, train, &test, stored_train_options(resumed));
  EXPECT_EQ(trainer.history().size(), 1u);
  trainer.run();

  expect_same_tensors(uninterrupted.parameters, resumed.parameters, "parameter");
  expect_same_tensors(uninterrupted.state, resumed.state, "state");
  expect_same_tensors(uninterrupted.training->buffers, resumed.training->buffers, "buffer");
  EXPECT_EQ(uninterrupted.training->step, resumed.training->step);
  EXPECT_EQ(uninterrupted.training->rng_state, resumed.training->rng_state);
  EXPECT_EQ(uninterrupted.metadata.at("train.history").substr(0, 60), resumed.metadata.at("train.history").substr(0, 60));
  ASSERT_EQ(trainer.history().size(), 3u);
}

TEST_F(TrainerTest, ResumingFromACheckpointIsBitwiseIdentical) { expect_resume_is_bitwise(tiny_resnet(), dir_); }

TEST_F(TrainerTest, ResumingWithDropoutIsBitwiseIdentical) { expect_resume_is_bitwise(tiny_dropout_net(), dir_); }

TEST_F(TrainerTest, ThreadCountDoesNotChangeTheWeights) {
  BandsDataset train(30, {2, 6, 6}, 1), test(9, {2, 6, 6}, 2);
  const std::string unused = (dir_ / "unused.dagrad").string();
  Model one = train_with_checkpoint(tiny_resnet(), train, test, 1, 0, unused, 1);
  Model two = train_with_checkpoint(tiny_resnet(), train, test, 1, 0, unused, 2);
  expect_same_tensors(one.parameters, two.parameters, "parameter");
}

TEST_F(TrainerTest, DifferentSeedsShuffleDifferently) {
  BandsDataset train(30, {2, 6, 6}, 1);
  Model a = tiny_resnet(), b = tiny_resnet();
  TrainOptions o = small_recipe(1);
  Trainer(a, train, nullptr, o).run();
  o.seed = 43;
  Trainer(b, train, nullptr, o).run();
  EXPECT_FALSE(bitwise_equal(a.parameters.begin()->second, b.parameters.begin()->second));
  EXPECT_NE(a.training->rng_state, b.training->rng_state);
}

TEST_F(TrainerTest, MismatchedDataIsAClearError) {
  BandsDataset wrong(30, {1, 6, 6}, 1);
  Model model = tiny_resnet();
  EXPECT_THAT([&] { Trainer(model, wrong, nullptr, small_recipe(1)); },
              ::testing::ThrowsMessage<Error>(HasSubstr("the model takes samples of shape [2,6,6]")));
  Model no_label;
  no_label.graph.input("image", {DType::f32, {4, 2, 6, 6}});
  BandsDataset right(30, {2, 6, 6}, 1);
  EXPECT_THAT([&] { evaluate(no_label, right, {}); }, ::testing::ThrowsMessage<Error>(HasSubstr("no input named 'label'")));
}

TEST_F(TrainerTest, TrainingOptionsRoundTripThroughTheModel) {
  Model model;
  TrainOptions o = small_recipe(7);
  o.sgd.nesterov = true;
  o.schedule = "step:2:0.5";
  o.warmup_epochs = 0.5;
  store_train_options(o, model);
  TrainOptions back = stored_train_options(model);
  EXPECT_EQ(back.epochs, 7);
  EXPECT_EQ(back.batch, 8);
  EXPECT_TRUE(back.sgd.nesterov);
  EXPECT_EQ(back.schedule, "step:2:0.5");
  EXPECT_EQ(back.warmup_epochs, 0.5);
  EXPECT_EQ(back.seed, 42u);
  store_normalization({0.2860405969887955, 0.3530242445149223}, model);
  EXPECT_EQ(stored_normalization(model)->std, 0.3530242445149223);
  EXPECT_THROW(stored_train_options(Model{}), Error);
}

}  // namespace
}  // namespace dagrad::train
