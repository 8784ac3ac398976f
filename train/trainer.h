#pragma once
// Training and evaluation of a Model on a Dataset: the training graph (forward + autodiff), plans
// for the full and the last partial batch, SGD with a schedule, batch-norm running statistics,
// seeded shuffling, and a TrainingState that lets a run resume bitwise identically.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "graph/model.h"
#include "models/signature.h"
#include "runtime/runtime.h"
#include "train/communicator.h"
#include "train/data.h"
#include "train/metrics.h"
#include "train/optimizer.h"

namespace dagrad::train {

struct TrainOptions {
  std::int64_t epochs = 5;
  std::int64_t batch = 64;
  SgdOptions sgd;
  std::string schedule = "cosine";  // see make_schedule
  double warmup_epochs = 0;
  std::uint64_t seed = 0;           // shuffling and dropout
  int threads = 0;                  // 0: all cores
  std::int64_t eval_batch = 500;
  bool check_numerics = false;
  bool fuse = true;  // runtime::Options::fuse (off only to measure what fusion gains)
  // Data-parallel training. `batch` stays the global batch: each of the communicator's processes
  // computes its contiguous share of every batch, in `accumulate` micro-batches run one after
  // another, and the shares are combined in the canonical tree (graph/batch_slice.h), so the result
  // is bitwise the same for any number of processes and micro-batches; neither is stored in a
  // checkpoint. Null: this process alone.
  Communicator* communicator = nullptr;
  std::int64_t accumulate = 1;
};

// Saves the options in the model (training-state hyperparameters and metadata) so that a resumed
// run continues with the same recipe, and reads them back.
void store_train_options(const TrainOptions& options, Model& model);
TrainOptions stored_train_options(const Model& model);  // throws if the model has no training state

// Where a run reads and writes. The trainer's checkpoint carries it, so that `--resume CHECKPOINT`
// alone continues the same run on the same data into the same files. Paths are absolute.
struct RunRecord {
  std::string data_dir;
  std::int64_t limit_train = 0, limit_test = 0;  // 0: every image
  std::int64_t image_size = 0;                   // images padded to image_size^2 (PaddedDataset); 0: as stored
  std::string out, checkpoint, metrics;          // metrics: the prefix of PREFIX.csv and PREFIX.svg
};
void store_run_record(const RunRecord& record, Model& model);
// nullopt for checkpoints written before runs were recorded; throws on a damaged record.
std::optional<RunRecord> stored_run_record(const Model& model);

// The normalization the model was trained with, kept in its metadata.
void store_normalization(const Normalization& norm, Model& model);
std::optional<Normalization> stored_normalization(const Model& model);

struct BatchProgress {
  std::int64_t epoch = 0, epochs = 0;  // epoch is 1-based
  std::int64_t batch = 0, batches = 0;  // batches done in this epoch, of batches
  std::int64_t images = 0;              // images done in this epoch
  double loss = 0, accuracy = 0;        // running means over this epoch
  double lr = 0;
  double seconds = 0;                   // since the epoch started
  std::int64_t step = 0;                // the optimizer step just taken (0-based, counted over the whole run)
  double step_loss = 0;                 // that step's mean loss
};

struct Evaluation {
  std::int64_t samples = 0;
  double loss = 0;  // mean softmax cross-entropy
  double accuracy = 0;
  std::vector<std::vector<std::int64_t>> confusion;  // [true class][predicted class]
  double seconds = 0;
  std::vector<double> class_accuracy() const;  // per true class (NaN for a class without samples)
};

struct EvalOptions {
  std::int64_t batch = 500;
  int threads = 0;
  // Compare the evaluation's peak bytes (the plans, the model's tensors, two input batches) with the
  // memory available before running (runtime::check_memory_fits).
  bool check_memory = false;
  // Splits the samples over the communicator's processes by whole batches (the same batches as one
  // process), so counts and the loss are exactly one process's. Null: this process alone.
  Communicator* communicator = nullptr;
};

// Inference-mode evaluation (batch norm uses running statistics, dropout is off) of every sample,
// the last partial batch included. Non-finite parameters or state, and a batch whose loss or logits
// are not finite, are errors naming the tensor or the batch.
Evaluation evaluate(const Model& model, const Dataset& data, const Normalization& norm, const EvalOptions& options = {});

class Trainer {
 public:
  // A model without training state starts at epoch 0 with `options` (stored into the model); a model
  // with one (a checkpoint) resumes after its last completed epoch. Parameters and state the model
  // lacks are filled by their initializers. The normalization comes from the model's metadata, or
  // is computed on `train` and stored. `test` may be null.
  Trainer(Model& model, const Dataset& train, const Dataset* test, TrainOptions options);
  Trainer(const Trainer&) = delete;  // comm_ may point at the trainer's own single_process_
  Trainer& operator=(const Trainer&) = delete;

