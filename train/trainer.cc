#include "train/trainer.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <span>

#include "autodiff/grad.h"
#include "graph/error.h"
#include "ops/kernels/batch_groups.h"
#include "runtime/canonical_batch.h"
#include "runtime/memory.h"
#include "train/random.h"

namespace dagrad::train {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Doubles in metadata keep all 17 significant digits, so they read back to the same bits.
std::string exact(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.17g", v);
  return buffer;
}

double parse_double(const std::string& text, const std::string& what) {
  try {
    std::size_t used = 0;
    double v = std::stod(text, &used);
    if (used == text.size()) return v;
  } catch (const std::exception&) {
  }
  fail(what, ": '", text, "' is not a number");
}

double hyperparameter(const TrainingState& state, const std::string& name) {
  auto it = state.hyperparameters.find(name);
  if (it == state.hyperparameters.end()) fail("training state: missing hyperparameter '", name, "'");
  return it->second;
}

// A copy of the graph with every input's leading (batch) dim set to `batch`.
Graph with_batch(const Graph& graph, std::int64_t batch, bool training) {
  Graph copy = graph;
  copy.set_training(training);
  std::unordered_map<std::string, Shape> shapes;
  for (ValueId id : copy.values_of_kind(ValueKind::input)) {
    const ValueInfo& info = copy.value(id);
    if (info.type.shape.empty()) fail("input '", info.name, "' is a scalar; expected a leading batch dim");
    Shape shape = info.type.shape;
    shape[0] = batch;
    shapes[info.name] = shape;
  }
  copy.reshape_inputs(shapes);
  return copy;
}

// The graph's signature, checked against the dataset's samples.
models::ModelSignature check_inputs(const Graph& graph, const Dataset& data) {
  models::ModelSignature sig = models::ModelSignature::of(graph);
  const Shape sample = sig.sample_shape(graph);
  if (sample != data.sample_shape())
    fail("the model takes samples of shape ", to_string(sample), " (input '", graph.value(sig.image).name, "' ",
         to_string(graph.value(sig.image).type), ") but the dataset's are ", to_string(data.sample_shape()));
  return sig;
}

// Feeds a batch to the signature's inputs.
void feed_batch(runtime::Feeds& feeds, const Graph& graph, const models::ModelSignature& sig, const Batch& batch) {
  feeds[graph.value(sig.image).name] = &batch.images;
  feeds[graph.value(sig.label).name] = &batch.labels;
}

// Predictions are the first largest logit of each row.
std::int64_t count_correct(const Tensor& logits, const Tensor& labels, std::vector<std::vector<std::int64_t>>* confusion) {
  if (logits.rank() != 2 || logits.dim(0) != labels.numel())
    fail("logits ", to_string(logits.shape()), " do not match ", labels.numel(), " labels");
  const std::int64_t rows = logits.dim(0), classes = logits.dim(1);
  std::span<const std::int64_t> truth = labels.data<std::int64_t>();
  std::int64_t correct = 0;
  for (std::int64_t r = 0; r < rows; ++r) {
    std::int64_t best = 0;
    double best_value = logits.at(r * classes);
    for (std::int64_t k = 1; k < classes; ++k) {
      double v = logits.at(r * classes + k);
      if (v > best_value) {
        best_value = v;
        best = k;
      }
    }
    const std::int64_t label = truth[static_cast<std::size_t>(r)];
    correct += best == label;
    if (confusion) {
      if (label < 0 || label >= static_cast<std::int64_t>(confusion->size()) || best >= static_cast<std::int64_t>(confusion->size()))
        fail("label ", label, " or prediction ", best, " is outside the ", confusion->size(), " classes");
      ++(*confusion)[static_cast<std::size_t>(label)][static_cast<std::size_t>(best)];
    }
  }
  return correct;
}

// Splits a map of initial tensors into the model's parameters and state.
void fill_missing_tensors(Model& model) {
  TensorMap initial;
  for (const ValueInfo& v : model.graph.values()) {
    TensorMap* target = v.kind == ValueKind::parameter ? &model.parameters
                        : v.kind == ValueKind::state   ? &model.state
                                                       : nullptr;
    if (!target || target->count(v.name)) continue;
    target->emplace(v.name, initialize(v.init, v.type));
  }
}

// Throws naming the step and the tensor when `t` holds a non-finite value.
void check_finite(const Tensor& t, const std::string& what, const TrainingState& state, std::int64_t batch) {
  if (auto bad = first_non_finite(what, t))
    fail("train: diverged at step ", state.step, " (epoch ", state.epoch + 1, ", batch ", batch, "): ", *bad,
         "; try a lower learning rate");
}

std::uint64_t step_seed(std::uint64_t seed, std::int64_t step) {
  return SplitMix64(seed ^ (static_cast<std::uint64_t>(step) * 0xd1b54a32d192ed03ULL)).next();
}

// Images [first, first + count) of a batch, copied.
Batch sub_batch(const Batch& batch, std::int64_t first, std::int64_t count) {
  auto rows = [&](const Tensor& t) {
    Shape shape = t.shape();
    shape[0] = count;
    Tensor part(t.dtype(), shape);
    const std::size_t row_bytes = t.nbytes() / static_cast<std::size_t>(t.dim(0));
    std::memcpy(part.raw(), static_cast<const std::byte*>(t.raw()) + static_cast<std::size_t>(first) * row_bytes,
                static_cast<std::size_t>(count) * row_bytes);
    return part;
  };
  return Batch{rows(batch.images), rows(batch.labels)};
}

// Tensors laid end to end as bytes, and back into tensors of known types.
void append_bytes(std::vector<std::byte>& out, const Tensor& t) {
  const auto* first = static_cast<const std::byte*>(t.raw());
  out.insert(out.end(), first, first + t.nbytes());
}
Tensor take_bytes(std::span<const std::byte>& in, const TensorType& type) {
  Tensor t(type.dtype, type.shape);
  if (in.size() < t.nbytes()) fail("train: a step's broadcast result is ", in.size(), " bytes short");
  std::memcpy(t.raw(), in.data(), t.nbytes());
  in = in.subspan(t.nbytes());
  return t;
}

// The nearest global batches below and above `batch` that split into `parts` subtrees: parts x 2^k
// whole groups.
std::string batch_suggestion(std::int64_t batch, std::int64_t parts) {
  std::int64_t below = 0, above = kernels::kImagesPerGroup * parts;
  while (above < batch) {
    below = above;
    above *= 2;
  }
  return below > 0 ? std::to_string(below) + " or " + std::to_string(above) : std::to_string(above);
}

}  // namespace

