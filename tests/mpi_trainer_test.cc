// The data-parallel trainer as a library: a graph that sums over the batch outside the canonical
// reduction cannot be split into micro-batches (or processes) and says which nodes are to blame.
#include <gtest/gtest.h>

#include "graph/error.h"
#include "models/layers.h"
#include "ops/ops.h"
#include "train/trainer.h"

namespace dagrad::train {
namespace {

// Image i is all i % 3, label i % 3.
class ConstantImages : public Dataset {
 public:
  std::int64_t size() const override { return 32; }
  Shape sample_shape() const override { return {1, 4, 4}; }
  std::int64_t classes() const override { return 3; }
  std::int64_t get(std::int64_t index, std::span<float> sample) const override {
    for (float& v : sample) v = static_cast<float>(index % 3);
    return index % 3;
  }
};

// Each image's logits plus the batch's summed logits: every image depends on the whole batch.
Model batch_coupled_model() {
  Model model;
  models::Builder b{.graph = model.graph, .seed = 5};
  Value x = model.graph.input("image", {DType::f32, {8, 1, 4, 4}});
  Value labels = model.graph.input("label", {DType::i64, {8}});
  Value logits = models::dense(b, ops::global_avg_pool(x), 3);
  logits = ops::add(logits, ops::reduce_sum(logits, {0}, true));
  models::classifier_loss(b, logits, labels);
  return model;
}

TEST(DataParallelTrainer, GraphSummingOverTheBatchItsOwnWayCannotBeAccumulated) {
  const ConstantImages data;
  TrainOptions options;
  options.batch = 8;
  options.epochs = 1;
  options.threads = 1;
  {
    Model whole = batch_coupled_model();
    EXPECT_NO_THROW(Trainer(whole, data, nullptr, options));  // one piece per batch: fine
  }
  options.accumulate = 2;
  Model model = batch_coupled_model();
  try {
    Trainer trainer(model, data, nullptr, options);
    FAIL() << "a batch-coupled graph was split into micro-batches";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("over 1 process x 2 micro-batches"), std::string::npos) << message;
    EXPECT_NE(message.find("over the batch outside the canonical reduction (node '"), std::string::npos) << message;
  }
}

}  // namespace
}  // namespace dagrad::train
