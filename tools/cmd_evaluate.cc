// dagrad evaluate: test accuracy, per-class accuracy and the confusion matrix of a model file.
// Non-finite weights, state, logits or losses are errors (exit 1), not a NaN beside an accuracy.
// Under mpirun the processes split the samples by whole batches and rank 0 prints the exact totals.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>

#include "interop/onnx.h"
#include "models/signature.h"
#include "proto/model_file.h"
#include "tools/cli.h"
#include "tools/model_source.h"
#include "train/trainer.h"

namespace dagrad::cli {

namespace {

int evaluate_on(train::Communicator& comm, const std::vector<std::string>& args) {
  po::options_description options("options");
  options.add_options()
      ("file", po::value<std::string>()->required(), "model file (.dagrad, .dagrad.txt or .onnx)")
      ("data-dir", po::value<std::string>(), "folder of MNIST-family IDX files (default: the one the model was trained on, "
                                             "else the Fashion-MNIST package's); --data works too")
      (kSplitFlag, po::value<std::string>()->default_value("test"), "test or train")
      ("batch", po::value<std::int64_t>()->default_value(500), "batch size")
      ("threads", po::value<int>()->default_value(0), "worker threads per process (0: all cores)")
      ("limit", po::value<std::int64_t>()->default_value(0), "use only the first N images (0: all)")
      ("ignore-memory-check", po::bool_switch(), "run even if the plan's memory exceeds what is available");
  po::positional_options_description positional;
  positional.add("file", 1);
  po::variables_map vm;
  if (!parse("evaluate", "FILE [--data-dir DIR] [--split test|train] [--batch N] [--threads N]", options, positional, args, vm))
    return kExitOk;
  const std::string path = vm["file"].as<std::string>();
  const std::string split = vm[kSplitFlag].as<std::string>();
  require_one_of(kSplitFlag, split, {"test", "train"});
  const std::int64_t batch = int_at_least(vm, "batch", 1);
  const int threads = threads_option(vm);
  const std::int64_t limit = int_at_least(vm, "limit", 0);
  Model model;
  if (interop::is_onnx_path(path)) {
    // An imported classifier that ends in its logits is scored with a softmax cross-entropy loss.
    model = import_onnx_file(path, false, batch);
    models::attach_classifier_loss(model.graph);
  } else {
    model = load(path);
  }

  std::string data_dir = train::kDefaultDataDir;
  if (vm.count("data-dir")) data_dir = vm["data-dir"].as<std::string>();
  else if (auto it = model.metadata.find("dataset"); it != model.metadata.end()) data_dir = it->second;
  std::unique_ptr<train::Dataset> data = train::load_mnist_split(data_dir, split);
  // Images padded as the model was trained on them (train --image-size).
  if (auto record = train::stored_run_record(model); record && record->image_size > 0)
    data = std::make_unique<train::PaddedDataset>(std::move(data), record->image_size);
  std::optional<train::SubsetDataset> subset;
  if (limit > 0) subset.emplace(*data, std::min(limit, data->size()));
  const train::Dataset& eval_data = subset ? static_cast<const train::Dataset&>(*subset) : *data;

  // The model's own normalization; a model that never went through the trainer gets the training set's.
  train::Normalization norm;
  if (auto stored = train::stored_normalization(model)) {
    norm = *stored;
  } else {
    norm = train::compute_normalization(*train::load_mnist_split(data_dir, "train"));
    if (comm.rank() == 0)
      std::printf("note: %s records no normalization; using the training set's (mean %.6f, std %.6f)\n", path.c_str(), norm.mean,
                norm.std);
  }

  const train::Evaluation e = train::evaluate(
      model, eval_data, norm,
      {.batch = batch, .threads = threads, .check_memory = !vm["ignore-memory-check"].as<bool>(), .communicator = &comm});
  if (comm.rank() != 0) return kExitOk;
  const auto correct_count = static_cast<long long>(std::llround(e.accuracy * static_cast<double>(e.samples)));
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

}  // namespace

int run_evaluate(const std::vector<std::string>& args) {
  std::unique_ptr<train::Communicator> comm = train::make_communicator();
  if (comm->size() == 1) return evaluate_on(*comm, args);
  // Several processes: an error on any rank ends them all (the others may be waiting for it).
  const std::string rank = "rank " + std::to_string(comm->rank()) + " of " + std::to_string(comm->size());
  try {
    return evaluate_on(*comm, args);
  } catch (const UsageError& e) {
    comm->abort(kExitUsage, "dagrad evaluate (" + rank + "): " + e.what() + "\nTry 'dagrad evaluate --help'.");
  } catch (const std::exception& e) {
    comm->abort(kExitFailure, "dagrad evaluate (" + rank + "): error: " + e.what());
  }
  return kExitFailure;  // not reached: abort() ends every process
}

}  // namespace dagrad::cli