void store_train_options(const TrainOptions& o, Model& model) {
  if (!model.training) model.training.emplace();
  TrainingState& s = *model.training;
  s.optimizer = "sgd";
  s.hyperparameters["lr"] = o.sgd.lr;
  s.hyperparameters["momentum"] = o.sgd.momentum;
  s.hyperparameters["weight_decay"] = o.sgd.weight_decay;
  s.hyperparameters["nesterov"] = o.sgd.nesterov ? 1 : 0;
  s.hyperparameters["epochs"] = static_cast<double>(o.epochs);
  s.hyperparameters["batch"] = static_cast<double>(o.batch);
  s.hyperparameters["warmup_epochs"] = o.warmup_epochs;
  s.hyperparameters["eval_batch"] = static_cast<double>(o.eval_batch);
  s.rng_seed = o.seed;
  model.metadata["train.schedule"] = o.schedule;
}

TrainOptions stored_train_options(const Model& model) {
  if (!model.training) fail("the model has no training state to resume from");
  const TrainingState& s = *model.training;
  if (s.optimizer != "sgd") fail("training state: optimizer '", s.optimizer, "' is not supported (sgd)");
  TrainOptions o;
  o.sgd.lr = hyperparameter(s, "lr");
  o.sgd.momentum = hyperparameter(s, "momentum");
  o.sgd.weight_decay = hyperparameter(s, "weight_decay");
  o.sgd.nesterov = hyperparameter(s, "nesterov") != 0;
  o.epochs = static_cast<std::int64_t>(hyperparameter(s, "epochs"));
  o.batch = static_cast<std::int64_t>(hyperparameter(s, "batch"));
  o.warmup_epochs = hyperparameter(s, "warmup_epochs");
  o.eval_batch = static_cast<std::int64_t>(hyperparameter(s, "eval_batch"));
  o.seed = s.rng_seed;
  auto it = model.metadata.find("train.schedule");
  if (it == model.metadata.end()) fail("training state: missing metadata 'train.schedule'");
  o.schedule = it->second;
  return o;
}

void store_run_record(const RunRecord& r, Model& model) {
  model.metadata["dataset"] = r.data_dir;  // evaluate's default data folder too
  model.metadata["train.limit_train"] = std::to_string(r.limit_train);
  model.metadata["train.limit_test"] = std::to_string(r.limit_test);
  if (r.image_size > 0) model.metadata["train.image_size"] = std::to_string(r.image_size);
  model.metadata["train.out"] = r.out;
  model.metadata["train.checkpoint"] = r.checkpoint;
  model.metadata["train.metrics"] = r.metrics;
}

