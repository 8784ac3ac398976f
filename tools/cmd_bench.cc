// dagrad bench: images/s of a full training step (forward, backward, SGD with momentum) and of
// inference on random data, the peak resident memory and the plan's peak bytes.
#include <sys/resource.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>

#include "autodiff/grad.h"
#include "models/zoo.h"
#include "runtime/memory.h"
#include "runtime/runtime.h"
#include "tools/cli.h"
#include "train/optimizer.h"

namespace dagrad::cli {
namespace {

using Clock = std::chrono::steady_clock;

// Deterministic pseudo-random images in [-1, 1) and labels in [0, classes).
void fill_random_batch(const Graph& g, TensorMap& feeds) {
  std::uint64_t state = 12345;
  auto next = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return state >> 33;
  };
  for (ValueId id : g.values_of_kind(ValueKind::input)) {
    const ValueInfo& v = g.value(id);
    Tensor t(v.type.dtype, v.type.shape);
    if (v.type.dtype == DType::i64) {
      for (auto& label : t.data<std::int64_t>()) label = static_cast<std::int64_t>(next() % 10);
    } else if (v.type.dtype == DType::f32) {
      for (auto& x : t.data<float>()) x = static_cast<float>(next() % 65536) / 32768.0f - 1.0f;
    } else {
      for (auto& x : t.data<double>()) x = static_cast<double>(next() % 65536) / 32768.0 - 1.0;
    }
    feeds.emplace(v.name, std::move(t));
  }
}

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

  // Training: forward + backward + SGD (momentum 0.9, weight decay 5e-4, lr 0.05), as the peer does.
  Graph forward = models::build_model(name, {.batch = batch, .training = true});
  autodiff::Gradients grads = autodiff::grad_parameters(forward);
  const Graph& g = grads.graph;
  runtime::Plan train_plan = runtime::compile(g, {.threads = threads});
  // Inference: the same network with running statistics, logits only.
  Graph infer = models::build_model(name, {.batch = batch, .training = false});
  std::vector<ValueId> logits;
  for (ValueId out : infer.outputs())
    if (infer.value(out).name == "logits") logits.push_back(out);
  runtime::Plan infer_plan = runtime::compile(infer, {.threads = threads}, logits);
  if (!vm["ignore-memory-check"].as<bool>()) {
    // Counted before anything is allocated: both plans' peaks (each plan keeps its run buffers
    // for the next run, so both are alive at the end), the parameters and state, the momentum
    // buffers (one per parameter) and the random batch.
    std::int64_t needed = train_plan.peak_bytes() + infer_plan.peak_bytes();
    for (ValueKind kind : {ValueKind::parameter, ValueKind::state, ValueKind::input})
      for (ValueId id : g.values_of_kind(kind)) needed += byte_count(g.value(id).type.shape, g.value(id).type.dtype);
    for (auto [wrt, grad] : g.gradients()) needed += byte_count(g.value(wrt).type.shape, g.value(wrt).type.dtype);
    runtime::check_memory_fits(needed, "bench of '" + name + "' with --batch " + std::to_string(batch));
  }
  TensorMap params = runtime::initialize_parameters(g);
  TensorMap data;
  fill_random_batch(g, data);
  TensorMap momentum;
  for (auto [wrt, grad] : g.gradients()) momentum.emplace(g.value(wrt).name, Tensor(g.value(wrt).type.dtype, g.value(wrt).type.shape));
  const train::SgdOptions sgd{.lr = 0.05, .momentum = 0.9, .weight_decay = 5e-4};
  auto train_step = [&](std::uint64_t step) {
    runtime::Feeds feeds = runtime::feeds_from({&params, &data});
    runtime::RunResult r = runtime::run(train_plan, feeds, step);
    for (auto [state, next] : g.state_updates()) params.at(g.value(state).name) = std::move(r.values.at(next));
    for (auto [wrt, grad] : g.gradients()) {
      const std::string& pname = g.value(wrt).name;
      train::sgd_update(params.at(pname), r.at(grad), momentum.at(pname), sgd.lr, sgd);
    }
  };
  for (int i = 0; i < warmup; ++i) train_step(static_cast<std::uint64_t>(i));
  auto start = Clock::now();
  double cpu_start = cpu_seconds();
  for (int i = 0; i < steps; ++i) train_step(static_cast<std::uint64_t>(warmup + i));
  const double train_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const double train_cpu = cpu_seconds() - cpu_start;

  runtime::Feeds infer_feeds = runtime::feeds_from({&params, &data});
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
                        {"plan_peak_bytes", train_plan.peak_bytes()},
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
              train_plan.peak_bytes() / 1048576.0, infer_plan.peak_bytes() / 1048576.0);
  return kExitOk;
}

}  // namespace dagrad::cli
