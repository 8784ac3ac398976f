// dagrad train: trains a zoo model (or a model file) on an MNIST-family dataset with SGD, writing an
// atomic checkpoint, a metrics CSV and an SVG plot after every epoch. The checkpoint carries the
// whole run (recipe, data folder, limits, output paths), so `--resume CHECKPOINT` alone continues it.
// Under mpirun every process trains its share of each global batch (train/communicator.h); rank 0
// alone prints and writes files, and any rank's error stops every rank.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <sstream>

#include "interop/onnx.h"
#include "models/signature.h"
#include "models/zoo.h"
#include "proto/file_lock.h"
#include "proto/model_file.h"
#include "runtime/memory.h"
#include "tools/cli.h"
#include "tools/model_source.h"
#include "tools/output_check.h"
#include "tools/progress.h"
#include "train/trainer.h"

namespace dagrad::cli {

namespace {

// Flags a resumed run may change; every other flag must agree with the checkpoint.
constexpr const char* kMayChangeOnResume =
    "--epochs (to extend the run), --threads, --accumulate, the number of processes, --step-log, --check-numerics and "
    "--ignore-memory-check";

// "out/resnet.dagrad" -> "out/resnet" (also strips ".dagrad.txt").
std::string strip_model_extension(const std::string& path) {
  for (const std::string ext : {".dagrad.txt", ".dagrad"})
    if (path.size() > ext.size() && path.compare(path.size() - ext.size(), ext.size(), ext) == 0)
      return path.substr(0, path.size() - ext.size());
  return path;
}

std::string absolute_path(const std::string& path) {
  return std::filesystem::absolute(std::filesystem::path(path)).lexically_normal().string();
}

template <class T> std::string text_of(const T& value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

// A value of the run: the checkpoint's when resuming, unless the flag was given, in which case the
// two must agree (a resume never silently changes the run).
class RunSettings {
 public:
  RunSettings(const po::variables_map& vm, const std::string* checkpoint) : vm_(vm), checkpoint_(checkpoint) {}

  bool given(const char* flag) const { return vm_.count(flag) && !vm_[flag].defaulted(); }

  template <class T> void settle(const char* flag, T& value, const T& from_flag) const {
    if (!checkpoint_) {
      if (vm_.count(flag)) value = from_flag;
      return;
    }
    if (given(flag) && !(from_flag == value))
      throw UsageError("--" + std::string(flag) + " " + text_of(from_flag) + " conflicts with the checkpoint " + *checkpoint_ +
                       ", whose run has " + text_of(value) + "; a resumed run keeps its settings (only " + kMayChangeOnResume +
                       " may change): leave the flag out, or start a new run with --from");
  }
  template <class T> void settle(const char* flag, T& value) const {
    if (vm_.count(flag)) settle(flag, value, vm_[flag].as<T>());
  }
  void settle_path(const char* flag, std::string& value) const {
    if (vm_.count(flag)) settle(flag, value, absolute_path(vm_[flag].as<std::string>()));
  }

 private:
  const po::variables_map& vm_;
  const std::string* checkpoint_;
};

// Writes one line per optimizer step: the step, the epoch, the batch and the loss, exactly (hex) and
// readably, so runs can be compared bitwise (`cmp`) whatever the number of processes.
class StepLog {
 public:
  explicit StepLog(const std::string& path) : path_(path), file_(std::fopen(path.c_str(), "w")) {
    if (!file_) fail("--step-log: cannot write ", path, ": ", std::strerror(errno));
    std::fprintf(file_, "step,epoch,batch,loss_hex,loss\n");
  }
  ~StepLog() {
    if (file_) std::fclose(file_);
  }
  StepLog(const StepLog&) = delete;
  StepLog& operator=(const StepLog&) = delete;
  void add(const train::BatchProgress& p) {
    std::fprintf(file_, "%lld,%lld,%lld,%a,%.9g\n", static_cast<long long>(p.step), static_cast<long long>(p.epoch),
                 static_cast<long long>(p.batch), p.step_loss, p.step_loss);
    if (std::fflush(file_) != 0) fail("--step-log: cannot write ", path_, ": ", std::strerror(errno));
  }

 private:
  std::string path_;
  std::FILE* file_;
};

// The parts of the run every process must agree on (train::check_same_launch).
std::uint64_t flags_fingerprint(const train::TrainOptions& r, const train::RunRecord& run, const std::string& source) {
  std::ostringstream text;
  text.precision(17);
  text << source << '|' << r.epochs << '|' << r.batch << '|' << r.sgd.lr << '|' << r.sgd.momentum << '|' << r.sgd.weight_decay << '|'
       << r.sgd.nesterov << '|' << r.schedule << '|' << r.warmup_epochs << '|' << r.seed << '|' << r.eval_batch << '|'
       << run.limit_train << '|' << run.limit_test << '|' << run.image_size << '|' << r.accumulate << '|' << r.check_numerics;
  return train::fnv1a(text.str());
}

std::uint64_t model_fingerprint(const Model& model) {
  std::uint64_t hash = train::fnv1a(std::to_string(model.graph.parameter_count()) + "|" + std::to_string(model.graph.values().size()));
  for (const TensorMap* map : {&model.parameters, &model.state})
    for (const auto& [name, t] : *map) {
      hash = train::fnv1a(name, hash);
      hash = train::fnv1a(std::span<const std::byte>(static_cast<const std::byte*>(t.raw()), t.nbytes()), hash);
    }
  if (model.training) hash = train::fnv1a(std::to_string(model.training->step) + "|" + std::to_string(model.training->rng_state), hash);
  return hash;
}

// Sizes, classes, every label, and the first and last image of each split.
std::uint64_t data_fingerprint(const train::Dataset& train_data, const train::Dataset& test_data) {
  std::uint64_t hash = train::fnv1a(std::string("data"));
  for (const train::Dataset* data : {&train_data, &test_data}) {
    hash = train::fnv1a(std::to_string(data->size()) + "|" + std::to_string(data->classes()) + "|" + to_string(data->sample_shape()), hash);
    std::vector<float> sample(static_cast<std::size_t>(element_count(data->sample_shape())));
    std::vector<std::int64_t> labels;
    for (std::int64_t i = 0; i < data->size(); ++i) {
      labels.push_back(data->get(i, sample));
      if (i == 0 || i == data->size() - 1) hash = train::fnv1a(std::as_bytes(std::span<const float>(sample)), hash);
    }
    hash = train::fnv1a(std::as_bytes(std::span<const std::int64_t>(labels)), hash);
  }
  return hash;
}

int train_on(train::Communicator& comm, const std::vector<std::string>& args);

}  // namespace

int run_train(const std::vector<std::string>& args) {
  std::unique_ptr<train::Communicator> comm = train::make_communicator();
  if (comm->size() == 1) return train_on(*comm, args);
  // Several processes: an error on any rank ends them all (the others may be waiting for it).
  const std::string rank = "rank " + std::to_string(comm->rank()) + " of " + std::to_string(comm->size());
  try {
    return train_on(*comm, args);
  } catch (const UsageError& e) {
    comm->abort(kExitUsage, "dagrad train (" + rank + "): " + e.what() + "\nTry 'dagrad train --help'.");
  } catch (const std::exception& e) {
    comm->abort(kExitFailure, "dagrad train (" + rank + "): error: " + e.what());
  }
  return kExitFailure;  // not reached: abort() ends every process
}

namespace {

int train_on(train::Communicator& comm, const std::vector<std::string>& args) {
  const bool lead = comm.rank() == 0;  // prints and writes files
  const train::TrainOptions defaults;
  po::options_description options("options");
  options.add_options()
      ("model", po::value<std::string>(), "zoo model to train from scratch (dagrad models lists them)")
      ("from", po::value<std::string>(), "model file to start from (.dagrad, .dagrad.txt or .onnx; its weights, its training state is dropped)")
      ("resume", po::value<std::string>(), "checkpoint to continue: the run it records, unchanged (see below)")
      ("data-dir", po::value<std::string>()->default_value(train::kDefaultDataDir),
       "folder of MNIST-family IDX files (train-images-idx3-ubyte[.gz], ...)")
      ("epochs", po::value<std::int64_t>()->default_value(defaults.epochs), "total epochs")
      ("batch", po::value<std::int64_t>()->default_value(defaults.batch), "batch size")
      ("lr", number_value(defaults.sgd.lr), "base learning rate")
      ("momentum", number_value(defaults.sgd.momentum), "SGD momentum, in [0, 1)")
      ("nesterov", po::bool_switch(), "Nesterov momentum")
      ("weight-decay", number_value(defaults.sgd.weight_decay), "L2 weight decay")
      ("schedule", po::value<std::string>()->default_value(defaults.schedule),
       "learning-rate schedule: constant | cosine | step[:EPOCHS[:GAMMA]]")
      ("warmup", number_value(0), "linear warm-up length in epochs")
      ("seed", po::value<std::uint64_t>()->default_value(0), "seed of the initial weights, shuffling and dropout")
      ("threads", po::value<int>()->default_value(0), "worker threads per process (0: all cores); results do not depend on it")
      ("accumulate", po::value<std::int64_t>()->default_value(1),
       "split each process's share of a batch into K micro-batches run one after another (less memory, the same result; "
       "not with training-mode batch norm)")
      ("step-log", po::value<std::string>(), "write each step's loss to FILE (CSV; the loss exactly, in hex)")
      ("out", po::value<std::string>(), "trained model file (required for a new run)")
      ("checkpoint", po::value<std::string>(), "checkpoint file written after each epoch (default OUT.checkpoint.dagrad)")
      ("metrics", po::value<std::string>(), "metrics prefix: PREFIX.csv and PREFIX.svg (default: OUT without extension)")
      ("limit-train", po::value<std::int64_t>()->default_value(0), "use only the first N training images (0: all)")
      ("limit-test", po::value<std::int64_t>()->default_value(0), "use only the first N test images (0: all)")
      ("image-size", po::value<std::int64_t>()->default_value(0),
       "centre the images on a zero canvas of N x N pixels (0: as stored; DenseNet-121 needs 32)")
      ("eval-batch", po::value<std::int64_t>()->default_value(defaults.eval_batch), "batch size of evaluation")
      ("check-numerics", po::bool_switch(), "stop at the first node producing NaN or Inf, naming it")
      ("ignore-memory-check", po::bool_switch(), "run even when the run's buffers exceed the memory available");
  po::variables_map vm;
  if (!parse("train",
             "--model NAME --out FILE | --from FILE --out FILE | --resume CHECKPOINT [options]\n\n"
             "A checkpoint records the whole run (recipe, data folder, limits, output paths): --resume CHECKPOINT alone\n"
             "continues it exactly. A flag given with --resume must agree with the checkpoint, except " +
                 std::string(kMayChangeOnResume) + ".",
             options, {}, args, vm))
    return kExitOk;
  const int sources = static_cast<int>(vm.count("model") + vm.count("from") + vm.count("resume"));
  if (sources != 1) throw UsageError("give exactly one of --model, --from and --resume");

  // Every flag is checked before anything is read or written.
  const std::int64_t epochs_flag = int_at_least(vm, "epochs", 1);
  const std::int64_t batch_flag = int_at_least(vm, "batch", 1);
  const std::int64_t eval_batch_flag = int_at_least(vm, "eval-batch", 1);
  const std::int64_t limit_train_flag = int_at_least(vm, "limit-train", 0);
  const std::int64_t limit_test_flag = int_at_least(vm, "limit-test", 0);
  const std::int64_t image_size_flag = int_at_least(vm, "image-size", 0);
  const double lr_flag = finite_in(vm, "lr", 0, std::numeric_limits<double>::max(), true);
  const double momentum_flag = finite_in(vm, "momentum", 0, 1, false);
  const double weight_decay_flag = finite_in(vm, "weight-decay", 0, std::numeric_limits<double>::max(), true);
  const double warmup_flag = finite_in(vm, "warmup", 0, std::numeric_limits<double>::max(), true);
  const int threads = threads_option(vm);
  const std::int64_t accumulate = int_in(vm, "accumulate", 1, 1 << 20);
  if (vm.count("model")) require_zoo_model(vm["model"].as<std::string>());
  try {
    train::make_schedule(vm["schedule"].as<std::string>(), 1, 1, 1);
  } catch (const Error& e) {
    throw UsageError("--schedule: " + std::string(e.what()));
  }
  train::check_same_launch(comm, {{"the dagrad binaries", train::running_binary_hash()}});

  // The run: a checkpoint's recipe and record, else the defaults; then the flags.
  Model model;
  train::TrainOptions recipe;
  train::RunRecord run{.data_dir = absolute_path(train::kDefaultDataDir)};
  std::string checkpoint_path;
  bool resuming = false;  // from a checkpoint that records its run: its settings are fixed
  if (vm.count("resume")) {
    checkpoint_path = vm["resume"].as<std::string>();
    model = load(checkpoint_path);
    if (!model.training)
      fail(checkpoint_path, " has no training state to resume from (it is not a checkpoint; use --from to start a new run from its weights)");
    recipe = train::stored_train_options(model);
    if (auto record = train::stored_run_record(model)) {
      run = *record;
      resuming = true;
    } else {  // written before checkpoints recorded their run: the flags (or defaults) say where
      if (!vm.count("out")) throw UsageError(checkpoint_path + " records no output path (an older checkpoint): give --out FILE");
      if (auto it = model.metadata.find("dataset"); it != model.metadata.end() && !vm.count("data-dir")) run.data_dir = it->second;
      if (lead) std::printf("note: %s records no data folder, limits or output paths (an older checkpoint); using the flags and defaults\n",
                  checkpoint_path.c_str());
    }
  }
  const RunSettings settings(vm, resuming ? &checkpoint_path : nullptr);
  settings.settle("batch", recipe.batch, batch_flag);
  settings.settle("eval-batch", recipe.eval_batch, eval_batch_flag);
  settings.settle("lr", recipe.sgd.lr, lr_flag);
  settings.settle("momentum", recipe.sgd.momentum, momentum_flag);
  settings.settle("weight-decay", recipe.sgd.weight_decay, weight_decay_flag);
  settings.settle("warmup", recipe.warmup_epochs, warmup_flag);
  settings.settle<std::string>("schedule", recipe.schedule);
  settings.settle<std::uint64_t>("seed", recipe.seed);
  if (vm["nesterov"].as<bool>()) settings.settle("nesterov", recipe.sgd.nesterov, true);
  settings.settle("limit-train", run.limit_train, limit_train_flag);
  settings.settle("limit-test", run.limit_test, limit_test_flag);
  settings.settle("image-size", run.image_size, image_size_flag);
  settings.settle_path("data-dir", run.data_dir);
  if (!resuming) {
    if (!vm.count("out")) throw UsageError("give --out FILE, the trained model (its checkpoint and metrics go beside it)");
    run.out = absolute_path(vm["out"].as<std::string>());
    const std::string stem = strip_model_extension(run.out);
    run.checkpoint = absolute_path(vm.count("checkpoint") ? vm["checkpoint"].as<std::string>() : stem + ".checkpoint.dagrad");
    run.metrics = absolute_path(vm.count("metrics") ? vm["metrics"].as<std::string>() : stem);
  } else {
    settings.settle_path("out", run.out);
    settings.settle_path("checkpoint", run.checkpoint);
    settings.settle_path("metrics", run.metrics);
  }
  // May change on resume: more epochs extend the run (the schedule is recomputed over the new total).
  if (vm.count("resume") && settings.given("epochs") && epochs_flag < model.training->epoch)
    throw UsageError("--epochs " + std::to_string(epochs_flag) + " is fewer than the " + std::to_string(model.training->epoch) +
                     " epochs " + checkpoint_path + " has already trained");
  if (!vm.count("resume") || settings.given("epochs")) recipe.epochs = epochs_flag;
  recipe.threads = threads;
  recipe.check_numerics = vm["check-numerics"].as<bool>();
  recipe.accumulate = accumulate;
  recipe.communicator = &comm;
  const std::string source = vm.count("model") ? "model " + vm["model"].as<std::string>()
                             : vm.count("from") ? "from " + absolute_path(vm["from"].as<std::string>())
                                                : "resume " + absolute_path(checkpoint_path);
  train::check_same_launch(comm, {{"the flags", flags_fingerprint(recipe, run, source)}});

  if (vm.count("resume") && model.training->epoch >= recipe.epochs) {
    if (lead)
      std::printf("%s: the run is finished: all %lld epochs are done (its model is %s); nothing to do and nothing written. "
                "Pass --epochs N (more than %lld) to train further.\n",
                checkpoint_path.c_str(), static_cast<long long>(recipe.epochs), run.out.c_str(),
                static_cast<long long>(recipe.epochs));
    return kExitOk;
  }

  // Outputs: distinct, writable and ours alone, all checked before any work.
  const std::string metrics_csv_path = run.metrics + ".csv", metrics_svg_path = run.metrics + ".svg";
  std::vector<std::pair<std::string, std::string>> outputs = {
      {run.out, "--out"}, {run.checkpoint, "--checkpoint"}, {metrics_csv_path, "--metrics (.csv)"}, {metrics_svg_path, "--metrics (.svg)"}};
  if (vm.count("step-log")) outputs.emplace_back(absolute_path(vm["step-log"].as<std::string>()), "--step-log");
  for (std::size_t i = 0; i < outputs.size(); ++i)
    for (std::size_t j = i + 1; j < outputs.size(); ++j)
      if (outputs[i].first == outputs[j].first)
        throw UsageError(outputs[i].second + " and " + outputs[j].second + " both name " + outputs[i].first);
  std::optional<FileLock> out_lock, checkpoint_lock;
  std::optional<StepLog> step_log;
  if (lead) {
    for (const auto& [path, flag] : outputs) check_output_writable(path, flag);
    out_lock.emplace(FileLock::acquire(run.out, "dagrad train --out"));
    checkpoint_lock.emplace(FileLock::acquire(run.checkpoint, "dagrad train --checkpoint"));
    if (vm.count("step-log")) step_log.emplace(vm["step-log"].as<std::string>());
  }

  std::unique_ptr<train::Dataset> train_full = train::load_mnist_split(run.data_dir, "train");
  std::unique_ptr<train::Dataset> test_full = train::load_mnist_split(run.data_dir, "test");
  if (run.image_size > 0) {
    train_full = std::make_unique<train::PaddedDataset>(std::move(train_full), run.image_size);
    test_full = std::make_unique<train::PaddedDataset>(std::move(test_full), run.image_size);
  }
  if (vm.count("model")) {
    // The zoo model adapted to the data: its input is the dataset's sample shape and its head has
    // the dataset's classes (the ImageNet models' stems take 1-channel images this way).
    const std::string name = vm["model"].as<std::string>();
    model.graph = models::build_model(name, {.batch = recipe.batch, .dtype = DType::f32, .seed = recipe.seed, .training = true,
                                             .input_shape = train_full->sample_shape(), .classes = train_full->classes()});
    model.metadata["model"] = name;
  } else if (vm.count("from")) {
    const std::string from = vm["from"].as<std::string>();
    if (interop::is_onnx_path(from)) {
      // An imported model: batch norms in training form with their running statistics as state;
      // a classifier that ends in its logits gets the label input and a softmax cross-entropy loss.
      model = import_onnx_file(from, true, recipe.batch);
      models::attach_classifier_loss(model.graph);
      model.metadata["model"] = std::filesystem::path(from).filename().string();
    } else {
      model = load(from);
    }
    model.training.reset();
    model.metadata.erase("train.history");
  }
  train::store_run_record(run, model);

  std::optional<train::SubsetDataset> train_subset, test_subset;
  if (run.limit_train > 0) train_subset.emplace(*train_full, std::min(run.limit_train, train_full->size()));
  if (run.limit_test > 0) test_subset.emplace(*test_full, std::min(run.limit_test, test_full->size()));
  const train::Dataset& train_data = train_subset ? static_cast<const train::Dataset&>(*train_subset) : *train_full;
  const train::Dataset& test_data = test_subset ? static_cast<const train::Dataset&>(*test_subset) : *test_full;
  const std::string title = (model.metadata.count("model") ? model.metadata["model"] : std::string("model")) + " on " +
                            std::filesystem::path(run.data_dir).filename().string();

  train::check_same_launch(comm, {{"the models", model_fingerprint(model)}, {"the datasets", data_fingerprint(train_data, test_data)}});
  train::Trainer trainer(model, train_data, &test_data, recipe);
  if (!vm["ignore-memory-check"].as<bool>())
    runtime::check_memory_fits(trainer.peak_bytes(), "training at batch " + std::to_string(recipe.batch));
  if (lead) {
    std::printf("training %s: %lld parameters, %lld training / %lld test images, %lld steps per epoch, epochs %lld..%lld\n",
                title.c_str(), static_cast<long long>(model.graph.parameter_count()), static_cast<long long>(train_data.size()),
                static_cast<long long>(test_data.size()), static_cast<long long>(trainer.steps_per_epoch()),
                static_cast<long long>(model.training->epoch + 1), static_cast<long long>(recipe.epochs));
    std::printf("sgd lr %g momentum %g%s weight decay %g, schedule %s, warm-up %g epochs, batch %lld, seed %llu; "
                "normalization mean %.6f std %.6f\n",
                recipe.sgd.lr, recipe.sgd.momentum, recipe.sgd.nesterov ? " (nesterov)" : "", recipe.sgd.weight_decay,
                recipe.schedule.c_str(), recipe.warmup_epochs, static_cast<long long>(recipe.batch),
                static_cast<unsigned long long>(recipe.seed), trainer.normalization().mean, trainer.normalization().std);
    std::printf("writes %s, checkpoint %s, metrics %s and %s\n", run.out.c_str(), run.checkpoint.c_str(), metrics_csv_path.c_str(),
                metrics_svg_path.c_str());
    if (comm.size() > 1 || settings.given("accumulate"))
      std::printf("data parallel: %s x %lld micro-batch%s of the global batch %lld; each step combines %lld values (%lld bytes); "
                  "step buffers %.1f MiB per process\n",
                  comm.description().c_str(), static_cast<long long>(accumulate), accumulate > 1 ? "es" : "",
                  static_cast<long long>(recipe.batch), static_cast<long long>(trainer.combined_values_per_step()),
                  static_cast<long long>(trainer.combined_bytes_per_step()), static_cast<double>(trainer.peak_bytes()) / (1 << 20));
    std::fflush(stdout);
  }

  const std::int64_t first_step = model.training->step;
  ProgressReporter progress(std::cerr, stderr_is_terminal());
  std::int64_t last_saved_epoch = vm.count("resume") ? model.training->epoch : -1;
  try {
    trainer.run([&](const train::BatchProgress& p) {
                  if (!lead) return;
                  progress.batch(p);
                  if (step_log) step_log->add(p);
                },
                [&](const train::EpochMetrics& m, const Model& current) {
                  if (!lead) return;
                  progress.end_epoch();
                  save(current, run.checkpoint);
                  last_saved_epoch = m.epoch;
                  write_file_atomically(metrics_csv_path, train::metrics_csv(trainer.history()));
                  write_file_atomically(metrics_svg_path, train::metrics_svg(trainer.history(), title));
                  std::printf("%s\n", format_epoch(m, recipe.epochs).c_str());
                  std::fflush(stdout);
                });
  } catch (const Error& e) {
    if (!lead) throw;
    progress.end_epoch();
    const std::string kept = last_saved_epoch >= 0 ? "the checkpoint " + run.checkpoint + " (after epoch " +
                                                         std::to_string(last_saved_epoch) + ") is kept"
                                                   : "no checkpoint was written";
    fail(e.what(), "; ", kept, " and ", run.out, " was not written");
  }
  if (!lead) return kExitOk;
  save(model, run.out);
  if (comm.size() > 1) {
    const train::CommunicatorStats& c = comm.stats();
    const double steps = static_cast<double>(std::max<std::int64_t>(1, model.training->step - first_step));
    std::printf("combined on rank 0: %lld calls, %.0f bytes sent per step, %.2f ms per step combining\n",
                static_cast<long long>(c.combine_calls), static_cast<double>(c.bytes_sent) / steps, 1e3 * c.combine_seconds / steps);
  }
  std::printf("saved %s (checkpoint %s, metrics %s and %s)\n", run.out.c_str(), run.checkpoint.c_str(), metrics_csv_path.c_str(),
              metrics_svg_path.c_str());
  return kExitOk;
}

}  // namespace

}  // namespace dagrad::cli