std::optional<RunRecord> stored_run_record(const Model& model) {
  const char* keys[] = {"dataset", "train.limit_train", "train.limit_test", "train.out", "train.checkpoint", "train.metrics"};
  std::size_t present = 0;
  for (const char* key : keys) present += model.metadata.count(key);
  if (present == 0 || (present == 1 && model.metadata.count("dataset"))) return std::nullopt;  // written before runs were recorded
  auto text = [&](const char* key) {
    auto it = model.metadata.find(key);
    if (it == model.metadata.end() || it->second.empty()) fail("training state: missing metadata '", key, "'");
    return it->second;
  };
  auto count = [&](const char* key) {
    const std::string value = text(key);
    std::size_t used = 0;
    long long n = -1;
    try {
      n = std::stoll(value, &used);
    } catch (const std::exception&) {
    }
    if (used != value.size() || n < 0) fail("training state: metadata '", key, "' is '", value, "', not a count");
    return static_cast<std::int64_t>(n);
  };
  return RunRecord{.data_dir = text("dataset"), .limit_train = count("train.limit_train"), .limit_test = count("train.limit_test"),
                   .image_size = model.metadata.count("train.image_size") ? count("train.image_size") : 0,
                   .out = text("train.out"), .checkpoint = text("train.checkpoint"), .metrics = text("train.metrics")};
}

void store_normalization(const Normalization& norm, Model& model) {
  model.metadata["normalization.mean"] = exact(norm.mean);
  model.metadata["normalization.std"] = exact(norm.std);
}

std::optional<Normalization> stored_normalization(const Model& model) {
  auto mean = model.metadata.find("normalization.mean");
  auto std = model.metadata.find("normalization.std");
  if (mean == model.metadata.end() || std == model.metadata.end()) return std::nullopt;
  Normalization norm{parse_double(mean->second, "metadata normalization.mean"),
                     parse_double(std->second, "metadata normalization.std")};
  if (!(norm.std > 0)) fail("metadata normalization.std must be positive, got ", norm.std);
  return norm;
}

std::vector<double> Evaluation::class_accuracy() const {
  std::vector<double> accuracy;
  for (std::size_t k = 0; k < confusion.size(); ++k) {
    std::int64_t total = 0;
    for (std::int64_t n : confusion[k]) total += n;
    accuracy.push_back(total ? static_cast<double>(confusion[k][k]) / static_cast<double>(total)
                             : std::numeric_limits<double>::quiet_NaN());
  }
  return accuracy;
}

Evaluation evaluate(const Model& model, const Dataset& data, const Normalization& norm, const EvalOptions& options) {
  const auto start = Clock::now();
  const models::ModelSignature sig = check_inputs(model.graph, data);
  if (options.batch < 1) fail("evaluate: batch size must be positive, got ", options.batch);
  if (model.graph.loss() == kNoValue) fail("evaluate: the model has no loss");
  if (auto bad = first_non_finite(model.parameters)) fail("evaluate: non-finite parameter ", *bad);
  if (auto bad = first_non_finite(model.state)) fail("evaluate: non-finite state ", *bad);
  const std::int64_t n = data.size();
  if (n < 1) fail("evaluate: the dataset holds no samples");
  const std::int64_t batch = std::min(options.batch, n);
  const DType dtype = model.graph.value(sig.image).type.dtype;

  // Plans for the full batches and, if the size does not divide, for the last one.
  struct EvalPlan {
    runtime::Plan plan;
    ValueId loss, logits;
  };
  auto make_plan = [&](std::int64_t size) {
    Graph g = with_batch(model.graph, size, false);
    ValueId logits = models::ModelSignature::of(g).logits;
    return EvalPlan{runtime::compile(g, {.threads = options.threads}, {g.loss(), logits}), g.loss(), logits};
  };
  EvalPlan full = make_plan(batch);
  std::optional<EvalPlan> remainder;
  if (n % batch) remainder = make_plan(n % batch);
  if (options.check_memory) {
    // The plans' peaks, the model's tensors, and two batches of inputs (the one running and the one
    // the loader assembles meanwhile); the dataset is already in memory.
    std::int64_t needed = full.plan.peak_bytes() + (remainder ? remainder->plan.peak_bytes() : 0);
    for (const TensorMap* map : {&model.parameters, &model.state})
      for (const auto& [name, t] : *map) needed += static_cast<std::int64_t>(t.nbytes());
    for (ValueId id : full.plan.graph().values_of_kind(ValueKind::input))
      needed += 2 * byte_count(full.plan.graph().value(id).type.shape, full.plan.graph().value(id).type.dtype);
    runtime::check_memory_fits(needed, "evaluation at batch " + std::to_string(batch));
  }

  Evaluation result;
  result.confusion.assign(static_cast<std::size_t>(data.classes()), std::vector<std::int64_t>(static_cast<std::size_t>(data.classes())));
  // Each process evaluates a contiguous run of whole batches, the very batches one process would run.
  SingleProcess alone;
  Communicator& comm = options.communicator ? *options.communicator : alone;
  const std::int64_t batches = (n + batch - 1) / batch;
  const std::int64_t first_batch = batches * comm.rank() / comm.size(), end_batch = batches * (comm.rank() + 1) / comm.size();
  std::int64_t first_image = first_batch * batch;
  std::vector<std::int64_t> order;
  for (std::int64_t i = first_image; i < std::min(n, end_batch * batch); ++i) order.push_back(i);
  std::vector<double> batch_losses;  // loss x images per batch, summed in batch order below
  std::int64_t correct = 0;
  if (!order.empty()) {
    BatchLoader loader(data, std::move(order), batch, norm, dtype);
    runtime::Feeds feeds = runtime::feeds_from({&model.parameters, &model.state});
    for (std::int64_t batch_index = first_batch + 1; !loader.done(); ++batch_index) {
      Batch b = loader.next();
      const EvalPlan& p = b.size() == batch ? full : *remainder;
      feed_batch(feeds, model.graph, sig, b);
      runtime::RunResult r = runtime::run(p.plan, feeds);
      auto where = [&] {
        return " in batch " + std::to_string(batch_index) + " (images " + std::to_string(first_image) + " to " +
               std::to_string(first_image + b.size() - 1) + ")";
      };
      if (auto bad = first_non_finite("loss", r.at(p.loss))) fail("evaluate: non-finite ", *bad, where());
      if (auto bad = first_non_finite("logits", r.at(p.logits))) fail("evaluate: non-finite ", *bad, where());
      batch_losses.push_back(r.at(p.loss).at(0) * static_cast<double>(b.size()));
      correct += count_correct(r.at(p.logits), b.labels, &result.confusion);
      first_image += b.size();
    }
  }
  double loss_sum = 0;
  if (comm.size() == 1) {
    for (double v : batch_losses) loss_sum += v;
  } else {
    for (const auto& rank_losses : comm.allgather(std::as_bytes(std::span<const double>(batch_losses))))
      for (std::size_t i = 0; i < rank_losses.size() / sizeof(double); ++i) {
        double v;
        std::memcpy(&v, rank_losses.data() + i * sizeof v, sizeof v);
        loss_sum += v;
      }
    std::vector<std::int64_t> counts{correct};
    for (const auto& row : result.confusion) counts.insert(counts.end(), row.begin(), row.end());
    counts = sum_over_ranks(comm, counts);
    correct = counts[0];
    std::size_t at = 1;
    for (auto& row : result.confusion)
      for (std::int64_t& cell : row) cell = counts[at++];
  }
  result.samples = n;
  result.loss = loss_sum / static_cast<double>(n);
  result.accuracy = static_cast<double>(correct) / static_cast<double>(n);
  result.seconds = seconds_since(start);
  return result;
}

