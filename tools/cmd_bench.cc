// dagrad bench: images/s of the trainer's training step (forward, backward, divergence checks, SGD
// with momentum) and of inference on a random batch, the peak resident memory and the plans' peak bytes.
#include <sys/resource.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>

#include "autodiff/gradcheck.h"
#include "models/signature.h"
#include "models/zoo.h"
#include "runtime/memory.h"
#include "runtime/runtime.h"
#include "tools/cli.h"
#include "train/trainer.h"

namespace dagrad::cli {
namespace {

using Clock = std::chrono::steady_clock;

// The trainer asks its dataset only for the sample shape, size and classes here: the bench hands
// each step its random batch itself, and the normalization is stored in the model beforehand.
class BatchShape : public train::Dataset {
 public:
  BatchShape(std::int64_t size, Shape sample, std::int64_t classes) : size_(size), sample_(std::move(sample)), classes_(classes) {}
  std::int64_t size() const override { return size_; }
  Shape sample_shape() const override { return sample_; }
  std::int64_t classes() const override { return classes_; }
  std::int64_t get(std::int64_t, std::span<float>) const override { fail("bench: the batch is random; there are no samples to read"); }

 private:
  std::int64_t size_;
  Shape sample_;
  std::int64_t classes_;
};

// CPU seconds of the process (all threads): on a shared machine, the work a run really did.
double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

std::int64_t peak_rss_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<std::int64_t>(usage.ru_maxrss) * 1024;
}

}  // namespace

int run_bench(const std::vector<std::string>& args) {
  po::options_description options("options");
  po::positional_options_description positional;
  options.add_options()("model", po::value<std::string>()->default_value("resnet_ref"), "zoo model name")(
      "batch", po::value<std::int64_t>()->default_value(64), "images per step")(
      "threads", po::value<int>()->default_value(0), "worker threads (0: all cores)")(
      "steps", po::value<int>()->default_value(20), "timed steps (after 3 warm-up steps)")(
      "warmup", po::value<int>()->default_value(3), "untimed steps first")(
      "json", "print one JSON object instead of text")(
      "ignore-memory-check", po::bool_switch(), "run even if the plans need more memory than is available");
  po::variables_map vm;
  if (!parse("bench", "[--model NAME] [--batch N] [--threads N] [--steps N] [--json]", options, positional, args, vm))
    return kExitOk;
  const std::string name = vm["model"].as<std::string>();
  require_zoo_model(name);
  const std::int64_t batch = int_at_least(vm, "batch", 1);
  const int threads = threads_option(vm);
  const int steps = static_cast<int>(int_at_least(vm, "steps", 1));
  const int warmup = static_cast<int>(int_at_least(vm, "warmup", 0));

  // Training: the trainer's own step (forward, backward, the divergence checks, SGD with momentum
  // 0.9, weight decay 5e-4 and a constant lr 0.05) on one random batch of `batch` images.
  Model model;
  model.graph = models::build_model(name, {.batch = batch, .training = true});
  const models::ModelSignature sig = models::ModelSignature::of(model.graph);
  const Graph& g = model.graph;
  train::store_normalization({}, model);  // the random images are already centred, of variance 1
  const BatchShape shape(batch, sig.sample_shape(g), sig.classes(g));
  train::Trainer trainer(model, shape, nullptr,
                         {.epochs = 1, .batch = batch, .sgd = {.lr = 0.05, .momentum = 0.9, .weight_decay = 5e-4},
                          .schedule = "constant", .threads = threads});
  // Inference: the same network with running statistics, logits only.
  Graph infer = models::build_model(name, {.batch = batch, .training = false});
  runtime::Plan infer_plan = runtime::compile(infer, {.threads = threads}, {models::ModelSignature::of(infer).logits});
  if (!vm["ignore-memory-check"].as<bool>()) {
    // Counted before the batch is made: both plans' peaks (each plan keeps its run buffers for the
    // next run, so both are alive at the end), the parameters and state, the momentum buffers and
    // the random batch.
    std::int64_t needed = trainer.peak_bytes() + infer_plan.peak_bytes();
    for (const TensorMap* map : {&model.parameters, &model.state, &model.training->buffers})
      for (const auto& [tensor_name, t] : *map) needed += static_cast<std::int64_t>(t.nbytes());
    for (ValueId id : g.values_of_kind(ValueKind::input)) needed += byte_count(g.value(id).type.shape, g.value(id).type.dtype);
    runtime::check_memory_fits(needed, "bench of '" + name + "' with --batch " + std::to_string(batch));
  }
  TensorMap data = autodiff::random_inputs(g, 12345, sig.classes(g));
  const train::Batch random_batch{.images = std::move(data.at(g.value(sig.image).name)), .labels = std::move(data.at(g.value(sig.label).name))};
  auto train_step = [&] { trainer.step(random_batch); };
  for (int i = 0; i < warmup; ++i) train_step();
  auto start = Clock::now();
  double cpu_start = cpu_seconds();
  for (int i = 0; i < steps; ++i) train_step();
  const double train_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const double train_cpu = cpu_seconds() - cpu_start;

  runtime::Feeds infer_feeds = runtime::feeds_from({&model.parameters, &model.state});
  infer_feeds[g.value(sig.image).name] = &random_batch.images;
  infer_feeds[g.value(sig.label).name] = &random_batch.labels;
  for (int i = 0; i < warmup; ++i) runtime::run(infer_plan, infer_feeds);
  start = Clock::now();
  cpu_start = cpu_seconds();
  for (int i = 0; i < steps; ++i) runtime::run(infer_plan, infer_feeds);
  const double infer_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const double infer_cpu = cpu_seconds() - cpu_start;

  const double images = static_cast<double>(batch) * steps;
  const double train_rate = images / train_seconds, infer_rate = images / infer_seconds;
  if (vm.count("json")) {
    nlohmann::json j = {{"model", name},
                        {"batch", batch},
                        {"threads", threads},
                        {"steps", steps},
                        {"train_images_per_s", train_rate},
                        {"infer_images_per_s", infer_rate},
                        {"train_step_ms", 1000 * train_seconds / steps},
                        {"infer_step_ms", 1000 * infer_seconds / steps},
                        {"train_step_cpu_ms", 1000 * train_cpu / steps},
                        {"infer_step_cpu_ms", 1000 * infer_cpu / steps},
                        {"peak_rss_bytes", peak_rss_bytes()},
                        {"plan_peak_bytes", trainer.peak_bytes()},
                        {"infer_plan_peak_bytes", infer_plan.peak_bytes()}};
    std::cout << j.dump() << "\n";
    return kExitOk;
  }
  std::printf("model %s batch %lld threads %d steps %d\n", name.c_str(), static_cast<long long>(batch), threads, steps);
  std::printf("train  %8.2f ms/step  %9.1f images/s  (%.2f CPU ms/step)\n", 1000 * train_seconds / steps, train_rate,
              1000 * train_cpu / steps);
  std::printf("infer  %8.2f ms/step  %9.1f images/s  (%.2f CPU ms/step)\n", 1000 * infer_seconds / steps, infer_rate,
              1000 * infer_cpu / steps);
  std::printf("peak RSS %.1f MiB, plan peak %.1f MiB (train), %.1f MiB (infer)\n", peak_rss_bytes() / 1048576.0,
              trainer.peak_bytes() / 1048576.0, infer_plan.peak_bytes() / 1048576.0);
  return kExitOk;
}

}  // namespace dagrad::cli
