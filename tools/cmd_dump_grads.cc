// dagrad dump-grads: one forward and backward pass on a batch (from a dataset, random, or tensor
// files given as --input NAME=FILE), then statistics of every parameter's gradient (and, with
// --activations, every intermediate value). A classifier without a loss (an imported .onnx model)
// gets the input "label" and a mean softmax cross-entropy loss on its [N, classes] output.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "autodiff/grad.h"
#include "autodiff/gradcheck.h"
#include "interop/onnx.h"
#include "graph/analysis.h"
#include "models/signature.h"
#include "proto/model_file.h"
#include "proto/npy.h"
#include "runtime/memory.h"
#include "runtime/runtime.h"
#include "tools/output_check.h"
#include "tools/model_source.h"
#include "tools/tensor_files.h"
#include "train/data.h"

namespace dagrad::cli {

int run_dump_grads(const std::vector<std::string>& args) {
  po::options_description options("options");
  po::positional_options_description positional;
  add_model_file_positional(options, positional);
  add_model_source_options(options, 8);
  options.add_options()("data-dir", po::value<std::string>()->default_value(train::kDefaultDataDir), "MNIST-family folder")(
      kSplitFlag, po::value<std::string>()->default_value("train"), "train | test")(
      "batch-index", po::value<std::int64_t>()->default_value(0), "which batch of the split (in file order)")(
      "random", "random images and labels (seeded by --seed) instead of --data-dir")(
      "activations", "also every intermediate value of the forward pass")(
      "out", po::value<std::string>(), "write each tensor as NumPy .npy into this folder, with index.json")(
      "format", po::value<std::string>()->default_value("text"), "text | json")(
      "threads", po::value<int>()->default_value(0), "worker threads (0: all cores)")(
      "ignore-memory-check", po::bool_switch(), "run even if the pass needs more memory than is available");
  add_input_files_option(options);
  po::variables_map vm;
  if (!parse("dump-grads",
             "FILE | --model NAME [--data-dir DIR --batch N --batch-index I | --random --seed S | --input NAME=FILE ...]\n"
             "       [--activations] [--out DIR] [--format text|json]\n\n"
             "--input feeds every graph input from an .npy or ONNX TensorProto .pb file (image and label of a classifier);\n"
             "without --batch an .onnx FILE then runs at the batch of the first input. --out DIR gets grad_<parameter>.npy\n"
             "(and value_<name>.npy with --activations; names with characters other than letters, digits, '.', '-', '_'\n"
             "have them replaced by '_') and index.json mapping \"grad:<parameter>\" / \"value:<name>\" to the file.",
             options, positional, args, vm))
    return kExitOk;
  const std::vector<InputFile> input_flags = input_files(vm);
  if (!input_flags.empty() && vm.count("random")) throw UsageError("give --input or --random, not both");
  const std::string format = vm["format"].as<std::string>();
  require_one_of("format", format, {"text", "json"});
  require_one_of(kSplitFlag, vm[kSplitFlag].as<std::string>(), {"test", "train"});
  const std::int64_t batch_index = int_at_least(vm, "batch-index", 0);
  const int threads = threads_option(vm);
  // The output folder is made and tried before any work, so a bad --out fails in a second.
  if (vm.count("out")) {
    const std::filesystem::path out = vm["out"].as<std::string>();
    std::error_code ec;
    if (std::filesystem::exists(out, ec) && !std::filesystem::is_directory(out, ec))
      fail("--out '", out.string(), "' is a file, not a folder");
    std::filesystem::create_directories(out, ec);
    if (ec) fail("--out '", out.string(), "': cannot create the folder: ", ec.message());
    check_output_writable((out / "index.json").string(), "--out");
  }
  TensorMap given = read_input_files(input_flags);
  // An .onnx file's symbolic batch (and a zoo model's) follows the inputs unless --batch is given.
  const bool dagrad_file = vm.count("file") && !interop::is_onnx_path(vm["file"].as<std::string>());
  if (!input_flags.empty() && vm["batch"].defaulted() && !dagrad_file)
    if (auto batch = batch_of(input_flags, given)) {
      vm.erase("batch");
      vm.insert({"batch", po::variable_value(*batch, false)});
    }
  Model model = load_model_source(vm, true, true);
  const Graph& g = model.graph;
  if (g.loss() == kNoValue) fail("model '", model_source_label(vm), "' has no loss to differentiate");
  // Given inputs need no classifier roles; a dataset or random batch does.
  const models::ModelSignature sig = input_flags.empty() ? models::ModelSignature::of(g) : models::ModelSignature::find(g);
  // The batch the graph takes: --batch, or a FILE's own when --batch is not given.
  const std::int64_t batch = sig.image != kNoValue ? sig.batch(g) : 0;

  autodiff::Gradients grads = autodiff::grad_parameters(g);
  std::vector<std::pair<std::string, ValueId>> rows;  // label, value
  for (auto [wrt, grad] : grads.graph.gradients()) rows.emplace_back(grads.graph.value(wrt).name, grad);
  if (vm.count("activations"))
    for (const Node& node : g.nodes())
      for (ValueId out : node.outputs)
        if (is_float(g.value(out).type.dtype)) rows.emplace_back(g.value(out).name, out);
  std::vector<ValueId> fetch{grads.loss};
  for (const auto& row : rows) fetch.push_back(row.second);
  runtime::Plan plan = runtime::compile(grads.graph, {.threads = threads}, fetch);
  if (!input_flags.empty()) check_inputs_against(grads.graph, given, plan.feeds());
  if (!vm["ignore-memory-check"].as<bool>()) {
    // Counted: the plan's peak (intermediates under liveness, fetched gradients and values
    // included), the parameters and state it reads, and the batch it is fed. Checked before
    // the batch is made, since at a huge --batch the batch alone may not fit.
    std::int64_t needed = plan.peak_bytes();
    for (const TensorMap* map : {&model.parameters, &model.state})
      for (const auto& [name, t] : *map) needed += static_cast<std::int64_t>(t.nbytes());
    for (ValueId id : g.values_of_kind(ValueKind::input)) needed += byte_count(g.value(id).type.shape, g.value(id).type.dtype);
    runtime::check_memory_fits(needed, "dump-grads of '" + model_source_label(vm) + "' with --batch " + std::to_string(batch));
  }
  TensorMap inputs;
  if (!input_flags.empty()) {
    inputs = std::move(given);
  } else if (vm.count("random")) {
    inputs = autodiff::random_inputs(g, vm["seed"].as<std::uint64_t>(), sig.classes(g));
  } else {
    auto train_split = train::load_mnist_split(vm["data-dir"].as<std::string>(), "train");
    auto split = vm[kSplitFlag].as<std::string>() == "train" ? nullptr : train::load_mnist_split(vm["data-dir"].as<std::string>(), vm[kSplitFlag].as<std::string>());
    const train::Dataset& data = split ? *split : *train_split;
    const std::int64_t index = batch_index;
    if (index >= data.size() / batch)
      throw UsageError("--batch-index " + std::to_string(index) + " with --batch " + std::to_string(batch) + " is past the " +
                       std::to_string(data.size()) + " samples of the split");
    std::vector<std::int64_t> order(static_cast<std::size_t>(batch));
    for (std::int64_t i = 0; i < batch; ++i) order[i] = index * batch + i;
    train::BatchLoader loader(data, order, batch, train::compute_normalization(*train_split), g.value(sig.image).type.dtype);
    train::Batch b = loader.make(0);
    inputs.emplace(g.value(sig.image).name, std::move(b.images));
    inputs.emplace(g.value(sig.label).name, std::move(b.labels));
  }

  runtime::RunResult result = runtime::run(plan, runtime::feeds_from({&inputs, &model.parameters, &model.state}));

  nlohmann::json report = nlohmann::json::array();
  double loss = result.at(grads.loss).at(0);
  if (format == "text") {
    std::printf("loss %.6g\n%-7s %-44s %-18s %12s %12s %12s %12s %12s %7s %5s\n", loss, "kind", "name", "shape", "l2_norm", "mean", "min",
                "max", "abs_max", "zeros", "nan/inf");
  }
  std::size_t gradient_rows = grads.graph.gradients().size();
  nlohmann::json index = nlohmann::json::object();
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& [name, id] = rows[i];
    const Tensor& t = result.at(id);
    TensorStats s = tensor_stats(t);
    const char* kind = i < gradient_rows ? "grad" : "value";
    if (format == "text") {
      std::printf("%-7s %-44s %-18s %12.5g %12.5g %12.5g %12.5g %12.5g %7.4f %5lld\n", kind, name.c_str(), to_string(t.shape()).c_str(), s.l2_norm,
                  s.mean, s.min, s.max, s.abs_max, s.zero_fraction, static_cast<long long>(s.nan_count + s.inf_count));
    } else {
      report.push_back({{"kind", kind}, {"name", name}, {"shape", t.shape()}, {"l2_norm", s.l2_norm}, {"mean", s.mean}, {"min", s.min},
                        {"max", s.max}, {"abs_max", s.abs_max}, {"zero_fraction", s.zero_fraction}, {"nan", s.nan_count}, {"inf", s.inf_count}});
    }
    if (vm.count("out")) {
      std::string file = std::string(kind) + "_" + file_stem_for(name) + ".npy";
      save_npy(t, (std::filesystem::path(vm["out"].as<std::string>()) / file).string());
      index[std::string(kind) + ":" + name] = file;
    }
  }
  if (vm.count("out"))
    write_file_atomically((std::filesystem::path(vm["out"].as<std::string>()) / "index.json").string(), index.dump(2) + "\n");
  if (format == "json") std::cout << nlohmann::json{{"loss", loss}, {"tensors", report}}.dump(2) << "\n";
  return kExitOk;
}

}  // namespace dagrad::cli