Trainer::Trainer(Model& model, const Dataset& train, const Dataset* test, TrainOptions options)
    : model_(model), train_(train), test_(test), options_(std::move(options)) {
  if (options_.epochs < 1) fail("train: epochs must be positive, got ", options_.epochs);
  if (options_.batch < 1) fail("train: batch size must be positive, got ", options_.batch);
  if (options_.eval_batch < 1) fail("train: evaluation batch size must be positive, got ", options_.eval_batch);
  const SgdOptions& sgd = options_.sgd;
  if (!(std::isfinite(sgd.lr) && sgd.lr >= 0)) fail("train: the learning rate must be finite and non-negative, got ", sgd.lr);
  if (!(sgd.momentum >= 0 && sgd.momentum < 1)) fail("train: momentum must be in [0, 1), got ", sgd.momentum);
  if (!(std::isfinite(sgd.weight_decay) && sgd.weight_decay >= 0))
    fail("train: weight decay must be finite and non-negative, got ", sgd.weight_decay);
  if (model.graph.loss() == kNoValue) fail("train: the model has no loss");
  signature_ = check_inputs(model.graph, train);
  if (test) check_inputs(model.graph, *test);
  if (test && test->classes() != train.classes())
    fail("train: the test set has ", test->classes(), " classes, the training set ", train.classes());
  fill_missing_tensors(model);

  if (!model.training) {
    store_train_options(options_, model);
    model.training->rng_state = initial_rng_state(options_.seed);
  } else {
    store_train_options(options_, model);  // a resumed run may change the recipe (e.g. more epochs)
  }
  init_sgd_buffers(model.parameters, *model.training);
  if (auto history = model.metadata.find("train.history"); history != model.metadata.end())
    history_ = parse_metrics_csv(history->second);
  if (static_cast<std::int64_t>(history_.size()) > model.training->epoch)  // rows of epochs the state does not hold
    history_.resize(static_cast<std::size_t>(model.training->epoch));

  if (auto norm = stored_normalization(model)) {
    norm_ = *norm;
  } else {
    norm_ = compute_normalization(train);
    store_normalization(norm_, model);
  }

  steps_per_epoch_ = (train.size() + options_.batch - 1) / options_.batch;
  schedule_ = make_schedule(options_.schedule, options_.sgd.lr, steps_per_epoch_, options_.epochs, options_.warmup_epochs);
  comm_ = options_.communicator ? options_.communicator : &single_process_;
  if (options_.accumulate < 1) fail("train: accumulate must be at least 1 micro-batch, got ", options_.accumulate);
  full_batch_ = std::min(options_.batch, train.size());
  const std::int64_t processes = comm_->size(), micro = options_.accumulate, parts = processes * micro;
  if (parts > 1 && !kernels::splits_into_subtrees(full_batch_, parts))
    fail("train: batch ", full_batch_, " does not split over ", processes, " process", processes > 1 ? "es" : "", " x ", micro,
         " micro-batch", micro > 1 ? "es" : "", ": the batch is ", kernels::batch_groups(full_batch_), " groups of ",
         kernels::kImagesPerGroup, " images, and each of the ", parts,
         " slices must hold the same power-of-two number of whole groups (the canonical reduction's subtrees) for the result "
         "to be the one-process result; use a batch of ", batch_suggestion(full_batch_, parts), " images");
  full_layout_ = make_layout(full_batch_);
  if (train.size() % full_batch_) remainder_layout_ = make_layout(train.size() % full_batch_);
  for (const StepLayout* layout : {&full_layout_, remainder_layout_ ? &*remainder_layout_ : nullptr}) {
    if (!layout) continue;
    if (layout->micro.empty()) {
      if (!plans_.count(layout->images)) plans_.emplace(layout->images, build_step_plan(layout->images));
    } else {
      for (auto [first, images] : layout->micro)
        if (!plans_.count(images)) plans_.emplace(images, build_step_plan(images));
    }
  }
  const StepPlan& any_plan = plans_.begin()->second;
  if (parts > 1) {
    const std::vector<std::string> bad = runtime::non_canonical_batch_nodes(any_plan.plan.graph());
    if (!bad.empty()) {
      std::string nodes;
      for (std::size_t i = 0; i < bad.size() && i < 5; ++i) nodes += (i ? ", " : "") + bad[i];
      if (bad.size() > 5) nodes += " and " + std::to_string(bad.size() - 5) + " more";
      fail("train: this model cannot be trained over ", processes, " process", processes > 1 ? "es" : "", " x ", micro,
           " micro-batch", micro > 1 ? "es" : "", " with the one-process result: ", bad.size(), " node", bad.size() > 1 ? "s sum" : " sums",
           " over the batch outside the canonical reduction (", nodes, "); train it on one process without --accumulate");
    }
  }
  if (micro > 1 && !any_plan.state_updates.empty()) {
    std::string states;
    for (const auto& [name, next] : any_plan.state_updates) states += (states.empty() ? "" : ", ") + name;
    fail("train: --accumulate ", micro, " cannot give the result of one batch of ", full_batch_,
         " for this model: its training-mode batch norms normalize by statistics over the whole batch (state ", states,
         "), which no micro-batch sees. Train it without --accumulate, or over several processes (mpirun -np N dagrad "
         "train ...), where batch norm combines the statistics of every process's share");
  }
  for (const auto& [name, grad] : any_plan.gradients) {
    const TensorType& type = any_plan.plan.graph().value(grad).type;
    combined_values_ += element_count(type.shape);
    combined_bytes_ += byte_count(type.shape, type.dtype);
  }
  combined_values_ += 1;  // the loss
  combined_bytes_ += static_cast<std::int64_t>(dtype_size(any_plan.plan.graph().value(any_plan.loss).type.dtype));
  for (const auto& [images, p] : plans_) peak_bytes_ += p.plan.peak_bytes();
  if (test) {
    Graph eval = with_batch(model.graph, std::min(options_.eval_batch, test->size()), false);
    peak_bytes_ += runtime::compile(eval, {.threads = 1}, {eval.loss(), models::ModelSignature::of(eval).logits}).peak_bytes();
  }
}

