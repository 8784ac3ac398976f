// dagrad train: trains a zoo model (or a model file) on an MNIST-family dataset with SGD, writing an
// atomic checkpoint, a metrics CSV and an SVG plot after every epoch; --resume continues a checkpoint.
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "models/zoo.h"
#include "proto/model_file.h"
#include "tools/cli.h"
#include "tools/progress.h"
#include "train/trainer.h"

namespace dagrad::cli {

namespace {

// "out/resnet.dagrad" -> "out/resnet" (also strips ".dagrad.txt").
std::string strip_model_extension(const std::string& path) {
  for (const std::string ext : {".dagrad.txt", ".dagrad"})
    if (path.size() > ext.size() && path.compare(path.size() - ext.size(), ext.size(), ext) == 0)
      return path.substr(0, path.size() - ext.size());
  return path;
}

template <class T> void override_if_given(const po::variables_map& vm, const char* name, T& target) {
  if (vm.count(name) && !vm[name].defaulted()) target = vm[name].as<T>();
}

}  // namespace

int run_train(const std::vector<std::string>& args) {
  const train::TrainOptions defaults;
  po::options_description options("options");
  options.add_options()
      ("model", po::value<std::string>(), "zoo model to train from scratch (see dagrad models)")
      ("from", po::value<std::string>(), "model file to start from (its weights; its training state is dropped)")
      ("resume", po::value<std::string>(), "checkpoint to continue (its recipe is reused unless overridden)")
      ("data-dir", po::value<std::string>()->default_value(train::kDefaultDataDir),
       "folder of MNIST-family IDX files (train-images-idx3-ubyte[.gz], ...); --data works too")
      ("epochs", po::value<std::int64_t>()->default_value(defaults.epochs), "total epochs")
      ("batch", po::value<std::int64_t>()->default_value(defaults.batch), "batch size")
      ("lr", po::value<double>()->default_value(defaults.sgd.lr), "base learning rate")
      ("momentum", po::value<double>()->default_value(defaults.sgd.momentum), "SGD momentum")
      ("nesterov", po::bool_switch(), "Nesterov momentum")
      ("weight-decay", po::value<double>()->default_value(defaults.sgd.weight_decay), "L2 weight decay")
      ("schedule", po::value<std::string>()->default_value(defaults.schedule),
       "learning-rate schedule: constant | cosine | step[:EPOCHS[:GAMMA]]")
      ("warmup", po::value<double>()->default_value(0), "linear warm-up length in epochs")
      ("seed", po::value<std::uint64_t>()->default_value(0), "seed of the initial weights, shuffling and dropout")
      ("threads", po::value<int>()->default_value(0), "worker threads (0: all cores); results do not depend on it")
      ("out", po::value<std::string>()->default_value("model.dagrad"), "trained model file")
      ("checkpoint", po::value<std::string>(), "checkpoint file written after each epoch (default OUT.checkpoint.dagrad)")
      ("metrics", po::value<std::string>(), "metrics prefix: PREFIX.csv and PREFIX.svg (default: OUT without extension)")
      ("limit-train", po::value<std::int64_t>()->default_value(0), "use only the first N training images (0: all)")
      ("limit-test", po::value<std::int64_t>()->default_value(0), "use only the first N test images (0: all)")
      ("eval-batch", po::value<std::int64_t>()->default_value(defaults.eval_batch), "batch size of evaluation")
      ("check-numerics", po::bool_switch(), "stop at the first node producing NaN or Inf");
  po::variables_map vm;
  if (!parse("train", "--model NAME | --from FILE | --resume CHECKPOINT [options]", options, {}, args, vm)) return kExitOk;
  const int sources = static_cast<int>(vm.count("model") + vm.count("from") + vm.count("resume"));
  if (sources != 1) throw UsageError("give exactly one of --model, --from and --resume");

  // The recipe: a checkpoint's own, or the defaults, then whatever the command line says.
  Model model;
  train::TrainOptions recipe;
  if (vm.count("resume")) {
    model = load(vm["resume"].as<std::string>());
    recipe = train::stored_train_options(model);
  }
  override_if_given(vm, "epochs", recipe.epochs);
  override_if_given(vm, "batch", recipe.batch);
  override_if_given(vm, "lr", recipe.sgd.lr);
  override_if_given(vm, "momentum", recipe.sgd.momentum);
  override_if_given(vm, "weight-decay", recipe.sgd.weight_decay);
  override_if_given(vm, "schedule", recipe.schedule);
  override_if_given(vm, "warmup", recipe.warmup_epochs);
  override_if_given(vm, "seed", recipe.seed);
  override_if_given(vm, "eval-batch", recipe.eval_batch);
  if (vm["nesterov"].as<bool>()) recipe.sgd.nesterov = true;
  recipe.threads = vm["threads"].as<int>();
  recipe.check_numerics = vm["check-numerics"].as<bool>();
  if (recipe.batch < 1) throw UsageError("--batch must be positive");
  if (recipe.epochs < 1) throw UsageError("--epochs must be positive");

  const std::string data_dir = vm["data-dir"].as<std::string>();
  if (vm.count("model")) {
    const std::string name = vm["model"].as<std::string>();
    model.graph = models::build_model(name, {.batch = recipe.batch, .dtype = DType::f32, .seed = recipe.seed, .training = true});
    model.metadata["model"] = name;
  } else if (vm.count("from")) {
    model = load(vm["from"].as<std::string>());
    model.training.reset();
    model.metadata.erase("train.history");
  }
  model.metadata["dataset"] = data_dir;

  auto train_full = train::load_mnist_split(data_dir, "train");
  auto test_full = train::load_mnist_split(data_dir, "test");
  const std::int64_t limit_train = vm["limit-train"].as<std::int64_t>(), limit_test = vm["limit-test"].as<std::int64_t>();
  std::optional<train::SubsetDataset> train_subset, test_subset;
  if (limit_train > 0) train_subset.emplace(*train_full, std::min(limit_train, train_full->size()));
  if (limit_test > 0) test_subset.emplace(*test_full, std::min(limit_test, test_full->size()));
  const train::Dataset& train_data = train_subset ? static_cast<const train::Dataset&>(*train_subset) : *train_full;
  const train::Dataset& test_data = test_subset ? static_cast<const train::Dataset&>(*test_subset) : *test_full;

  const std::string out = vm["out"].as<std::string>();
  const std::string stem = strip_model_extension(out);
  const std::string checkpoint = vm.count("checkpoint") ? vm["checkpoint"].as<std::string>() : stem + ".checkpoint.dagrad";
  const std::string metrics = vm.count("metrics") ? vm["metrics"].as<std::string>() : stem;
  const std::string title = (model.metadata.count("model") ? model.metadata["model"] : std::string("model")) + " on " +
                            std::filesystem::path(data_dir).filename().string();

  train::Trainer trainer(model, train_data, &test_data, recipe);
  std::printf("training %s: %lld parameters, %lld training / %lld test images, %lld steps per epoch, epochs %lld..%lld\n",
              title.c_str(), static_cast<long long>(model.graph.parameter_count()), static_cast<long long>(train_data.size()),
              static_cast<long long>(test_data.size()), static_cast<long long>(trainer.steps_per_epoch()),
              static_cast<long long>(model.training->epoch + 1), static_cast<long long>(recipe.epochs));
  std::printf("sgd lr %g momentum %g%s weight decay %g, schedule %s, warm-up %g epochs, batch %lld, seed %llu; "
              "normalization mean %.6f std %.6f\n",
              recipe.sgd.lr, recipe.sgd.momentum, recipe.sgd.nesterov ? " (nesterov)" : "", recipe.sgd.weight_decay,
              recipe.schedule.c_str(), recipe.warmup_epochs, static_cast<long long>(recipe.batch),
              static_cast<unsigned long long>(recipe.seed), trainer.normalization().mean, trainer.normalization().std);
  std::fflush(stdout);

  ProgressReporter progress(std::cerr, stderr_is_terminal());
  trainer.run([&](const train::BatchProgress& p) { progress.batch(p); },
              [&](const train::EpochMetrics& m, const Model& current) {
                progress.end_epoch();
                save(current, checkpoint);
                write_file_atomically(metrics + ".csv", train::metrics_csv(trainer.history()));
                write_file_atomically(metrics + ".svg", train::metrics_svg(trainer.history(), title));
                std::printf("%s\n", format_epoch(m, recipe.epochs).c_str());
                std::fflush(stdout);
              });
  save(model, out);
  std::printf("saved %s (checkpoint %s, metrics %s.csv and %s.svg)\n", out.c_str(), checkpoint.c_str(), metrics.c_str(),
              metrics.c_str());
  return kExitOk;
}

}  // namespace dagrad::cli
