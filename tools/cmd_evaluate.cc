// dagrad evaluate: test accuracy, per-class accuracy and the confusion matrix of a model file.
// Non-finite weights, state, logits or losses are errors (exit 1), not a NaN beside an accuracy.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <unordered_map>

#include "proto/model_file.h"
#include "runtime/memory.h"
#include "runtime/runtime.h"
#include "tools/cli.h"
#include "train/trainer.h"

namespace dagrad::cli {

int run_evaluate(const std::vector<std::string>& args) {
  po::options_description options("options");
  options.add_options()
      ("file", po::value<std::string>()->required(), "model file (.dagrad or .dagrad.txt)")
      ("data-dir", po::value<std::string>(), "folder of MNIST-family IDX files (default: the one the model was trained on, "
                                             "else the Fashion-MNIST package's); --data works too")
      ("split", po::value<std::string>()->default_value("test"), "test or train")
      ("batch", po::value<std::int64_t>()->default_value(500), "batch size")
      ("threads", po::value<int>()->default_value(0), "worker threads (0: all cores)")
      ("limit", po::value<std::int64_t>()->default_value(0), "use only the first N images (0: all)")
      ("ignore-memory-check", po::bool_switch(), "run even if the plan's memory exceeds what is available");
  po::positional_options_description positional;
  positional.add("file", 1);
  po::variables_map vm;
  if (!parse("evaluate", "FILE [--data-dir DIR] [--split test|train] [--batch N] [--threads N]", options, positional, args, vm))
    return kExitOk;
  const std::string path = vm["file"].as<std::string>();
  const std::string split = vm["split"].as<std::string>();
  require_one_of("split", split, {"test", "train"});
  const std::int64_t batch_option = int_at_least(vm, "batch", 1);
  const int threads = threads_option(vm);
  const std::int64_t limit = int_at_least(vm, "limit", 0);
  Model model = load(path);
  if (auto bad = first_non_finite(model.parameters)) fail(path, ": non-finite parameter ", *bad);
  if (auto bad = first_non_finite(model.state)) fail(path, ": non-finite state ", *bad);
  if (model.graph.loss() == kNoValue) fail(path, ": the model has no loss to evaluate");

  std::string data_dir = train::kDefaultDataDir;
  if (vm.count("data-dir")) data_dir = vm["data-dir"].as<std::string>();
  else if (auto it = model.metadata.find("dataset"); it != model.metadata.end()) data_dir = it->second;
  auto data = train::load_mnist_split(data_dir, split);
  std::optional<train::SubsetDataset> subset;
  if (limit > 0) subset.emplace(*data, std::min(limit, data->size()));
  const train::Dataset& eval_data = subset ? static_cast<const train::Dataset&>(*subset) : *data;

  // The model's own normalization; a model that never went through the trainer gets the training set's.
  train::Normalization norm;
  if (auto stored = train::stored_normalization(model)) {
    norm = *stored;
  } else {
    norm = train::compute_normalization(*train::load_mnist_split(data_dir, "train"));
    std::printf("note: %s records no normalization; using the training set's (mean %.6f, std %.6f)\n", path.c_str(), norm.mean,
                norm.std);
  }

  // The loop of train::evaluate, batch by batch here so that a non-finite loss or logit names its
  // batch, and so that the plan's memory is checked before it runs.
  const auto start = std::chrono::steady_clock::now();
  const std::int64_t n = eval_data.size();
  if (n < 1) fail(path, ": the ", split, " split of ", data_dir, " holds no images");
  const std::int64_t batch = std::min(batch_option, n);
  struct EvalPlan {
    runtime::Plan plan;
    ValueId loss, logits;
  };
  auto make_plan = [&](std::int64_t size) {
    Graph g = model.graph;
    g.set_training(false);
    std::unordered_map<std::string, Shape> shapes;
    for (ValueId id : g.values_of_kind(ValueKind::input)) {
      Shape shape = g.value(id).type.shape;
      if (shape.empty()) fail(path, ": input '", g.value(id).name, "' is a scalar; expected a leading batch dim");
      shape[0] = size;
      shapes[g.value(id).name] = shape;
    }
    g.reshape_inputs(shapes);
    ValueId logits = train::find_logits(g);
    return EvalPlan{runtime::compile(g, {.threads = threads}, {g.loss(), logits}), g.loss(), logits};
  };
  EvalPlan full = make_plan(batch);
  std::optional<EvalPlan> remainder;
  if (n % batch) remainder = make_plan(n % batch);
  if (!vm["ignore-memory-check"].as<bool>()) {
    // Counted: the plan's peak (intermediates under liveness), the model's parameters and state,
    // and two batches of inputs (the one running and the one the loader assembles meanwhile).
    // The dataset itself is already loaded.
    std::int64_t needed = full.plan.peak_bytes();
    for (const TensorMap* map : {&model.parameters, &model.state})
      for (const auto& [name, t] : *map) needed += static_cast<std::int64_t>(t.nbytes());
    for (ValueId id : full.plan.graph().values_of_kind(ValueKind::input))
      needed += 2 * byte_count(full.plan.graph().value(id).type.shape, full.plan.graph().value(id).type.dtype);
    runtime::check_memory_fits(needed, "evaluate of '" + path + "' with --batch " + std::to_string(batch));
  }

  train::Evaluation e;
  const std::size_t classes = static_cast<std::size_t>(eval_data.classes());
  e.confusion.assign(classes, std::vector<std::int64_t>(classes));
  double loss_sum = 0;
  std::int64_t correct = 0, batch_index = 0;
  train::BatchLoader loader(eval_data, train::identity_order(n), batch, norm,
                            model.graph.value(model.graph.at(train::kImageInput)).type.dtype);
  runtime::Feeds feeds = runtime::feeds_from({&model.parameters, &model.state});
  for (; !loader.done(); ++batch_index) {
    train::Batch b = loader.next();
    const EvalPlan& p = b.size() == batch ? full : *remainder;
    feeds[train::kImageInput] = &b.images;
    feeds[train::kLabelInput] = &b.labels;
    runtime::RunResult r = runtime::run(p.plan, feeds);
    const std::string where = " of batch " + std::to_string(batch_index) + " (images " + std::to_string(batch_index * batch) +
                              " to " + std::to_string(batch_index * batch + b.size() - 1) + ")";
    if (auto bad = first_non_finite("logits", r.at(p.logits))) fail("non-finite ", *bad, where);
    const double loss = r.at(p.loss).at(0);
    if (!std::isfinite(loss)) fail("non-finite loss ", loss, where);
    loss_sum += loss * static_cast<double>(b.size());
    const Tensor& logits = r.at(p.logits);
    const std::int64_t k_count = logits.dim(1);
    std::span<const std::int64_t> labels = b.labels.data<std::int64_t>();
    for (std::int64_t row = 0; row < b.size(); ++row) {
      std::int64_t best = 0;
      for (std::int64_t k = 1; k < k_count; ++k)
        if (logits.at(row * k_count + k) > logits.at(row * k_count + best)) best = k;
      const std::int64_t truth = labels[static_cast<std::size_t>(row)];
      correct += best == truth;
      if (truth >= 0 && static_cast<std::size_t>(truth) < classes && best >= 0 && static_cast<std::size_t>(best) < classes)
        ++e.confusion[static_cast<std::size_t>(truth)][static_cast<std::size_t>(best)];
    }
  }
  e.samples = n;
  e.loss = loss_sum / static_cast<double>(n);
  e.accuracy = static_cast<double>(correct) / static_cast<double>(n);
  e.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto correct_count = static_cast<long long>(correct);
  std::printf("%s accuracy %.2f%% (%lld/%lld), loss %.4f, %.1f s\n", split.c_str(), 100 * e.accuracy, correct_count,
              static_cast<long long>(e.samples), e.loss, e.seconds);

  const std::vector<std::string> names = eval_data.class_names();
  std::size_t name_width = 5;
  for (const std::string& n : names) name_width = std::max(name_width, n.size());
  std::printf("\nper-class accuracy:\n");
  const std::vector<double> per_class = e.class_accuracy();
  for (std::size_t k = 0; k < per_class.size(); ++k)
    std::printf("  %2zu %-*s %7.2f%%\n", k, static_cast<int>(name_width), names[k].c_str(), 100 * per_class[k]);

  std::printf("\nconfusion matrix (rows: true class, columns: predicted class):\n      ");
  for (std::size_t k = 0; k < e.confusion.size(); ++k) std::printf(" %5zu", k);
  std::printf("\n");
  for (std::size_t k = 0; k < e.confusion.size(); ++k) {
    std::printf("  %2zu: ", k);
    for (std::int64_t n : e.confusion[k]) std::printf(" %5lld", static_cast<long long>(n));
    std::printf("   %s\n", names[k].c_str());
  }
  return kExitOk;
}

}  // namespace dagrad::cli