Trainer::StepLayout Trainer::make_layout(std::int64_t images) const {
  StepLayout layout{.images = images};
  const std::int64_t micro = options_.accumulate, parts = comm_->size() * micro;
  // A batch that cannot be cut into subtrees (only ever the last, partial one: the full batch is
  // checked above) is computed whole, by rank 0 alone when there are several processes.
  if (parts == 1 || !kernels::splits_into_subtrees(images, parts)) return layout;
  const std::int64_t per_slice = kernels::batch_groups(images) / parts * kernels::kImagesPerGroup;
  for (std::int64_t k = 0; k < micro; ++k) {
    const std::int64_t slice = comm_->rank() * micro + k;
    const std::int64_t first = slice * per_slice;
    layout.micro.emplace_back(first, std::min(images, first + per_slice) - first);
  }
  return layout;
}

const Trainer::StepPlan& Trainer::plan_for(std::int64_t images) const {
  auto it = plans_.find(images);
  if (it == plans_.end()) fail("train: no step plan for a run of ", images, " images");
  return it->second;
}

Trainer::StepPlan Trainer::build_step_plan(std::int64_t batch) const {
  // Reshape the forward graph, then differentiate: backward ops carry shapes in their attributes.
  Graph forward = with_batch(model_.graph, batch, true);
  autodiff::Gradients grads = autodiff::grad_parameters(forward);
  const Graph& g = grads.graph;
  StepPlan p;
  p.loss = g.loss();
  p.logits = models::ModelSignature::of(g).logits;
  std::vector<ValueId> fetch{p.loss, p.logits};
  for (auto [wrt, grad] : g.gradients()) {
    p.gradients.emplace_back(g.value(wrt).name, grad);
    fetch.push_back(grad);
  }
  for (auto [state, next] : g.state_updates()) {
    p.state_updates.emplace_back(g.value(state).name, next);
    fetch.push_back(next);
  }
  p.plan = runtime::compile(g, {.threads = options_.threads, .check_numerics = options_.check_numerics, .fuse = options_.fuse}, fetch);
  return p;
}