  using BatchCallback = std::function<void(const BatchProgress&)>;
  using EpochCallback = std::function<void(const EpochMetrics&, const Model&)>;

  bool finished() const;
  struct StepResult {
    double loss = 0;            // the batch's mean loss
    std::int64_t correct = 0;   // predictions equal to the label
  };
  // One optimizer step on `batch` (normalized images and labels of the model's signature, as the
  // loader makes them), exactly as train_epoch takes each: forward, backward, the divergence checks,
  // then SGD at the schedule's rate for the current step, which moves on by one. The batch holds the
  // full batch's images or the last partial batch's; batch_index (1-based) is for messages only.
  StepResult step(const Batch& batch, std::int64_t batch_index = 1);
  // Trains the next epoch (the last partial batch included) and evaluates on the test set. Divergence
  // is an error: the first non-finite loss, gradient, parameter, momentum or state value throws,
  // naming the step and the tensor (and the test loss after the epoch must be finite too).
  EpochMetrics train_epoch(const BatchCallback& on_batch = {});
  // Trains the remaining epochs; on_epoch runs after each (write the checkpoint there).
  void run(const BatchCallback& on_batch = {}, const EpochCallback& on_epoch = {});

  std::int64_t steps_per_epoch() const { return steps_per_epoch_; }
  // Values and bytes one step combines over the processes: every parameter gradient and the loss,
  // as one flat buffer per floating-point type.
  std::int64_t combined_values_per_step() const { return combined_values_; }
  std::int64_t combined_bytes_per_step() const { return combined_bytes_; }
  Communicator& communicator() const { return *comm_; }
  // Bytes the run's buffers need at their peak: the full-batch and last-batch step plans, whose
  // buffers stay allocated between steps, plus one evaluation plan; the model's own tensors and the
  // datasets are not counted (they are already in memory).
  std::int64_t peak_bytes() const { return peak_bytes_; }
  const Schedule& schedule() const { return schedule_; }
  const Normalization& normalization() const { return norm_; }
  const TrainOptions& options() const { return options_; }
  // Every completed epoch's metrics, those before a resume included (kept in the model's metadata).
  const std::vector<EpochMetrics>& history() const { return history_; }

 private:
  struct StepPlan {
    runtime::Plan plan;
    ValueId loss = kNoValue, logits = kNoValue;
    std::vector<std::pair<std::string, ValueId>> gradients;      // parameter name, gradient
    std::vector<std::pair<std::string, ValueId>> state_updates;  // state name, next value
  };
  StepPlan build_step_plan(std::int64_t batch) const;
  // How a global batch of `images` is computed: in this rank's micro-batches (first image, images),
  // each a subtree of the canonical tree; or whole, when `micro` is empty.
  struct StepLayout {
    std::int64_t images = 0;
    std::vector<std::pair<std::int64_t, std::int64_t>> micro;
  };
  StepLayout make_layout(std::int64_t images) const;
  const StepPlan& plan_for(std::int64_t images) const;
  struct StepOutcome;
  StepOutcome whole_step(const Batch& batch, std::uint64_t seed);
  StepOutcome sliced_step(const StepLayout& layout, const Batch& batch, std::uint64_t seed);

  Model& model_;
  const Dataset& train_;
  const Dataset* test_;
  TrainOptions options_;
  models::ModelSignature signature_;
  Normalization norm_;
  std::int64_t steps_per_epoch_ = 0;
  Schedule schedule_;
  SingleProcess single_process_;
  Communicator* comm_ = nullptr;
  std::int64_t full_batch_ = 0;
  StepLayout full_layout_;
  std::optional<StepLayout> remainder_layout_;
  std::map<std::int64_t, StepPlan> plans_;  // by the images of one run
  std::int64_t combined_values_ = 0, combined_bytes_ = 0;
  std::vector<EpochMetrics> history_;
  std::int64_t peak_bytes_ = 0;
};

}  // namespace dagrad::train