// What a step computed, whichever way: the global batch's mean loss, its correct predictions, every
// parameter's gradient and every state's next value (in the order of the plan's lists).
struct Trainer::StepOutcome {
  const StepPlan* plan = nullptr;
  double loss = 0;
  std::int64_t correct = 0;
  std::vector<Tensor> gradients, state_updates;
};

Trainer::StepOutcome Trainer::whole_step(const Batch& batch, std::uint64_t seed) {
  const StepPlan& p = plan_for(batch.size());
  StepOutcome out{.plan = &p};
  const Graph& g = p.plan.graph();
  std::vector<std::byte> payload;  // what rank 0 sends the others: loss, gradients, state updates, correct
  if (comm_->rank() == 0) {
    runtime::Feeds feeds = runtime::feeds_from({&model_.parameters, &model_.state});
    feed_batch(feeds, model_.graph, signature_, batch);
    runtime::RunResult r = runtime::run(p.plan, feeds, runtime::RunSettings{.step_seed = seed});
    out.correct = count_correct(r.at(p.logits), batch.labels, nullptr);
    if (comm_->size() > 1) {
      append_bytes(payload, r.at(p.loss));
      for (const auto& [name, grad] : p.gradients) append_bytes(payload, r.at(grad));
      for (const auto& [name, next] : p.state_updates) append_bytes(payload, r.at(next));
      const auto* correct = reinterpret_cast<const std::byte*>(&out.correct);
      payload.insert(payload.end(), correct, correct + sizeof out.correct);
    }
    out.loss = r.at(p.loss).at(0);
    for (const auto& [name, grad] : p.gradients) out.gradients.push_back(std::move(r.values.at(grad)));
    for (const auto& [name, next] : p.state_updates) out.state_updates.push_back(std::move(r.values.at(next)));
  }
  if (comm_->size() == 1) return out;
  // Several processes, and a (last, partial) batch that is not cut into subtrees: every rank takes
  // rank 0's result, so the weights stay the same everywhere.
  std::int64_t bytes = byte_count(g.value(p.loss).type.shape, g.value(p.loss).type.dtype) + static_cast<std::int64_t>(sizeof out.correct);
  for (const auto& [name, grad] : p.gradients) bytes += byte_count(g.value(grad).type.shape, g.value(grad).type.dtype);
  for (const auto& [name, next] : p.state_updates) bytes += byte_count(g.value(next).type.shape, g.value(next).type.dtype);
  payload.resize(static_cast<std::size_t>(bytes));
  comm_->broadcast(payload, 0);
  if (comm_->rank() != 0) {
    std::span<const std::byte> in(payload);
    out.loss = take_bytes(in, g.value(p.loss).type).at(0);
    for (const auto& [name, grad] : p.gradients) out.gradients.push_back(take_bytes(in, g.value(grad).type));
    for (const auto& [name, next] : p.state_updates) out.state_updates.push_back(take_bytes(in, g.value(next).type));
    std::memcpy(&out.correct, in.data(), sizeof out.correct);
  }
  return out;
}

Trainer::StepOutcome Trainer::sliced_step(const StepLayout& layout, const Batch& batch, std::uint64_t seed) {
  // Each micro-batch's loss and gradients are its subtree sums (the loss already divided by the
  // global batch). They go into one flat buffer per floating-point type, one node per micro-batch;
  // the micro-batches' nodes are combined here, then the ranks' roots by the communicator, both in
  // the canonical tree. With one micro-batch per rank, the communicator is also the runs' combiner:
  // batch-norm statistics and the loss are then finished inside the run, over every rank. (With
  // several, a combiner over ranks would add one micro-batch of each rank, which is no subtree: the
  // runs get none, and batch norm, which needs one, is refused at start.)
  const bool combiner_in_run = comm_->size() > 1 && layout.micro.size() == 1;
  const StepPlan& first_plan = plan_for(layout.micro.front().second);
  std::vector<ValueId> flat_values{first_plan.loss};
  for (const auto& [name, grad] : first_plan.gradients) flat_values.push_back(grad);
  std::int64_t f32_size = 0, f64_size = 0;
  for (ValueId id : flat_values) {
    const TensorType& type = first_plan.plan.graph().value(id).type;
    if (type.dtype != DType::f32 && type.dtype != DType::f64)
      fail("train: '", first_plan.plan.graph().value(id).name, "' is ", to_string(type), "; data-parallel steps combine f32 and f64 values");
    (type.dtype == DType::f32 ? f32_size : f64_size) += element_count(type.shape);
  }
  const auto micro = static_cast<std::int64_t>(layout.micro.size());
  std::vector<float> f32(static_cast<std::size_t>(micro * f32_size));
  std::vector<double> f64(static_cast<std::size_t>(micro * f64_size));
  StepOutcome out{.plan = &first_plan};
  for (std::int64_t k = 0; k < micro; ++k) {
    const auto [first, images] = layout.micro[static_cast<std::size_t>(k)];
    const StepPlan& p = plan_for(images);
    const Batch part = sub_batch(batch, first, images);
    runtime::Feeds feeds = runtime::feeds_from({&model_.parameters, &model_.state});
    feed_batch(feeds, model_.graph, signature_, part);
    runtime::RunSettings settings{.step_seed = seed,
                                  .batch = {.global_batch = layout.images, .first_image = first,
                                            .combiner = combiner_in_run ? comm_ : nullptr}};
    runtime::RunResult r = runtime::run(p.plan, feeds, settings);
    out.correct += count_correct(r.at(p.logits), part.labels, nullptr);
    std::int64_t at32 = k * f32_size, at64 = k * f64_size;
    auto pack = [&](const Tensor& t) {
      if (t.dtype() == DType::f32) {
        std::span<const float> v = t.data<float>();
        std::copy(v.begin(), v.end(), f32.begin() + at32);
        at32 += static_cast<std::int64_t>(v.size());
      } else {
        std::span<const double> v = t.data<double>();
        std::copy(v.begin(), v.end(), f64.begin() + at64);
        at64 += static_cast<std::int64_t>(v.size());
      }
    };
    pack(r.at(p.loss));
    if (combiner_in_run) out.loss = r.at(p.loss).at(0);  // already the global batch's mean
    for (const auto& [name, grad] : p.gradients) pack(r.at(grad));
    // Batch-norm statistics are global within each run (the combiner), so the last run's next
    // state is every run's and every rank's (a model with state is never accumulated).
    if (k == micro - 1)
      for (const auto& [name, next] : p.state_updates) out.state_updates.push_back(std::move(r.values.at(next)));
  }
  kernels::tree_combine(f32.data(), micro, f32_size, f32_size);
  kernels::tree_combine(f64.data(), micro, f64_size, f64_size);
  if (comm_->size() > 1) {
    if (f32_size > 0) comm_->combine(std::span<float>(f32.data(), static_cast<std::size_t>(f32_size)));
    if (f64_size > 0) comm_->combine(std::span<double>(f64.data(), static_cast<std::size_t>(f64_size)));
    const std::int64_t mine[] = {out.correct};
    out.correct = sum_over_ranks(*comm_, mine)[0];
  }
  std::int64_t at32 = 0, at64 = 0;
  auto unpack = [&](ValueId id) {
    const TensorType& type = first_plan.plan.graph().value(id).type;
    Tensor t(type.dtype, type.shape);
    if (type.dtype == DType::f32) {
      std::span<float> v = t.data<float>();
      std::copy(f32.begin() + at32, f32.begin() + at32 + static_cast<std::int64_t>(v.size()), v.begin());
      at32 += static_cast<std::int64_t>(v.size());
    } else {
      std::span<double> v = t.data<double>();
      std::copy(f64.begin() + at64, f64.begin() + at64 + static_cast<std::int64_t>(v.size()), v.begin());
      at64 += static_cast<std::int64_t>(v.size());
    }
    return t;
  };
  const double combined_loss = unpack(first_plan.loss).at(0);
  if (!combiner_in_run) out.loss = combined_loss;
  for (const auto& [name, grad] : first_plan.gradients) out.gradients.push_back(unpack(grad));
  return out;
}

Trainer::StepResult Trainer::step(const Batch& batch, std::int64_t batch_index) {
  const StepLayout* layout = batch.size() == full_layout_.images                              ? &full_layout_
                             : remainder_layout_ && batch.size() == remainder_layout_->images ? &*remainder_layout_
                                                                                               : nullptr;
  if (!layout)
    fail("train: a step takes batches of ", full_batch_, remainder_layout_ ? " or " + std::to_string(remainder_layout_->images) : "",
         " images, got ", batch.size());
  TrainingState& state = *model_.training;
  const std::uint64_t seed = step_seed(state.rng_seed, state.step);
  StepOutcome out = layout->micro.empty() ? whole_step(batch, seed) : sliced_step(*layout, batch, seed);
  const StepPlan& p = *out.plan;
  // Nothing is applied until the loss, every gradient and every state update are known to be finite.
  if (!std::isfinite(out.loss)) check_finite(Tensor::scalar(DType::f64, out.loss), "the loss", state, batch_index);
  for (std::size_t i = 0; i < p.gradients.size(); ++i)
    check_finite(out.gradients[i], "the gradient of " + p.gradients[i].first, state, batch_index);
  for (std::size_t i = 0; i < p.state_updates.size(); ++i)
    check_finite(out.state_updates[i], "state " + p.state_updates[i].first, state, batch_index);
  for (std::size_t i = 0; i < p.state_updates.size(); ++i) model_.state.at(p.state_updates[i].first) = std::move(out.state_updates[i]);
  const double lr = schedule_.lr_at(state.step);
  for (std::size_t i = 0; i < p.gradients.size(); ++i) {
    const std::string& name = p.gradients[i].first;
    Tensor& momentum = state.buffers.at(momentum_buffer_name(name));
    sgd_update(model_.parameters.at(name), out.gradients[i], momentum, lr, options_.sgd);
    check_finite(momentum, "the momentum of " + name, state, batch_index);
    check_finite(model_.parameters.at(name), "parameter " + name + " after the update", state, batch_index);
  }
  ++state.step;
  return {.loss = out.loss, .correct = out.correct};
}

bool Trainer::finished() const { return model_.training->epoch >= options_.epochs; }

EpochMetrics Trainer::train_epoch(const BatchCallback& on_batch) {
  if (finished()) fail("train: all ", options_.epochs, " epochs are done");
  TrainingState& state = *model_.training;
  const auto start = Clock::now();
  SplitMix64 rng(state.rng_state);
  std::vector<std::int64_t> order = random_permutation(train_.size(), rng);
  const DType dtype = model_.graph.value(signature_.image).type.dtype;
  BatchLoader loader(train_, std::move(order), options_.batch, norm_, dtype);

  BatchProgress progress;
  progress.epoch = state.epoch + 1;
  progress.epochs = options_.epochs;
  progress.batches = loader.batches();
  double loss_sum = 0;
  std::int64_t correct = 0;
  double last_lr = 0;
  while (!loader.done()) {
    Batch batch = loader.next();  // starts assembling the following batch
    last_lr = schedule_.lr_at(state.step);
    auto [loss, batch_correct] = step(batch, progress.batch + 1);
    loss_sum += loss * static_cast<double>(batch.size());
    correct += batch_correct;
    progress.batch += 1;
    progress.images += batch.size();
    progress.step = state.step - 1;
    progress.step_loss = loss;
    if (on_batch) {
      progress.loss = loss_sum / static_cast<double>(progress.images);
      progress.accuracy = static_cast<double>(correct) / static_cast<double>(progress.images);
      progress.lr = last_lr;
      progress.seconds = seconds_since(start);
      on_batch(progress);
    }
  }
  EpochMetrics m;
  m.epoch = state.epoch + 1;
  m.lr = last_lr;
  m.train_loss = loss_sum / static_cast<double>(train_.size());
  m.train_accuracy = static_cast<double>(correct) / static_cast<double>(train_.size());
  m.train_seconds = seconds_since(start);
  m.test_loss = m.test_accuracy = std::numeric_limits<double>::quiet_NaN();
  if (test_) {
    Evaluation e = evaluate(model_, *test_, norm_, {.batch = options_.eval_batch, .threads = options_.threads, .communicator = comm_});
    if (!std::isfinite(e.loss))
      fail("train: diverged in epoch ", state.epoch + 1, ": the test loss is ", e.loss, " though every step was finite");
    m.test_loss = e.loss;
    m.test_accuracy = e.accuracy;
    m.test_seconds = e.seconds;
  }
  // Only now, with the epoch complete, does the state move on: a checkpoint is always at an epoch end.
  state.rng_state = rng.state();
  state.epoch += 1;
  history_.push_back(m);
  model_.metadata["train.history"] = metrics_csv(history_);
  return m;
}

void Trainer::run(const BatchCallback& on_batch, const EpochCallback& on_epoch) {
  while (!finished()) {
    EpochMetrics m = train_epoch(on_batch);
    if (on_epoch) on_epoch(m, model_);
  }
}

}  // namespace dagrad::train
